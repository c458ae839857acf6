package ratelimit

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
)

// TestBuckets: a key spends its burst, then waits for the refill; keys do
// not share tokens; Empty looks without taking; Charge goes into debt.
func TestBuckets(t *testing.T) {
	b := NewBuckets(2, 3) // 2 a second, 3 at once
	now := time.Unix(1_700_000_000, 0)
	for i := range 3 {
		if ok, _ := b.Take("a", now); !ok {
			t.Fatalf("take %d of the burst refused", i)
		}
	}
	ok, wait := b.Take("a", now)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("take past the burst: %v %s, want refused with 500ms", ok, wait)
	}
	if ok, _ := b.Take("b", now); !ok {
		t.Fatal("another key shares a's bucket")
	}
	if empty, _ := b.Empty("a", now.Add(500*time.Millisecond)); empty {
		t.Fatal("a's bucket is empty after its refill time")
	}
	if empty, _ := b.Empty("c", now); empty {
		t.Fatal("Empty of a new key says empty")
	}
	for range 4 {
		b.Charge("c", now)
	}
	if empty, wait := b.Empty("c", now); !empty || wait != time.Second {
		t.Fatalf("after 4 charges on a burst of 3: empty %v, wait %s, want 1s of debt", empty, wait)
	}
}

// TestBucketsSweep: idle buckets, full again, are dropped; so are all
// when there are too many keys.
func TestBucketsSweep(t *testing.T) {
	b := PerMinute(5)
	now := time.Unix(1_700_000_000, 0)
	b.Take("old", now)
	b.Take("new", now.Add(5*time.Minute))
	b.Take("x", now.Add(6*time.Minute+time.Second)) // a minute after the last sweep: sweeps
	if _, ok := b.buckets["old"]; ok {
		t.Error("a bucket idle for over 6 minutes is kept")
	}
	if _, ok := b.buckets["new"]; !ok {
		t.Error("a bucket used a minute ago was dropped")
	}
}

// TestFailuresHammer: failures added at once from many goroutines (as
// from many replicas) are each counted, and lock the key at the limit.
func TestFailuresHammer(t *testing.T) {
	ctx := context.Background()
	kv := memory.New()
	f := NewFailures(store.NewSpace(kv, "test-failures"), 40, time.Minute)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if err := f.Add(ctx, "k"); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	raw, err := kv.Get(ctx, "test-failures/k")
	if n, _ := strconv.Atoi(string(raw)); err != nil || n != 40 {
		t.Fatalf("count %d (%v), want 40", n, err)
	}
	if locked, err := f.Locked(ctx, "k"); err != nil || !locked {
		t.Errorf("40 failures of 40: locked %v %v", locked, err)
	}
	if locked, err := f.Locked(ctx, "other"); err != nil || locked {
		t.Errorf("a key without failures: locked %v %v", locked, err)
	}
}

// TestFailuresWindow: the window starts with the first failure; after it
// the key is free and counts from zero.
func TestFailuresWindow(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	f := NewFailures(store.NewSpace(memory.New(), "w"), 2, time.Minute)
	f.now = func() time.Time { return now.Add(-time.Minute - time.Second) } // the first failure, a window ago
	if err := f.Add(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	f.now = time.Now
	if err := f.Add(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if locked, _ := f.Locked(ctx, "k"); locked {
		t.Error("a failure outside the window still counts")
	}
}
