package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/core/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t *testing.T, opts Options) *KV {
	t.Helper()
	kv, err := Open(context.Background(), pgtest.NewDatabase(t), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = kv.Close() })
	return kv
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.KV { return open(t, Options{MaxConns: 4}) })
}

func count(t *testing.T, kv *KV) int {
	t.Helper()
	var n int
	if err := kv.pool.QueryRow(context.Background(), `SELECT count(*) FROM gatehouse_kv`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSweep: the sweep deletes expired rows in bounded batches and leaves
// live ones, and reads never saw the expired ones before it.
func TestSweep(t *testing.T) {
	ctx := context.Background()
	kv := open(t, Options{SweepInterval: time.Hour, SweepBatch: 7})
	now := time.Now()
	for i := range 30 {
		if err := kv.Put(ctx, fmt.Sprintf("dead/%02d", i), []byte("v"), now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"live/forever", "live/later"} {
		exp := time.Time{}
		if k == "live/later" {
			exp = now.Add(time.Hour)
		}
		if err := kv.Put(ctx, k, []byte("v"), exp); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kv.Get(ctx, "dead/00"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of an expired, unswept entry = %v, want ErrNotFound", err)
	}
	if n := count(t, kv); n != 32 {
		t.Fatalf("%d rows before the sweep, want 32", n)
	}
	n, err := kv.sweep(ctx)
	if err != nil || n != 30 {
		t.Fatalf("sweep = %d, %v; want 30 deleted", n, err)
	}
	if n := count(t, kv); n != 2 {
		t.Fatalf("%d rows after the sweep, want the 2 live ones", n)
	}

	// One round is bounded: 7 × sweepBatchesPerRound, the rest next time.
	for i := range 7*sweepBatchesPerRound + 5 {
		if err := kv.Put(ctx, fmt.Sprintf("dead/%04d", i), nil, now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := kv.sweep(ctx); err != nil || n != 7*sweepBatchesPerRound {
		t.Fatalf("first round = %d, %v; want %d", n, err, 7*sweepBatchesPerRound)
	}
	if n, err := kv.sweep(ctx); err != nil || n != 5 {
		t.Fatalf("second round = %d, %v; want 5", n, err)
	}
}

// TestNextSweep: a round that reached its bound is followed by another a
// second later (or at the interval, if shorter); any other after the
// interval.
func TestNextSweep(t *testing.T) {
	for _, tc := range []struct {
		interval time.Duration
		n, round int64
		want     time.Duration
	}{
		{time.Minute, 10000, 10000, time.Second},
		{time.Minute, 9999, 10000, time.Minute},
		{time.Minute, 0, 10000, time.Minute},
		{20 * time.Millisecond, 140, 140, 20 * time.Millisecond},
	} {
		if got := nextSweep(tc.interval, tc.n, tc.round); got != tc.want {
			t.Errorf("nextSweep(%v, %d, %d) = %v, want %v", tc.interval, tc.n, tc.round, got, tc.want)
		}
	}
}

// TestSweeperRunsAndStops: the background sweeper deletes expired rows by
// itself, and Close returns only once it has stopped.
func TestSweeperRunsAndStops(t *testing.T) {
	ctx := context.Background()
	kv := open(t, Options{SweepInterval: 20 * time.Millisecond})
	if err := kv.Put(ctx, "dead", []byte("v"), time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for count(t, kv) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not delete the expired row within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := kv.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-kv.swept:
	default:
		t.Fatal("Close returned with the sweeper running")
	}
}

// TestMigrate: migrating again, and from several processes at once,
// applies each migration once; a schema newer than the release is refused.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	var wg sync.WaitGroup
	var applied atomic.Int64
	for range 4 {
		wg.Go(func() {
			pool, err := NewPool(ctx, dsn, Options{})
			if err != nil {
				t.Error(err)
				return
			}
			defer pool.Close()
			vs, err := Migrate(ctx, pool)
			if err != nil {
				t.Errorf("Migrate: %v", err)
			}
			applied.Add(int64(len(vs)))
		})
	}
	wg.Wait()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if applied.Load() != int64(len(ms)) {
		t.Fatalf("concurrent migrations applied %d in all, want each of the %d once", applied.Load(), len(ms))
	}
	pool, err := NewPool(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if vs, err := Migrate(ctx, pool); err != nil || len(vs) != 0 {
		t.Fatalf("Migrate again = %v, %v; want nothing to do", vs, err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO gatehouse_migrations (version, name) VALUES ($1, 'future')`, len(ms)+1); err != nil {
		t.Fatal(err)
	}
	if _, err := Migrate(ctx, pool); err == nil || !strings.Contains(err.Error(), "newer than this release") {
		t.Fatalf("Migrate of a newer schema = %v, want it refused", err)
	}
}

// TestUnreachable: a database that does not answer is ErrUnavailable, at
// Open and on a call after it went away.
func TestUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := Open(ctx, "host="+t.TempDir()+" port=5432 user=nobody dbname=none connect_timeout=5", Options{})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open of a missing server = %v, want ErrUnavailable", err)
	}
	kv := open(t, Options{})
	kv.pool.Close() // as if the database had gone
	if _, err := kv.Get(ctx, "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Get on a closed pool = %v, want ErrUnavailable", err)
	}
	if err := kv.Apply(ctx, store.CreateWrite("k", nil, time.Time{})); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Apply on a closed pool = %v, want ErrUnavailable", err)
	}
}

// TestScanBytewise: keys are bytes in Go's string order, including bytes
// over 0x7f and prefixes ending in 0xff (whose range has no simple end).
func TestScanBytewise(t *testing.T) {
	ctx := context.Background()
	kv := open(t, Options{})
	for _, k := range []string{"p\xff\xff", "p\xff\xff/a", "p\xff\xff\x00", "p\xfe", "q", "p\xff\xfe\xff", "\xff"} {
		if err := kv.Put(ctx, k, []byte(k), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	scan := func(prefix string) []string {
		var keys []string
		if err := kv.Scan(ctx, prefix, func(k string, v []byte) error {
			if string(v) != k {
				t.Errorf("value at %q = %q", k, v)
			}
			keys = append(keys, k)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return keys
	}
	if got, want := scan("p\xff\xff"), []string{"p\xff\xff", "p\xff\xff\x00", "p\xff\xff/a"}; !slices.Equal(got, want) {
		t.Errorf("Scan(p\\xff\\xff) = %q, want %q", got, want)
	}
	if got, want := scan("p\xff"), []string{"p\xff\xfe\xff", "p\xff\xff", "p\xff\xff\x00", "p\xff\xff/a"}; !slices.Equal(got, want) {
		t.Errorf("Scan(p\\xff) = %q, want %q", got, want)
	}
	if got, want := scan(""), []string{"p\xfe", "p\xff\xfe\xff", "p\xff\xff", "p\xff\xff\x00", "p\xff\xff/a", "q", "\xff"}; !slices.Equal(got, want) {
		t.Errorf("Scan(\"\") = %q, want %q", got, want)
	}
}

// TestApplyExpected: the one-round-trip batch commits whole when every row
// is as expected, and writes nothing (errChanged, for the locked
// transaction to answer) when an update's row changed or a create's key
// is taken.
func TestApplyExpected(t *testing.T) {
	ctx := context.Background()
	kv := open(t, Options{})
	if err := kv.Put(ctx, "counter", []byte("0"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	bump := func(from string) store.Write {
		return store.UpdateWriteFrom("counter", []byte(from), func(old []byte) ([]byte, error) { return append(old, '+'), nil })
	}
	get := func(key string) string {
		v, err := kv.Get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			return "(missing)"
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(v)
	}
	if err := kv.applyExpected(ctx, []store.Write{bump("0"), store.CreateWrite("a", []byte("a"), time.Time{})}); err != nil {
		t.Fatalf("applyExpected with every row as expected: %v", err)
	}
	for _, tc := range []struct {
		name   string
		writes []store.Write
	}{
		{"stale update", []store.Write{store.CreateWrite("b", []byte("b"), time.Time{}), bump("0")}},
		{"create of a taken key", []store.Write{bump("0+"), store.CreateWrite("b", []byte("b"), time.Time{}), store.CreateWrite("a", []byte("x"), time.Time{})}},
	} {
		if err := kv.applyExpected(ctx, tc.writes); !errors.Is(err, errChanged) {
			t.Fatalf("%s: applyExpected = %v, want errChanged", tc.name, err)
		}
	}
	if c, a, b := get("counter"), get("a"), get("b"); c != "0+" || a != "a" || b != "(missing)" {
		t.Fatalf("counter %q, a %q, b %q; want 0+, a and (missing)", c, a, b)
	}
}

// TestGetMany: one statement reads the live values of the keys asked, in
// their order; a missing or expired key is nil, an empty value empty.
func TestGetMany(t *testing.T) {
	ctx := context.Background()
	kv := open(t, Options{})
	for key, expires := range map[string]time.Time{"live": {}, "expired": time.Now().Add(-time.Hour)} {
		if err := kv.Put(ctx, key, []byte(key), expires); err != nil {
			t.Fatal(err)
		}
	}
	if err := kv.Put(ctx, "empty", nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	got, err := kv.GetMany(ctx, []string{"missing", "empty", "expired", "live"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[0] != nil || got[1] == nil || len(got[1]) != 0 || got[2] != nil || string(got[3]) != "live" {
		t.Fatalf("GetMany = %q, want [nil, empty, nil, live]", got)
	}
}
