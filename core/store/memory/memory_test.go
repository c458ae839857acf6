package memory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"testing"

	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.KV {
		kv := New()
		t.Cleanup(func() { _ = kv.Close() })
		return kv
	})
}

// TestSweepDropsExpired: expired entries are dropped after sweepEvery
// writes even if nobody reads them again.
func TestSweepDropsExpired(t *testing.T) {
	ctx := context.Background()
	kv := New()
	now := time.Unix(1_700_000_000, 0)
	kv.now = func() time.Time { return now }

	for i := range 500 {
		if err := kv.Put(ctx, fmt.Sprintf("short/%d", i), []byte("v"), now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		if err := kv.Put(ctx, fmt.Sprintf("long/%d", i), []byte("v"), now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := kv.Create(ctx, fmt.Sprintf("forever/%d", i), []byte("v"), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(2 * time.Minute) // the short entries have expired
	if n := kv.size(); n != 520 {
		t.Fatalf("before the sweep: %d entries, want 520 (expired ones still held)", n)
	}
	// Writes up to the sweep: 520 so far, so 503 more leave one to go.
	if err := kv.Put(ctx, "churn", []byte("0"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	for range sweepEvery - 520 - 2 {
		if err := kv.Update(ctx, "churn", func(old []byte) ([]byte, error) { return old, nil }); err != nil {
			t.Fatal(err)
		}
	}
	if n := kv.size(); n != 521 {
		t.Fatalf("one write before the sweep: %d entries, want 521", n)
	}
	if err := kv.Put(ctx, "last", []byte("v"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if n := kv.size(); n != 22 {
		t.Fatalf("after the sweep: %d entries, want 22 (10 long, 10 forever, churn, last)", n)
	}
	// What was live is untouched.
	for _, key := range []string{"long/3", "forever/9", "churn", "last"} {
		if _, err := kv.Get(ctx, key); err != nil {
			t.Errorf("Get(%s) after the sweep: %v", key, err)
		}
	}
	if _, err := kv.Get(ctx, "short/0"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(short/0) = %v, want ErrNotFound", err)
	}
}

// TestSweepBoundsGrowth: a long run of short-lived writes keeps the map
// near the number of live entries, not the number ever written.
func TestSweepBoundsGrowth(t *testing.T) {
	ctx := context.Background()
	kv := New()
	now := time.Unix(1_700_000_000, 0)
	kv.now = func() time.Time { return now }
	for i := range 20 * sweepEvery {
		now = now.Add(time.Second)
		if err := kv.Create(ctx, fmt.Sprintf("code/%d", i), []byte("v"), now.Add(10*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if n := kv.size(); n > sweepEvery+10 {
		t.Fatalf("%d entries held after %d writes with 10 live at a time", n, 20*sweepEvery)
	}
}

func (m *KV) size() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.entries)
}
