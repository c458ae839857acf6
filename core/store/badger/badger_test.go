package badger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	bdg "github.com/dgraph-io/badger/v4"

	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/storetest"
)

func open(t *testing.T, dir string, opts Options) *KV {
	t.Helper()
	kv, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := kv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return kv
}

// markOf is kv's marker as last written, read as Close and the checkpoints
// write it: a test that runs past checkpointEvery runs alongside one.
func markOf(kv *KV) marker {
	kv.markMu.Lock()
	defer kv.markMu.Unlock()
	return kv.mark
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.KV { return open(t, t.TempDir(), Options{}) })
}

func TestConformanceSyncWrites(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.KV { return open(t, t.TempDir(), Options{SyncWrites: true}) })
}

// TestReopenKeepsData: what was acknowledged is there after Close and Open
// of the same directory, expiries included.
func TestReopenKeepsData(t *testing.T) {
	for _, syncWrites := range []bool{false, true} {
		t.Run(fmt.Sprintf("SyncWrites=%v", syncWrites), func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			kv, err := Open(dir, Options{SyncWrites: syncWrites})
			if err != nil {
				t.Fatal(err)
			}
			st := store.New(kv)
			client := store.Client{ID: "c1", ClientMetadata: store.ClientMetadata{ClientName: "durable"}}
			if err := st.Clients.Create(ctx, "c1", client); err != nil {
				t.Fatal(err)
			}
			if err := kv.Put(ctx, "expiring", []byte("soon"), time.Now().Add(2*time.Second)); err != nil {
				t.Fatal(err)
			}
			if err := kv.Put(ctx, "deleted", []byte("x"), time.Time{}); err != nil {
				t.Fatal(err)
			}
			if err := kv.Delete(ctx, "deleted"); err != nil {
				t.Fatal(err)
			}
			for i := range 100 {
				if err := kv.Create(ctx, fmt.Sprintf("bulk/%03d", i), []byte(strconv.Itoa(i)), time.Time{}); err != nil {
					t.Fatal(err)
				}
			}
			if err := kv.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := kv.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}

			kv = open(t, dir, Options{SyncWrites: syncWrites})
			st = store.New(kv)
			got, err := st.Clients.Get(ctx, "c1")
			if err != nil || got.ClientName != "durable" {
				t.Fatalf("client after reopen = %+v, %v", got, err)
			}
			if _, err := kv.Get(ctx, "deleted"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("deleted entry after reopen: %v", err)
			}
			n := 0
			err = kv.Scan(ctx, "bulk/", func(key string, value []byte) error {
				if want := fmt.Sprintf("bulk/%03d", n); key != want || string(value) != strconv.Itoa(n) {
					return fmt.Errorf("entry %d is %s=%s", n, key, value)
				}
				n++
				return nil
			})
			if err != nil || n != 100 {
				t.Fatalf("Scan after reopen: %d entries, %v", n, err)
			}
			// The expiry survived too: the entry goes away on time.
			deadline := time.Now().Add(6 * time.Second)
			for {
				_, err := kv.Get(ctx, "expiring")
				if errors.Is(err, store.ErrNotFound) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if time.Now().After(deadline) {
					t.Fatal("expiring entry outlived its expiry across a reopen")
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// TestOpenLockedDirectory: a second process (or Open) on the same
// directory is refused rather than corrupting it.
func TestOpenLockedDirectory(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, Options{})
	if kv, err := Open(dir, Options{}); err == nil {
		_ = kv.Close()
		t.Fatal("second Open of a directory in use succeeded")
	}
}

// TestUpdateRetriesOnConflict: a Put that lands between Update's read and
// its commit makes Badger refuse the commit; Update must run fn again on
// the new value instead of overwriting it (compare-and-swap).
func TestUpdateRetriesOnConflict(t *testing.T) {
	ctx := context.Background()
	kv := open(t, t.TempDir(), Options{})
	if err := kv.Put(ctx, "k", []byte("1"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	err := kv.Update(ctx, "k", func(old []byte) ([]byte, error) {
		seen = append(seen, string(old))
		if len(seen) == 1 {
			// Another writer changes the entry while this txn is open.
			done := make(chan error)
			go func() { done <- kv.Put(ctx, "k", []byte("10"), time.Time{}) }()
			if err := <-done; err != nil {
				return nil, err
			}
		}
		n, _ := strconv.Atoi(string(old))
		return []byte(strconv.Itoa(n + 1)), nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if fmt.Sprint(seen) != "[1 10]" {
		t.Fatalf("fn saw %v, want [1 10] (a retry on the concurrent write)", seen)
	}
	got, err := kv.Get(ctx, "k")
	if err != nil || string(got) != "11" {
		t.Fatalf("Get = %s, %v; want 11", got, err)
	}
}

func TestExpiresAtSeconds(t *testing.T) {
	tests := []struct {
		in   time.Time
		want uint64
	}{
		{time.Unix(1_700_000_000, 999_999_999), 1_700_000_000},
		{time.Unix(1_700_000_000, 0), 1_700_000_000},
		{time.Unix(0, 0), 1},
		{time.Unix(-5, 0), 1},
		{time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), 1},
	}
	for _, tc := range tests {
		if got := expiresAtSeconds(tc.in); got != tc.want {
			t.Errorf("expiresAtSeconds(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestClosedIsUnavailable: a call on a closed database (a request racing
// shutdown) is store.ErrUnavailable, answered 503, not a 500.
func TestClosedIsUnavailable(t *testing.T) {
	ctx := context.Background()
	kv, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Close(); err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"Get":    func() error { _, err := kv.Get(ctx, "k"); return err },
		"Put":    func() error { return kv.Put(ctx, "k", []byte("v"), time.Time{}) },
		"Create": func() error { return kv.Create(ctx, "k", []byte("v"), time.Time{}) },
		"Delete": func() error { return kv.Delete(ctx, "k") },
		"Scan":   func() error { return kv.Scan(ctx, "", func(string, []byte) error { return nil }) },
	} {
		if err := call(); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s after Close = %v, want store.ErrUnavailable", name, err)
		}
	}
}

// TestSettle: after a bulk write and its Close, SettleDir leaves no
// compaction due for the next Open.
func TestSettle(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	kv, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	value := []byte(strings.Repeat("v", 1000))
	for i := range 200 {
		writes := make([]store.Write, 0, 100)
		for j := range 100 {
			writes = append(writes, store.Write{Op: store.OpCreate, Key: fmt.Sprintf("k/%03d/%03d", i, j), Value: value})
		}
		if err := kv.Apply(ctx, writes...); err != nil {
			t.Fatal(err)
		}
	}
	if settled(kv.db.Levels()) {
		t.Log("no compaction was due right after the writes")
	}
	if err := kv.Close(); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := SettleDir(sctx, dir, Options{}); err != nil {
		t.Fatal(err)
	}
	// Badger's compactors start with Open: look before they could act.
	db, err := bdg.Open(badgerOptions(dir, Options{}).WithNumCompactors(0))
	if err != nil {
		t.Fatal(err)
	}
	if !settled(db.Levels()) {
		_ = db.Close()
		t.Fatalf("compaction due after SettleDir:\n%s", db.LevelsToString())
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// And the directory still opens as the installation it was.
	open(t, dir, Options{})
	if settled([]bdg.LevelInfo{{Level: 0, Score: 0.5}, {Level: 6, Score: 1.2}}) {
		t.Error("settled with a level over its target")
	}
}
