package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/core/store/storetest"
)

// TestConformanceCached runs the conformance suite with every key in a
// cached key space: the cache must change nothing a caller can see.
func TestConformanceCached(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.KV {
		return open(t, Options{MaxConns: 4, CacheEntries: 1000, cacheable: []string{""}})
	})
}

// openCaching opens a KV on the database dsn that caches clients.
func openCaching(t *testing.T, dsn string) *KV {
	t.Helper()
	kv, err := Open(context.Background(), dsn, Options{CacheEntries: 100})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = kv.Close() })
	return kv
}

// openPair opens two caching KVs on the database dsn, as two replicas
// would, and waits until B's cache may be filled.
func openPair(t *testing.T, dsn string) (a, b *KV) {
	t.Helper()
	a, b = openCaching(t, dsn), openCaching(t, dsn)
	trusted(t, b)
	return a, b
}

// cacheOnB writes key = "v1" (expiring at expires) through A and reads it
// on B once B has heard of the write, so that B caches it.
func cacheOnB(t *testing.T, a, b *KV, key string, expires time.Time) {
	t.Helper()
	if err := a.Put(context.Background(), key, []byte("v1"), expires); err != nil {
		t.Fatal(err)
	}
	settle(t, b)
	if got := mustGet(t, b, key); got != "v1" {
		t.Fatalf("B reads %q, want v1", got)
	}
	if _, ok := b.cache.get(key, b.now()); !ok {
		t.Fatal("B did not cache the client")
	}
}

// trusted waits, boundedly, until kv's listener has proven its
// connection and the cache may be filled.
func trusted(t *testing.T, kv *KV) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if kv.cache.begin().ok {
			return
		}
	}
	t.Fatal("the cache's listener never proved its connection")
}

// settle waits, boundedly, until kv's listener has applied every
// notification committed before the call: until it proves its
// connection with a query sent after it.
func settle(t *testing.T, kv *KV) {
	t.Helper()
	since := time.Now()
	for deadline := since.Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		kv.cache.mu.Lock()
		proof := kv.cache.trustedUntil.Add(-trustFor)
		kv.cache.mu.Unlock()
		if proof.After(since) {
			return
		}
	}
	t.Fatal("the cache's listener made no proof in 10s")
}

// setRow changes a row behind every KV's back, with no notification.
func setRow(t *testing.T, kv *KV, key, value string) {
	t.Helper()
	tag, err := kv.pool.Exec(context.Background(), `UPDATE gatehouse_kv SET value = $2 WHERE key = $1`, []byte(key), []byte(value))
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("UPDATE %s: %v (%d rows)", key, err, tag.RowsAffected())
	}
}

func mustGet(t *testing.T, kv *KV, key string) string {
	t.Helper()
	v, err := kv.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	return string(v)
}

// eventually polls kv's Get of key until it answers want (a value, or
// "" for not found), for at most two seconds.
func eventually(t *testing.T, kv *KV, key, want string) time.Duration {
	t.Helper()
	start := time.Now()
	var got string
	var err error
	for time.Since(start) < 2*time.Second {
		var v []byte
		v, err = kv.Get(context.Background(), key)
		got = string(v)
		if (want == "" && errors.Is(err, store.ErrNotFound)) || (want != "" && err == nil && got == want) {
			return time.Since(start)
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("Get %s = %q, %v after 2s; want %q", key, got, err, want)
	return 0
}

// TestCacheAcrossReplicas: a client read on B is served from B's memory
// (a change made behind Gatehouse's back is not seen), and every write
// through A, whatever its kind, reaches B's reads as soon as its
// notification does.
func TestCacheAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	a, b := openPair(t, pgtest.NewDatabase(t))
	const key = "client/c1"
	cacheOnB(t, a, b, key, time.Time{})
	setRow(t, a, key, "by hand")
	if got := mustGet(t, b, key); got != "v1" {
		t.Fatalf("B reads %q after a change without notification, want v1 from its cache", got)
	}
	if got, err := b.GetMany(ctx, []string{key, "grant/g"}); err != nil || string(got[0]) != "v1" || got[1] != nil {
		t.Fatalf("B GetMany = %q, %v; want [v1 nil]", got, err)
	}
	// An uncached key space is read from the database every time.
	if err := a.Put(ctx, "grant/g", []byte("g1"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	_ = mustGet(t, b, "grant/g")
	setRow(t, a, "grant/g", "g2")
	if got := mustGet(t, b, "grant/g"); got != "g2" {
		t.Fatalf("B reads grant %q, want g2", got)
	}

	writes := []struct {
		name  string
		write func() error
		want  string
	}{
		{"Put", func() error { return a.Put(ctx, key, []byte("v2"), time.Time{}) }, "v2"},
		{"Update", func() error {
			return a.Update(ctx, key, func([]byte) ([]byte, error) { return []byte("v3"), nil })
		}, "v3"},
		{"Apply with Expect", func() error {
			return a.Apply(ctx, store.Write{Op: store.OpUpdate, Key: key, Expect: []byte("v3"),
				Fn: func([]byte) ([]byte, error) { return []byte("v4"), nil }})
		}, "v4"},
		{"Delete", func() error { return a.Delete(ctx, key) }, ""},
		{"Create", func() error { return a.Create(ctx, key, []byte("v5"), time.Time{}) }, "v5"},
	}
	for _, w := range writes {
		// Fill B's cache with what is there, once the previous write's
		// notification is applied: else the fill could be dropped, and a
		// write that did not notify would pass.
		settle(t, b)
		_ = mustGetOrAbsent(t, b, key)
		if _, cached := b.cache.get(key, time.Now()); !cached && w.name != "Create" {
			t.Fatalf("before %s: B did not cache %s", w.name, key)
		}
		if err := w.write(); err != nil {
			t.Fatalf("%s on A: %v", w.name, err)
		}
		took := eventually(t, b, key, w.want)
		t.Logf("%s on A seen on B after %v", w.name, took)
	}

	// B's own write is seen by B's next read, with no wait.
	_ = mustGet(t, b, key)
	if err := b.Put(ctx, key, []byte("v6"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, b, key); got != "v6" {
		t.Fatalf("B reads %q right after its own write, want v6", got)
	}
}

func mustGetOrAbsent(t *testing.T, kv *KV, key string) string {
	t.Helper()
	v, err := kv.Get(context.Background(), key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get %s: %v", key, err)
	}
	return string(v)
}

// TestCacheListenerLost: when the listener's connection dies, notifications
// may be missed, so the cache is emptied and not served until a new
// connection listens; then it serves again.
func TestCacheListenerLost(t *testing.T) {
	ctx := context.Background()
	a, b := openPair(t, pgtest.NewDatabase(t))
	const key = "client/c1"
	cacheOnB(t, a, b, key, time.Time{})
	setRow(t, a, key, "v2") // no notification: only losing the listener shows it
	if got := mustGet(t, b, key); got != "v1" {
		t.Fatalf("B reads %q, want v1 from its cache", got)
	}
	var killed int
	if err := a.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE application_name = $1 AND datname = current_database()`, listenerName).Scan(&killed); err != nil || killed != 2 {
		t.Fatalf("terminating the listeners: %v (%d terminated, want 2)", err, killed)
	}
	took := eventually(t, b, key, "v2")
	t.Logf("the lost listener's cache stopped serving within %v", took)

	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if !b.cache.begin().ok {
			break // B's listener saw its connection go
		}
		if time.Now().After(deadline) {
			t.Fatal("B's cache is still trusted 10s after its listener's connection was terminated")
		}
	}
	trusted(t, b)
	_ = mustGet(t, b, key)
	setRow(t, a, key, "v3")
	if got := mustGet(t, b, key); got != "v2" {
		t.Fatalf("B reads %q with a new listener, want v2 from its cache again", got)
	}
}

// TestCacheSilentListener: a listener whose connection goes silent (the
// database stopped, here) cannot prove itself, and the cache stops
// serving within the proof's deadline, not at the next error.
func TestCacheSilentListener(t *testing.T) {
	db, dsn := pgtest.Own(t)
	a, b := openPair(t, dsn)
	const key = "client/c1"
	cacheOnB(t, a, b, key, time.Time{})
	if err := db.Pause(); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := db.Resume(); err != nil {
				t.Error(err)
			}
		}
	}
	defer resume()
	for b.cache.begin().ok {
		if time.Since(paused) > trustFor+time.Second {
			t.Fatalf("B's cache is still trusted %v after its database stopped answering", time.Since(paused))
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("B stopped trusting its cache %v after the database stopped answering", time.Since(paused))
	if _, ok := b.cache.get(key, time.Now()); ok {
		t.Fatal("B serves from a cache it does not trust")
	}
	resume()
	setRow(t, a, key, "v2")
	if got := mustGet(t, b, key); got != "v2" {
		t.Fatalf("B reads %q, want v2 from the database", got)
	}
}

// TestCacheExpiry: a cached record is never served past its expiry.
func TestCacheExpiry(t *testing.T) {
	ctx := context.Background()
	a, b := openPair(t, pgtest.NewDatabase(t))
	now := time.Now()
	b.now = func() time.Time { return now }
	const key = "client/c1"
	cacheOnB(t, a, b, key, now.Add(time.Minute))
	setRow(t, a, key, "v2")
	if got := mustGet(t, b, key); got != "v1" {
		t.Fatalf("B reads %q, want v1 from its cache", got)
	}
	now = now.Add(time.Minute)
	if _, err := b.Get(ctx, key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of an expired cached record: %v, want ErrNotFound", err)
	}
	if got, err := b.GetMany(ctx, []string{key}); err != nil || got[0] != nil {
		t.Fatalf("GetMany of an expired cached record = %q, %v; want [nil]", got, err)
	}
}

// TestCacheFillRace: a read that began before an invalidation does not
// fill the cache with what it read, which may be the old record.
func TestCacheFillRace(t *testing.T) {
	c := newCache(10, []string{"client/"})
	c.proven(time.Now())
	t0 := c.begin()
	if !t0.ok {
		t.Fatal("a proven cache refuses fills")
	}
	c.heard("client/c1") // the write's notification overtakes the read
	c.fill(t0, "client/c1", []byte("old"), time.Time{})
	if v, ok := c.get("client/c1", time.Now()); ok {
		t.Fatalf("the cache serves %q, filled by a read older than an invalidation", v)
	}
	c.fill(c.begin(), "client/c1", []byte("new"), time.Time{})
	if v, ok := c.get("client/c1", time.Now()); !ok || string(v) != "new" {
		t.Fatalf("get = %q, %v; want new", v, ok)
	}
	c.distrust()
	if _, ok := c.get("client/c1", time.Now()); ok {
		t.Fatal("a distrusted cache serves")
	}
}

// TestPayload: a key that cannot travel as a notification's payload
// empties every cache instead.
func TestPayload(t *testing.T) {
	for key, want := range map[string]string{
		"client/c1":   "client/c1",
		"client/\x00": "",
		"client/\xff": "",
		"client/" + string(make([]byte, maxPayload)): "",
	} {
		if got := payload(key); got != want {
			t.Errorf("payload(%.20q) = %q, want %q", key, got, want)
		}
	}
}
