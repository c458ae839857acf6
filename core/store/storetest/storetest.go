// Package storetest is the conformance suite every store.KV backend passes
// before it is used: the same tests run against Badger and the memory
// backend, so that endpoints behave the same on either.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

// Run runs the conformance suite. newKV returns a fresh, empty backend for
// each subtest and arranges its own Close with t.Cleanup.
//
// Backends may round expiry to whole seconds (Badger does), so the suite
// never waits for an expiry shorter than a couple of seconds and polls for
// it with a bounded loop instead of sleeping a fixed time.
func Run(t *testing.T, newKV func(t *testing.T) store.KV) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, kv store.KV)
	}{
		{"GetMissing", testGetMissing},
		{"EmptyKey", testEmptyKey},
		{"CreateThenGet", testCreateThenGet},
		{"CreateConflict", testCreateConflict},
		{"CreateOverExpired", testCreateOverExpired},
		{"PutOverwrites", testPutOverwrites},
		{"PastExpiryIsGone", testPastExpiryIsGone},
		{"ExpiryInFuture", testExpiryInFuture},
		{"UpdateReplaces", testUpdateReplaces},
		{"UpdateKeepsExpiry", testUpdateKeepsExpiry},
		{"UpdateFnErrorWritesNothing", testUpdateFnError},
		{"UpdateMissing", testUpdateMissing},
		{"UpdateExpired", testUpdateExpired},
		{"DeleteMissing", testDeleteMissing},
		{"DeleteRemoves", testDeleteRemoves},
		{"ScanPrefixInOrder", testScanPrefixInOrder},
		{"ScanStopsOnError", testScanStopsOnError},
		{"ScanSkipsExpired", testScanSkipsExpired},
		{"ScanHonoursContext", testScanHonoursContext},
		{"ScanCallbackMayWrite", testScanCallbackMayWrite},
		{"ScanPagePages", testScanPagePages},
		{"ScanPageBoundaries", testScanPageBoundaries},
		{"ScanPageSkipsExpired", testScanPageSkipsExpired},
		{"ScanPageExpiry", testScanPageExpiry},
		{"ScanPageRefusesBadLimit", testScanPageRefusesBadLimit},
		{"ValuesAreCopies", testValuesAreCopies},
		{"EmptyValue", testEmptyValue},
		{"LargeValues", testLargeValues},
		{"UpdateHammer", testUpdateHammer},
		{"CreateRace", testCreateRace},
		{"ApplyCommitsAll", testApplyCommitsAll},
		{"ApplyAllOrNothing", testApplyAllOrNothing},
		{"ApplyRefusesBadBatch", testApplyRefusesBadBatch},
		{"ApplyRace", testApplyRace},
		{"ApplyExpected", testApplyExpected},
		{"ApplyExpectedAllOrNothing", testApplyExpectedAllOrNothing},
		{"ApplyExpectedRace", testApplyExpectedRace},
		{"CollectionUpdateWriteFrom", testCollectionUpdateWriteFrom},
		{"Collection", testCollection},
		{"CollectionList", testCollectionList},
		{"CollectionListPage", testCollectionListPage},
		{"CollectionExpiry", testCollectionExpiry},
		{"CollectionUpdateRenewing", testCollectionUpdateRenewing},
		{"StoreCollectionsAreSeparate", testStoreCollectionsAreSeparate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newKV(t))
		})
	}
}

// eventually polls cond every 50ms for up to limit, so that tests of
// expiry do not depend on a fixed sleep.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustGet(t *testing.T, kv store.KV, key, want string) {
	t.Helper()
	got, err := kv.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if string(got) != want {
		t.Fatalf("Get(%q) = %q, want %q", key, got, want)
	}
}

func mustBeMissing(t *testing.T, kv store.KV, key string) {
	t.Helper()
	if got, err := kv.Get(context.Background(), key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", key, got, err)
	}
}

func mustPut(t *testing.T, kv store.KV, key, value string, expiresAt time.Time) {
	t.Helper()
	if err := kv.Put(context.Background(), key, []byte(value), expiresAt); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func testGetMissing(t *testing.T, kv store.KV) {
	mustBeMissing(t, kv, "nothing/here")
	mustBeMissing(t, kv, "")
}

func testEmptyKey(t *testing.T, kv store.KV) {
	ctx := context.Background()
	if err := kv.Put(ctx, "", []byte("v"), time.Time{}); err == nil {
		t.Error("Put(\"\") succeeded, want an error")
	}
	if err := kv.Create(ctx, "", []byte("v"), time.Time{}); err == nil || errors.Is(err, store.ErrConflict) {
		t.Errorf("Create(\"\") = %v, want an error other than ErrConflict", err)
	}
	err := kv.Update(ctx, "", func([]byte) ([]byte, error) { return []byte("v"), nil })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Update(\"\") = %v, want ErrNotFound", err)
	}
	if err := kv.Delete(ctx, ""); err != nil {
		t.Errorf("Delete(\"\") = %v, want nil", err)
	}
	mustBeMissing(t, kv, "")
}

func testCreateThenGet(t *testing.T, kv store.KV) {
	ctx := context.Background()
	if err := kv.Create(ctx, "a/1", []byte("one"), time.Time{}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	mustGet(t, kv, "a/1", "one")
	mustBeMissing(t, kv, "a/2")
	mustBeMissing(t, kv, "a/")
}

func testCreateConflict(t *testing.T, kv store.KV) {
	ctx := context.Background()
	if err := kv.Create(ctx, "k", []byte("first"), time.Time{}); err != nil {
		t.Fatalf("first Create: %v", err)
	}
	err := kv.Create(ctx, "k", []byte("second"), time.Time{})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second Create = %v, want ErrConflict", err)
	}
	mustGet(t, kv, "k", "first")
	// An entry made by Put conflicts just the same.
	mustPut(t, kv, "p", "put", time.Now().Add(time.Hour))
	if err := kv.Create(ctx, "p", []byte("x"), time.Time{}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Create over Put = %v, want ErrConflict", err)
	}
}

func testCreateOverExpired(t *testing.T, kv store.KV) {
	ctx := context.Background()
	mustPut(t, kv, "k", "stale", time.Now().Add(-time.Hour))
	if err := kv.Create(ctx, "k", []byte("fresh"), time.Time{}); err != nil {
		t.Fatalf("Create over an expired entry: %v", err)
	}
	mustGet(t, kv, "k", "fresh")
}

func testPutOverwrites(t *testing.T, kv store.KV) {
	mustPut(t, kv, "k", "one", time.Time{})
	mustPut(t, kv, "k", "two", time.Time{})
	mustGet(t, kv, "k", "two")
	// Put also replaces the expiry: an entry put with a past expiry is gone.
	mustPut(t, kv, "k", "three", time.Now().Add(-time.Minute))
	mustBeMissing(t, kv, "k")
	// And an expiring entry put again without one lives on.
	mustPut(t, kv, "e", "short", time.Now().Add(time.Hour))
	mustPut(t, kv, "e", "forever", time.Time{})
	mustGet(t, kv, "e", "forever")
}

func testPastExpiryIsGone(t *testing.T, kv store.KV) {
	ctx := context.Background()
	for i, at := range []time.Time{
		time.Now().Add(-time.Hour),
		time.Now().Add(-2 * time.Second),
		time.Unix(1, 0),
	} {
		key := "past/" + strconv.Itoa(i)
		if err := kv.Create(ctx, key, []byte("v"), at); err != nil {
			t.Fatalf("Create(%s): %v", at, err)
		}
		mustBeMissing(t, kv, key)
	}
}

func testExpiryInFuture(t *testing.T, kv store.KV) {
	ctx := context.Background()
	if err := kv.Create(ctx, "soon", []byte("v"), time.Now().Add(2*time.Second)); err != nil {
		t.Fatalf("Create: %v", err)
	}
	mustPut(t, kv, "later", "v", time.Now().Add(time.Hour))
	mustGet(t, kv, "soon", "v")
	eventually(t, 6*time.Second, "entry with a 2s expiry is still there", func() bool {
		_, err := kv.Get(ctx, "soon")
		return errors.Is(err, store.ErrNotFound)
	})
	mustGet(t, kv, "later", "v")
}

func testUpdateReplaces(t *testing.T, kv store.KV) {
	ctx := context.Background()
	mustPut(t, kv, "k", "old", time.Time{})
	var seen []byte
	err := kv.Update(ctx, "k", func(old []byte) ([]byte, error) {
		seen = bytes.Clone(old)
		return []byte("new"), nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if string(seen) != "old" {
		t.Fatalf("fn saw %q, want %q", seen, "old")
	}
	mustGet(t, kv, "k", "new")
}

func testUpdateKeepsExpiry(t *testing.T, kv store.KV) {
	ctx := context.Background()
	mustPut(t, kv, "k", "v0", time.Now().Add(2*time.Second))
	mustPut(t, kv, "forever", "v0", time.Time{})
	for _, key := range []string{"k", "forever"} {
		if err := kv.Update(ctx, key, func([]byte) ([]byte, error) { return []byte("v1"), nil }); err != nil {
			t.Fatalf("Update(%s): %v", key, err)
		}
	}
	mustGet(t, kv, "k", "v1")
	eventually(t, 6*time.Second, "updated entry outlived its expiry", func() bool {
		_, err := kv.Get(ctx, "k")
		return errors.Is(err, store.ErrNotFound)
	})
	mustGet(t, kv, "forever", "v1")
}

func testUpdateFnError(t *testing.T, kv store.KV) {
	ctx := context.Background()
	mustPut(t, kv, "k", "kept", time.Time{})
	sentinel := errors.New("refused by fn")
	err := kv.Update(ctx, "k", func([]byte) ([]byte, error) { return []byte("written?"), sentinel })
	if err != sentinel {
		t.Fatalf("Update = %v, want fn's error unchanged", err)
	}
	mustGet(t, kv, "k", "kept")
	// A typed error from fn comes back as itself too.
	wantConflict := fmt.Errorf("already used: %w", store.ErrConflict)
	err = kv.Update(ctx, "k", func([]byte) ([]byte, error) { return nil, wantConflict })
	if err != wantConflict {
		t.Fatalf("Update = %v, want %v", err, wantConflict)
	}
	mustGet(t, kv, "k", "kept")
}

func testUpdateMissing(t *testing.T, kv store.KV) {
	called := false
	err := kv.Update(context.Background(), "missing", func([]byte) ([]byte, error) {
		called = true
		return []byte("x"), nil
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Update(missing) = %v, want ErrNotFound", err)
	}
	if called {
		t.Fatal("fn was called for a missing entry")
	}
	mustBeMissing(t, kv, "missing")
}

func testUpdateExpired(t *testing.T, kv store.KV) {
	mustPut(t, kv, "k", "stale", time.Now().Add(-time.Hour))
	err := kv.Update(context.Background(), "k", func([]byte) ([]byte, error) { return []byte("revived"), nil })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Update(expired) = %v, want ErrNotFound", err)
	}
	mustBeMissing(t, kv, "k")
}

func testDeleteMissing(t *testing.T, kv store.KV) {
	if err := kv.Delete(context.Background(), "never/was"); err != nil {
		t.Fatalf("Delete(missing) = %v, want nil", err)
	}
}

func testDeleteRemoves(t *testing.T, kv store.KV) {
	ctx := context.Background()
	mustPut(t, kv, "k", "v", time.Time{})
	mustPut(t, kv, "k2", "v", time.Time{})
	if err := kv.Delete(ctx, "k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	mustBeMissing(t, kv, "k")
	mustGet(t, kv, "k2", "v")
	if err := kv.Delete(ctx, "k"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	if err := kv.Create(ctx, "k", []byte("again"), time.Time{}); err != nil {
		t.Fatalf("Create after Delete: %v", err)
	}
	mustGet(t, kv, "k", "again")
}

type pair struct{ key, value string }

func scanAll(t *testing.T, kv store.KV, prefix string) []pair {
	t.Helper()
	var got []pair
	err := kv.Scan(context.Background(), prefix, func(key string, value []byte) error {
		got = append(got, pair{key, string(value)})
		return nil
	})
	if err != nil {
		t.Fatalf("Scan(%q): %v", prefix, err)
	}
	return got
}

func equalPairs(a, b []pair) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testScanPrefixInOrder(t *testing.T, kv store.KV) {
	// Written out of order, with neighbours on both sides of the prefix.
	for _, k := range []string{"user/c", "user/a", "userx/z", "use", "user/b/2", "user/b", "a", "z", "user/"} {
		mustPut(t, kv, k, "v:"+k, time.Time{})
	}
	want := []pair{
		{"user/", "v:user/"}, {"user/a", "v:user/a"}, {"user/b", "v:user/b"},
		{"user/b/2", "v:user/b/2"}, {"user/c", "v:user/c"},
	}
	if got := scanAll(t, kv, "user/"); !equalPairs(got, want) {
		t.Fatalf("Scan(user/) = %v, want %v", got, want)
	}
	if got := scanAll(t, kv, "nobody/"); len(got) != 0 {
		t.Fatalf("Scan(nobody/) = %v, want nothing", got)
	}
	all := scanAll(t, kv, "")
	if len(all) != 9 {
		t.Fatalf("Scan(\"\") returned %d entries, want 9: %v", len(all), all)
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].key >= all[i].key {
			t.Fatalf("Scan(\"\") out of order at %d: %v", i, all)
		}
	}
}

func testScanStopsOnError(t *testing.T, kv store.KV) {
	for i := range 5 {
		mustPut(t, kv, fmt.Sprintf("s/%d", i), "v", time.Time{})
	}
	stop := errors.New("stop here")
	var seen []string
	err := kv.Scan(context.Background(), "s/", func(key string, _ []byte) error {
		seen = append(seen, key)
		if key == "s/2" {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Scan = %v, want fn's error", err)
	}
	if want := []string{"s/0", "s/1", "s/2"}; fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("Scan visited %v, want %v", seen, want)
	}
}

func testScanSkipsExpired(t *testing.T, kv store.KV) {
	mustPut(t, kv, "x/1", "live", time.Time{})
	mustPut(t, kv, "x/2", "dead", time.Now().Add(-time.Hour))
	mustPut(t, kv, "x/3", "live", time.Now().Add(time.Hour))
	mustPut(t, kv, "x/4", "dead", time.Now().Add(-3*time.Second))
	want := []pair{{"x/1", "live"}, {"x/3", "live"}}
	if got := scanAll(t, kv, "x/"); !equalPairs(got, want) {
		t.Fatalf("Scan = %v, want %v", got, want)
	}
}

func testScanHonoursContext(t *testing.T, kv store.KV) {
	for i := range 10 {
		mustPut(t, kv, fmt.Sprintf("c/%02d", i), "v", time.Time{})
	}
	// Cancelled before the scan: nothing is visited.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	visited := 0
	err := kv.Scan(ctx, "c/", func(string, []byte) error { visited++; return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Scan with a cancelled context = %v, want context.Canceled", err)
	}
	if visited != 0 {
		t.Fatalf("Scan with a cancelled context visited %d entries", visited)
	}
	// Cancelled during the scan: it stops soon after.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	visited = 0
	err = kv.Scan(ctx, "c/", func(string, []byte) error {
		visited++
		if visited == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Scan cancelled midway = %v, want context.Canceled", err)
	}
	if visited != 3 {
		t.Fatalf("Scan cancelled at the 3rd entry visited %d", visited)
	}
}

// A List callback commonly cleans up what it finds; the backend must not
// hold a lock that makes that deadlock.
func testScanCallbackMayWrite(t *testing.T, kv store.KV) {
	ctx := context.Background()
	for i := range 4 {
		mustPut(t, kv, fmt.Sprintf("w/%d", i), "v", time.Time{})
	}
	done := make(chan error, 1)
	go func() {
		done <- kv.Scan(ctx, "w/", func(key string, _ []byte) error {
			if err := kv.Delete(ctx, key); err != nil {
				return err
			}
			return kv.Put(ctx, "other/"+key, []byte("moved"), time.Time{})
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Scan: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Scan with a writing callback did not finish (deadlock?)")
	}
	if got := scanAll(t, kv, "w/"); len(got) != 0 {
		t.Fatalf("entries left after deleting them during Scan: %v", got)
	}
	if got := scanAll(t, kv, "other/w/"); len(got) != 4 {
		t.Fatalf("entries written during Scan: %v, want 4", got)
	}
}

// pageKeys returns the keys of one page.
func pageKeys(t *testing.T, kv store.KV, prefix string, p store.Page) []string {
	t.Helper()
	page, err := kv.ScanPage(context.Background(), prefix, p)
	if err != nil {
		t.Fatalf("ScanPage(%q, %+v): %v", prefix, p, err)
	}
	keys := make([]string, len(page))
	for i, e := range page {
		keys[i] = e.Key
		if want := "v:" + e.Key; string(e.Value) != want {
			t.Fatalf("ScanPage(%q, %+v): %q = %q, want %q", prefix, p, e.Key, e.Value, want)
		}
	}
	return keys
}

// walk pages through prefix, limit entries at a time, and returns every
// key in the order the pages gave them, checking that every page but the
// last is full.
func walk(t *testing.T, kv store.KV, prefix string, limit int, reverse bool) []string {
	t.Helper()
	var all []string
	after := ""
	for range 1000 {
		keys := pageKeys(t, kv, prefix, store.Page{After: after, Limit: limit, Reverse: reverse})
		all = append(all, keys...)
		if len(keys) < limit {
			return all
		}
		after = keys[len(keys)-1]
	}
	t.Fatalf("paging %q did not end", prefix)
	return nil
}

func testScanPagePages(t *testing.T, kv store.KV) {
	// The prefix is a prefix of neighbours' keys ("p/1" of "p/10"), and
	// keys just outside it sort on both sides ("p.", "p0").
	keys := []string{"p/", "p/1", "p/10", "p/2", "p/20", "p/200", "p/3", "p/\xff", "p/\xff\xff", "p/\x00"}
	for _, k := range append([]string{"p", "p.", "p0", "o/1", "q/1"}, keys...) {
		mustPut(t, kv, k, "v:"+k, time.Time{})
	}
	sorted := slices.Sorted(slices.Values(keys))
	reversed := slices.Clone(sorted)
	slices.Reverse(reversed)
	for _, limit := range []int{1, 2, 3, len(keys) - 1, len(keys), len(keys) + 1, store.MaxPageLimit} {
		if got := walk(t, kv, "p/", limit, false); !slices.Equal(got, sorted) {
			t.Fatalf("pages of %d of p/ = %q, want %q", limit, got, sorted)
		}
		if got := walk(t, kv, "p/", limit, true); !slices.Equal(got, reversed) {
			t.Fatalf("pages of %d of p/ backwards = %q, want %q", limit, got, reversed)
		}
	}
	// The empty prefix pages through everything, as Scan does.
	var all []string
	for _, p := range scanAll(t, kv, "") {
		all = append(all, p.key)
	}
	if got := walk(t, kv, "", 4, false); !slices.Equal(got, all) {
		t.Fatalf("pages of everything = %q, want %q", got, all)
	}
	slices.Reverse(all)
	if got := walk(t, kv, "", 4, true); !slices.Equal(got, all) {
		t.Fatalf("pages of everything backwards = %q, want %q", got, all)
	}
}

func testScanPageBoundaries(t *testing.T, kv store.KV) {
	for _, k := range []string{"b/1", "b/2", "b/3", "b0", "a"} {
		mustPut(t, kv, k, "v:"+k, time.Time{})
	}
	for _, tc := range []struct {
		after   string
		reverse bool
		want    []string
	}{
		{"", false, []string{"b/1", "b/2", "b/3"}},
		{"b/1", false, []string{"b/2", "b/3"}},
		{"b/15", false, []string{"b/2", "b/3"}}, // a cursor need not exist
		{"b/3", false, nil},
		{"a", false, []string{"b/1", "b/2", "b/3"}},  // before the prefix
		{"b0", false, nil},                           // after it
		{"b/", false, []string{"b/1", "b/2", "b/3"}}, // the prefix itself
		{"", true, []string{"b/3", "b/2", "b/1"}},
		{"b/3", true, []string{"b/2", "b/1"}},
		{"b/25", true, []string{"b/2", "b/1"}},
		{"b/1", true, nil},
		{"b0", true, []string{"b/3", "b/2", "b/1"}}, // the prefix's successor
		{"z", true, []string{"b/3", "b/2", "b/1"}},
		{"a", true, nil},
	} {
		got := pageKeys(t, kv, "b/", store.Page{After: tc.after, Limit: 10, Reverse: tc.reverse})
		if !slices.Equal(got, tc.want) {
			t.Errorf("ScanPage(b/, after %q, reverse %v) = %q, want %q", tc.after, tc.reverse, got, tc.want)
		}
	}
	if got := pageKeys(t, kv, "nobody/", store.Page{Limit: 10}); len(got) != 0 {
		t.Errorf("ScanPage(nobody/) = %q, want nothing", got)
	}
}

func testScanPageSkipsExpired(t *testing.T, kv store.KV) {
	for i := range 10 {
		exp := time.Time{}
		if i%2 == 1 {
			exp = time.Now().Add(-time.Hour)
		}
		k := fmt.Sprintf("x/%d", i)
		mustPut(t, kv, k, "v:"+k, exp)
	}
	// Expired entries neither appear nor count towards a page's limit.
	want := []string{"x/0", "x/2", "x/4", "x/6", "x/8"}
	if got := pageKeys(t, kv, "x/", store.Page{Limit: 2}); !slices.Equal(got, want[:2]) {
		t.Fatalf("first page = %q, want %q", got, want[:2])
	}
	if got := walk(t, kv, "x/", 2, false); !slices.Equal(got, want) {
		t.Fatalf("pages = %q, want %q", got, want)
	}
	// An expired entry is a valid cursor.
	if got := pageKeys(t, kv, "x/", store.Page{After: "x/5", Limit: 2}); !slices.Equal(got, want[3:]) {
		t.Fatalf("page after an expired key = %q, want %q", got, want[3:])
	}
}

func testScanPageExpiry(t *testing.T, kv store.KV) {
	ctx := context.Background()
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	mustPut(t, kv, "e/forever", "v", time.Time{})
	mustPut(t, kv, "e/hour", "v", exp)
	page, err := kv.ScanPage(ctx, "e/", store.Page{Limit: 10})
	if err != nil || len(page) != 2 {
		t.Fatalf("ScanPage = %v, %v; want 2 entries", page, err)
	}
	if !page[0].ExpiresAt.IsZero() {
		t.Errorf("an entry without expiry has ExpiresAt %v", page[0].ExpiresAt)
	}
	// Backends may round expiry down to whole seconds.
	if got := page[1].ExpiresAt; got.After(exp) || exp.Sub(got) > time.Second {
		t.Errorf("ExpiresAt = %v, want %v", got, exp)
	}
	// The page is the caller's.
	page[0].Value[0] = 'X'
	mustGet(t, kv, "e/forever", "v")
}

func testScanPageRefusesBadLimit(t *testing.T, kv store.KV) {
	mustPut(t, kv, "l/1", "v", time.Time{})
	for _, limit := range []int{0, -1, store.MaxPageLimit + 1} {
		if page, err := kv.ScanPage(context.Background(), "l/", store.Page{Limit: limit}); !errors.Is(err, store.ErrBadPage) {
			t.Errorf("ScanPage(limit %d) = %v, %v; want ErrBadPage", limit, page, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := kv.ScanPage(ctx, "l/", store.Page{Limit: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("ScanPage with a cancelled context = %v, want context.Canceled", err)
	}
}

func testValuesAreCopies(t *testing.T, kv store.KV) {
	ctx := context.Background()
	in := []byte("original")
	if err := kv.Put(ctx, "k", in, time.Time{}); err != nil {
		t.Fatal(err)
	}
	copy(in, "XXXXXXXX") // the caller reuses its buffer
	mustGet(t, kv, "k", "original")

	got, err := kv.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	copy(got, "YYYYYYYY")
	mustGet(t, kv, "k", "original")

	created := []byte("created")
	if err := kv.Create(ctx, "c", created, time.Time{}); err != nil {
		t.Fatal(err)
	}
	copy(created, "ZZZZZZZ")
	mustGet(t, kv, "c", "created")

	// fn may scribble on old and return it; the new value is what it returned.
	err = kv.Update(ctx, "k", func(old []byte) ([]byte, error) {
		copy(old, "mutated!")
		return []byte("updated"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, kv, "k", "updated")
	var kept []byte
	err = kv.Update(ctx, "k", func(old []byte) ([]byte, error) {
		kept = []byte("again")
		return kept, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	copy(kept, "WWWWW")
	mustGet(t, kv, "k", "again")

	err = kv.Scan(ctx, "", func(_ string, v []byte) error {
		for i := range v {
			v[i] = '!'
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, kv, "k", "again")
	mustGet(t, kv, "c", "created")
}

func testEmptyValue(t *testing.T, kv store.KV) {
	ctx := context.Background()
	if err := kv.Create(ctx, "empty", nil, time.Time{}); err != nil {
		t.Fatalf("Create(nil value): %v", err)
	}
	got, err := kv.Get(ctx, "empty")
	if err != nil || len(got) != 0 {
		t.Fatalf("Get(empty) = %q, %v; want an empty value", got, err)
	}
	if err := kv.Create(ctx, "empty", []byte("x"), time.Time{}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Create over an empty value = %v, want ErrConflict", err)
	}
}

// testLargeValues stores values from a few bytes up to the largest
// request body the server accepts (16 MiB), across the sizes where a
// backend may change how it keeps them (Badger moves values over its
// threshold out of the tree into the value log), and reads, rewrites and
// lists them back intact.
func testLargeValues(t *testing.T, kv store.KV) {
	ctx := context.Background()
	sizes := []int{100, 40 << 10, 1 << 20, 16 << 20}
	value := func(size int, fill byte) []byte {
		v := bytes.Repeat([]byte{fill}, size)
		v[0], v[size-1] = 'a', 'z' // the ends survive too
		return v
	}
	for i, size := range sizes {
		key := fmt.Sprintf("large/%d", i)
		if err := kv.Create(ctx, key, value(size, 'x'), time.Time{}); err != nil {
			t.Fatalf("Create(%d bytes): %v", size, err)
		}
		got, err := kv.Get(ctx, key)
		if err != nil || !bytes.Equal(got, value(size, 'x')) {
			t.Fatalf("Get(%d bytes) = %d bytes, %v; want the value written", size, len(got), err)
		}
		// Update across the threshold in both directions.
		next := sizes[(i+1)%len(sizes)]
		if err := kv.Update(ctx, key, func(old []byte) ([]byte, error) {
			if !bytes.Equal(old, value(size, 'x')) {
				return nil, fmt.Errorf("update saw %d bytes, want the %d written", len(old), size)
			}
			return value(next, 'y'), nil
		}); err != nil {
			t.Fatalf("Update(%d -> %d bytes): %v", size, next, err)
		}
	}
	n := 0
	for _, p := range scanAll(t, kv, "large/") {
		want := value(sizes[(n+1)%len(sizes)], 'y')
		if p.key != fmt.Sprintf("large/%d", n) || p.value != string(want) {
			t.Fatalf("Scan entry %d = %s (%d bytes), want large/%d (%d bytes)", n, p.key, len(p.value), n, len(want))
		}
		n++
	}
	if n != len(sizes) {
		t.Fatalf("Scan found %d large values, want %d", n, len(sizes))
	}
}

// testUpdateHammer proves that Update is compare-and-swap: concurrent
// increments of one counter lose nothing.
func testUpdateHammer(t *testing.T, kv store.KV) {
	goroutines, increments := 8, 50
	if testing.Short() {
		goroutines, increments = 4, 20
	}
	ctx := context.Background()
	mustPut(t, kv, "counter", "0", time.Time{})
	var wg sync.WaitGroup
	var failures atomic.Int64
	for range goroutines {
		wg.Go(func() {
			for range increments {
				err := kv.Update(ctx, "counter", func(old []byte) ([]byte, error) {
					n, err := strconv.Atoi(string(old))
					if err != nil {
						return nil, err
					}
					// Yield between read and write, so that a backend
					// that is not compare-and-swap loses increments.
					runtime.Gosched()
					return []byte(strconv.Itoa(n + 1)), nil
				})
				if err != nil {
					failures.Add(1)
					t.Errorf("Update: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if failures.Load() > 0 {
		t.FailNow()
	}
	mustGet(t, kv, "counter", strconv.Itoa(goroutines*increments))
}

// testCreateRace: of many concurrent Creates of one key, exactly one wins.
func testCreateRace(t *testing.T, kv store.KV) {
	const goroutines = 8
	ctx := context.Background()
	for round := range 5 {
		key := fmt.Sprintf("race/%d", round)
		var wins, conflicts atomic.Int64
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				err := kv.Create(ctx, key, []byte(strconv.Itoa(g)), time.Time{})
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, store.ErrConflict):
					conflicts.Add(1)
				default:
					t.Errorf("Create: %v", err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 || conflicts.Load() != goroutines-1 {
			t.Fatalf("round %d: %d Creates won and %d conflicted, want 1 and %d", round, wins.Load(), conflicts.Load(), goroutines-1)
		}
	}
}

// testApplyCommitsAll: a batch's creates and updates all land, and an
// update keeps its entry's expiry as Update does.
func testApplyCommitsAll(t *testing.T, kv store.KV) {
	ctx := context.Background()
	mustPut(t, kv, "short", "v0", time.Now().Add(2*time.Second))
	mustPut(t, kv, "forever", "v0", time.Time{})
	set := func(v string) func([]byte) ([]byte, error) {
		return func([]byte) ([]byte, error) { return []byte(v), nil }
	}
	err := kv.Apply(ctx,
		store.UpdateWrite("short", set("v1")),
		store.CreateWrite("new", []byte("n"), time.Time{}),
		store.UpdateWrite("forever", set("v1")),
		store.CreateWrite("new-short", []byte("n"), time.Now().Add(2*time.Second)),
	)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	mustGet(t, kv, "short", "v1")
	mustGet(t, kv, "forever", "v1")
	mustGet(t, kv, "new", "n")
	mustGet(t, kv, "new-short", "n")
	eventually(t, 6*time.Second, "entries written by Apply outlived their expiry", func() bool {
		_, err1 := kv.Get(ctx, "short")
		_, err2 := kv.Get(ctx, "new-short")
		return errors.Is(err1, store.ErrNotFound) && errors.Is(err2, store.ErrNotFound)
	})
	mustGet(t, kv, "forever", "v1")
	mustGet(t, kv, "new", "n")
}

// testApplyAllOrNothing: when one write of a batch fails, Apply returns
// its error and none of the batch is written, whichever write it was.
func testApplyAllOrNothing(t *testing.T, kv store.KV) {
	ctx := context.Background()
	mustPut(t, kv, "taken", "t", time.Time{})
	mustPut(t, kv, "counter", "0", time.Time{})
	bump := store.UpdateWrite("counter", func(old []byte) ([]byte, error) { return append(old, '+'), nil })
	errPlugin := errors.New("refused by fn")
	for _, tc := range []struct {
		name   string
		writes []store.Write
		want   error
	}{
		{"create over a live entry", []store.Write{bump, store.CreateWrite("fresh", []byte("f"), time.Time{}), store.CreateWrite("taken", []byte("x"), time.Time{})}, store.ErrConflict},
		{"update of a missing entry", []store.Write{store.CreateWrite("fresh", []byte("f"), time.Time{}), bump, store.UpdateWrite("missing", func(b []byte) ([]byte, error) { return b, nil })}, store.ErrNotFound},
		{"update function fails", []store.Write{bump, store.UpdateWrite("taken", func([]byte) ([]byte, error) { return nil, errPlugin }), store.CreateWrite("fresh", []byte("f"), time.Time{})}, errPlugin},
	} {
		if err := kv.Apply(ctx, tc.writes...); !errors.Is(err, tc.want) {
			t.Fatalf("%s: Apply = %v, want %v", tc.name, err, tc.want)
		}
		mustGet(t, kv, "counter", "0")
		mustGet(t, kv, "taken", "t")
		mustBeMissing(t, kv, "fresh")
		mustBeMissing(t, kv, "missing")
	}
}

// testApplyRefusesBadBatch: a batch with an empty or repeated key, or an
// unknown operation, is refused whole.
func testApplyRefusesBadBatch(t *testing.T, kv store.KV) {
	ctx := context.Background()
	ok := store.CreateWrite("ok", []byte("v"), time.Time{})
	for name, writes := range map[string][]store.Write{
		"empty key":    {ok, store.CreateWrite("", []byte("v"), time.Time{})},
		"repeated key": {ok, store.CreateWrite("dup", []byte("1"), time.Time{}), store.UpdateWrite("dup", func(b []byte) ([]byte, error) { return b, nil })},
		"no operation": {ok, {Key: "zero"}},
		"no function":  {ok, {Op: store.OpUpdate, Key: "ok2"}},
	} {
		if err := kv.Apply(ctx, writes...); !errors.Is(err, store.ErrBadWrite) {
			t.Errorf("%s: Apply = %v, want ErrBadWrite", name, err)
		}
	}
	for _, key := range []string{"ok", "dup", "zero", "ok2"} {
		mustBeMissing(t, kv, key)
	}
}

// testApplyRace: batches that spend the same token (compare-and-swap on
// one key) and each record a winner: exactly one commits, and its winner
// record is the only one written.
func testApplyRace(t *testing.T, kv store.KV) {
	applyRace(t, kv, func(token string, _ []byte, fn func([]byte) ([]byte, error)) store.Write {
		return store.UpdateWrite(token, fn)
	})
}

// testApplyExpectedRace is testApplyRace with every batch starting from
// the token as read before the race: exactly one commits, and the others
// see the token spent.
func testApplyExpectedRace(t *testing.T, kv store.KV) {
	applyRace(t, kv, func(token string, read []byte, fn func([]byte) ([]byte, error)) store.Write {
		return store.UpdateWriteFrom(token, read, fn)
	})
}

// applyRace runs rounds of goroutines whose batches spend one token
// (written by spend, given the token as read before the race) and record
// a winner, and checks that exactly one batch of each round commits.
func applyRace(t *testing.T, kv store.KV, spend func(token string, read []byte, fn func([]byte) ([]byte, error)) store.Write) {
	const goroutines = 8
	ctx := context.Background()
	errSpent := errors.New("spent")
	for round := range 5 {
		token := fmt.Sprintf("token/%d", round)
		mustPut(t, kv, token, "unused", time.Time{})
		read, err := kv.Get(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		var wins, spent atomic.Int64
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				err := kv.Apply(ctx,
					spend(token, read, func(old []byte) ([]byte, error) {
						if string(old) != "unused" {
							return nil, errSpent
						}
						return []byte("spent by " + strconv.Itoa(g)), nil
					}),
					store.CreateWrite(fmt.Sprintf("winner/%d/%d", round, g), []byte(strconv.Itoa(g)), time.Time{}),
				)
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, errSpent):
					spent.Add(1)
				default:
					t.Errorf("Apply: %v", err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 || spent.Load() != goroutines-1 {
			t.Fatalf("round %d: %d batches won and %d found the token spent, want 1 and %d", round, wins.Load(), spent.Load(), goroutines-1)
		}
		winners := scanAll(t, kv, fmt.Sprintf("winner/%d/", round))
		if len(winners) != 1 {
			t.Fatalf("round %d: winner records %v, want exactly one", round, winners)
		}
		mustGet(t, kv, token, "spent by "+winners[0].value)
	}
}

// testApplyExpected: an update given the value its caller read
// (Write.Expect) does what it does without it: Fn's result is written
// when the entry still holds that value, and Fn runs on the current value
// when it changed; it keeps the entry's expiry unless it renews it.
func testApplyExpected(t *testing.T, kv store.KV) {
	ctx := context.Background()
	mustPut(t, kv, "same", "v0", time.Now().Add(2*time.Second))
	mustPut(t, kv, "changed", "v1", time.Time{})
	mustPut(t, kv, "renewed", "v0", time.Now().Add(time.Hour))
	var seen []string
	appendFn := func(old []byte) ([]byte, error) {
		seen = append(seen, string(old))
		return append(old, '+'), nil
	}
	renew := store.UpdateWriteFrom("renewed", []byte("v0"), appendFn)
	renew.Renew = func([]byte) time.Time { return time.Now().Add(2 * time.Second) }
	err := kv.Apply(ctx,
		store.UpdateWriteFrom("same", []byte("v0"), appendFn),
		store.UpdateWriteFrom("changed", []byte("v0"), appendFn),
		renew,
		store.CreateWrite("new", []byte("n"), time.Time{}),
	)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if !slices.Contains(seen, "v1") {
		t.Errorf("Update functions saw %q: none the current value v1 of the changed entry", seen)
	}
	mustGet(t, kv, "same", "v0+")
	mustGet(t, kv, "changed", "v1+")
	mustGet(t, kv, "renewed", "v0+")
	mustGet(t, kv, "new", "n")

	// A function that refuses the expected value but not the current one
	// succeeds: the expected value is only where a backend may start.
	errSpent := errors.New("spent")
	spend := func(old []byte) ([]byte, error) {
		if string(old) != "v1+" {
			return nil, errSpent
		}
		return []byte("spent"), nil
	}
	if err := kv.Apply(ctx, store.UpdateWriteFrom("changed", []byte("spent"), spend)); err != nil {
		t.Fatalf("Apply with a stale value its function refuses: %v", err)
	}
	mustGet(t, kv, "changed", "spent")
	// ... and one that refuses the current value fails with its error.
	if err := kv.Apply(ctx, store.UpdateWriteFrom("changed", []byte("v1+"), spend)); !errors.Is(err, errSpent) {
		t.Fatalf("Apply with a current value its function refuses = %v, want its error", err)
	}
	mustGet(t, kv, "changed", "spent")

	eventually(t, 6*time.Second, "entries updated with an expected value outlived their expiry", func() bool {
		_, err1 := kv.Get(ctx, "same")
		_, err2 := kv.Get(ctx, "renewed")
		return errors.Is(err1, store.ErrNotFound) && errors.Is(err2, store.ErrNotFound)
	})
	mustGet(t, kv, "changed", "spent")
}

// testApplyExpectedAllOrNothing: a batch whose updates carry the expected
// value fails whole, with the error it has without them: an entry gone or
// expired is ErrNotFound, a create over a live entry ErrConflict; a create
// over an expired entry replaces it.
func testApplyExpectedAllOrNothing(t *testing.T, kv store.KV) {
	ctx := context.Background()
	mustPut(t, kv, "counter", "0", time.Time{})
	mustPut(t, kv, "taken", "t", time.Time{})
	mustPut(t, kv, "stale", "s", time.Now().Add(-time.Hour))
	bump := store.UpdateWriteFrom("counter", []byte("0"), func(old []byte) ([]byte, error) { return append(old, '+'), nil })
	same := func(b []byte) ([]byte, error) { return b, nil }
	for _, tc := range []struct {
		name   string
		writes []store.Write
		want   error
	}{
		{"update of a missing entry", []store.Write{bump, store.CreateWrite("fresh", []byte("f"), time.Time{}), store.UpdateWriteFrom("missing", []byte("m"), same)}, store.ErrNotFound},
		{"update of an expired entry", []store.Write{bump, store.UpdateWriteFrom("stale", []byte("s"), same), store.CreateWrite("fresh", []byte("f"), time.Time{})}, store.ErrNotFound},
		{"create over a live entry", []store.Write{store.CreateWrite("fresh", []byte("f"), time.Time{}), bump, store.CreateWrite("taken", []byte("x"), time.Time{})}, store.ErrConflict},
	} {
		if err := kv.Apply(ctx, tc.writes...); !errors.Is(err, tc.want) {
			t.Fatalf("%s: Apply = %v, want %v", tc.name, err, tc.want)
		}
		mustGet(t, kv, "counter", "0")
		mustGet(t, kv, "taken", "t")
		mustBeMissing(t, kv, "fresh")
		mustBeMissing(t, kv, "missing")
		mustBeMissing(t, kv, "stale")
	}
	if err := kv.Apply(ctx, bump, store.CreateWrite("stale", []byte("new"), time.Time{})); err != nil {
		t.Fatalf("Apply creating over an expired entry: %v", err)
	}
	mustGet(t, kv, "counter", "0+")
	mustGet(t, kv, "stale", "new")
}

// record is a typed value with an expiry, like the store's own records.
type record struct {
	Name      string    `json:"name"`
	Count     int       `json:"count"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

func (r *record) Expiry() time.Time { return r.ExpiresAt }

func testCollection(t *testing.T, kv store.KV) {
	ctx := context.Background()
	c := store.NewCollection[record](kv, "rec")
	if _, err := c.Get(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
	}
	if err := c.Create(ctx, "a", record{Name: "alpha", Count: 1}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := c.Create(ctx, "a", record{Name: "again"}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Create twice = %v, want ErrConflict", err)
	}
	got, err := c.Get(ctx, "a")
	if err != nil || got.Name != "alpha" || got.Count != 1 {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	// The raw entry sits under prefix/id.
	if _, err := kv.Get(ctx, "rec/a"); err != nil {
		t.Fatalf("raw entry rec/a: %v", err)
	}

	updated, err := c.Update(ctx, "a", func(old record) (record, error) {
		old.Count++
		return old, nil
	})
	if err != nil || updated.Count != 2 {
		t.Fatalf("Update = %+v, %v; want count 2", updated, err)
	}
	refused := errors.New("refused")
	if _, err := c.Update(ctx, "a", func(record) (record, error) { return record{}, refused }); !errors.Is(err, refused) {
		t.Fatalf("Update with fn error = %v, want it unchanged", err)
	}
	if _, err := c.Update(ctx, "missing", func(r record) (record, error) { return r, nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Update(missing) = %v, want ErrNotFound", err)
	}
	if got, _ := c.Get(ctx, "a"); got.Count != 2 {
		t.Fatalf("after refused Update count = %d, want 2", got.Count)
	}

	if err := c.Put(ctx, "a", record{Name: "replaced"}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if got, _ := c.Get(ctx, "a"); got.Name != "replaced" || got.Count != 0 {
		t.Fatalf("after Put = %+v", got)
	}

	// A record that does not decode is an error, not a zero value.
	mustPut(t, kv, "rec/broken", "{not json", time.Time{})
	if _, err := c.Get(ctx, "broken"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(undecodable) = %v, want a decode error", err)
	}
	if _, err := c.Update(ctx, "broken", func(r record) (record, error) { return r, nil }); err == nil {
		t.Fatal("Update(undecodable) succeeded")
	}

	if err := c.Delete(ctx, "a"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := c.Delete(ctx, "a"); err != nil {
		t.Fatalf("Delete twice: %v", err)
	}
	if _, err := c.Get(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Delete = %v", err)
	}
}

func testCollectionList(t *testing.T, kv store.KV) {
	ctx := context.Background()
	c := store.NewCollection[record](kv, "item")
	// A collection whose prefix extends this one's must not leak into it.
	other := store.NewCollection[record](kv, "items")
	for _, id := range []string{"c", "a", "b"} {
		if err := c.Create(ctx, id, record{Name: id}); err != nil {
			t.Fatal(err)
		}
	}
	if err := other.Create(ctx, "x", record{Name: "other"}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	err := c.List(ctx, func(id string, r record) error {
		if r.Name != id {
			t.Errorf("List gave %q for id %q", r.Name, id)
		}
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if fmt.Sprint(ids) != "[a b c]" {
		t.Fatalf("List ids = %v, want [a b c]", ids)
	}

	// ErrStop ends the listing without an error; any other error comes back.
	ids = nil
	err = c.List(ctx, func(id string, _ record) error {
		ids = append(ids, id)
		if id == "b" {
			return store.ErrStop
		}
		return nil
	})
	if err != nil || fmt.Sprint(ids) != "[a b]" {
		t.Fatalf("List with ErrStop = %v, visited %v", err, ids)
	}
	boom := errors.New("boom")
	if err := c.List(ctx, func(string, record) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("List with an error = %v, want boom", err)
	}
}

// testCollectionUpdateRenewing: UpdateRenewing moves the entry's expiry
// to the updated record's (later, or never), where Update keeps it.
func testCollectionUpdateRenewing(t *testing.T, kv store.KV) {
	ctx := context.Background()
	c := store.NewCollection[record](kv, "renew")
	soon := time.Now().Add(time.Hour).Truncate(time.Second)
	later := soon.Add(24 * time.Hour)
	for _, id := range []string{"kept", "later", "never"} {
		if err := c.Create(ctx, id, record{Name: id, ExpiresAt: soon}); err != nil {
			t.Fatal(err)
		}
	}
	set := func(at time.Time) func(record) (record, error) {
		return func(r record) (record, error) { r.ExpiresAt = at; return r, nil }
	}
	if _, err := c.Update(ctx, "kept", set(later)); err != nil {
		t.Fatal(err)
	}
	if got, err := c.UpdateRenewing(ctx, "later", set(later)); err != nil || !got.ExpiresAt.Equal(later) {
		t.Fatalf("UpdateRenewing = %+v, %v", got, err)
	}
	if _, err := c.UpdateRenewing(ctx, "never", set(time.Time{})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateRenewing(ctx, "missing", set(later)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateRenewing(missing) = %v, want ErrNotFound", err)
	}
	page, err := kv.ScanPage(ctx, "renew/", store.Page{Limit: 10})
	if err != nil || len(page) != 3 {
		t.Fatalf("ScanPage = %v, %v; want 3 entries", page, err)
	}
	// Backends may round expiry down to whole seconds.
	near := func(got, want time.Time) bool { return !got.After(want) && want.Sub(got) <= time.Second }
	if got := page[0].ExpiresAt; !near(got, soon) {
		t.Errorf("after Update the entry expires at %v, want %v as before", got, soon)
	}
	if got := page[1].ExpiresAt; !near(got, later) {
		t.Errorf("after UpdateRenewing the entry expires at %v, want %v", got, later)
	}
	if got := page[2].ExpiresAt; !got.IsZero() {
		t.Errorf("after UpdateRenewing to never the entry expires at %v", got)
	}
}

// testCollectionUpdateWriteFrom: GetVersion reads a record and its
// version; an update from that version sees the record as it is when
// it commits, whether or not it changed since.
func testCollectionUpdateWriteFrom(t *testing.T, kv store.KV) {
	ctx := context.Background()
	c := store.NewCollection[record](kv, "from")
	if err := c.Create(ctx, "r", record{Name: "r"}); err != nil {
		t.Fatal(err)
	}
	got, version, err := c.GetVersion(ctx, "r")
	if err != nil || got.Name != "r" {
		t.Fatalf("GetVersion = %+v, %v", got, err)
	}
	if _, _, err := c.GetVersion(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetVersion(missing) = %v, want ErrNotFound", err)
	}
	count := func(r record) (record, error) { r.Count++; return r, nil }
	for range 2 { // the second starts from a version that is stale by then
		if err := kv.Apply(ctx, c.UpdateWriteFrom("r", version, count)); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := c.Get(ctx, "r"); err != nil || got.Count != 2 {
		t.Fatalf("after two updates from one version: %+v, %v; want count 2", got, err)
	}
}

func testCollectionExpiry(t *testing.T, kv store.KV) {
	ctx := context.Background()
	c := store.NewCollection[record](kv, "exp")
	if err := c.Create(ctx, "old", record{Name: "old", ExpiresAt: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, "new", record{Name: "new", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, "forever", record{Name: "forever"}); err != nil {
		t.Fatal(err)
	}
	// The record's Expiry became the entry's: the expired one is gone...
	if _, err := c.Get(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(expired record) = %v, want ErrNotFound", err)
	}
	// ...so its id can be created again.
	if err := c.Create(ctx, "old", record{Name: "reborn"}); err != nil {
		t.Fatalf("Create over an expired record: %v", err)
	}
	var ids []string
	if err := c.List(ctx, func(id string, _ record) error { ids = append(ids, id); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids) != "[forever new old]" {
		t.Fatalf("List = %v, want [forever new old]", ids)
	}
	// Put with an expiry in the past removes the record in effect.
	if err := c.Put(ctx, "new", record{Name: "new", ExpiresAt: time.Now().Add(-time.Second * 5)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "new"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Put with a past expiry = %v, want ErrNotFound", err)
	}
}

func testStoreCollectionsAreSeparate(t *testing.T, kv store.KV) {
	ctx := context.Background()
	st := store.New(kv)
	if err := st.Clients.Create(ctx, "same-id", store.Client{ID: "same-id"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Grants.Create(ctx, "same-id", store.Grant{ID: "same-id", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("a grant with a client's id: %v", err)
	}
	if _, err := st.Codes.Get(ctx, "same-id"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Codes.Get sees another collection's record: %v", err)
	}
	n := 0
	if err := st.Clients.List(ctx, func(string, store.Client) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("Clients.List = %d records, %v; want 1", n, err)
	}
	if id := store.HashID("secret"); len(id) != 64 || id == store.HashID("secret2") {
		t.Fatalf("HashID(secret) = %q", id)
	}
}

// testCollectionListPage: a collection pages through its own records by
// id, both ways, and the last page has no cursor.
func testCollectionListPage(t *testing.T, kv store.KV) {
	ctx := context.Background()
	c := store.NewCollection[record](kv, "paged")
	other := store.NewCollection[record](kv, "pagedx") // its prefix extends c's
	for i := range 5 {
		if err := c.Create(ctx, fmt.Sprint(i), record{Name: fmt.Sprint("r", i)}); err != nil {
			t.Fatal(err)
		}
		if err := other.Create(ctx, fmt.Sprint(i), record{Name: "other"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, reverse := range []bool{false, true} {
		var ids []string
		after := ""
		for range 10 {
			page, next, err := c.ListPage(ctx, store.Page{After: after, Limit: 2, Reverse: reverse})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page {
				if r.Value.Name != "r"+r.ID {
					t.Fatalf("record %s = %+v", r.ID, r.Value)
				}
				ids = append(ids, r.ID)
			}
			if next == "" {
				break
			}
			after = next
		}
		want := []string{"0", "1", "2", "3", "4"}
		if reverse {
			slices.Reverse(want)
		}
		if !slices.Equal(ids, want) {
			t.Fatalf("pages (reverse %v) = %q, want %q", reverse, ids, want)
		}
	}
}
