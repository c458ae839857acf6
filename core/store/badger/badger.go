// Package badger is the durable store.KV on Badger v4, the default backend.
package badger

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	bdg "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

var (
	_ store.KV           = (*KV)(nil)
	_ store.WriteChecker = (*KV)(nil)
)

// Options configure the backend.
type Options struct {
	// SyncWrites makes every commit wait for fsync, so that an acknowledged
	// write survives a power loss and not only a killed process.
	SyncWrites bool
	// Reserve is the free space, in bytes, kept on the data directory's
	// filesystem: writes are refused with store.ErrFull below it. Zero is
	// DefaultReserve; negative turns the check off.
	Reserve int64
	Logger  *slog.Logger
}

// KV is a Badger database.
type KV struct {
	db        *bdg.DB
	room      *headroom
	stripes   [64]sync.Mutex
	closeOnce sync.Once
	stopGC    chan struct{}
	gcDone    chan struct{}
}

// Open opens (creating if needed) the database in dir.
func Open(dir string, opts Options) (*KV, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	bo := badgerOptions(dir, opts)
	reserve := opts.Reserve
	if reserve == 0 {
		reserve = defaultReserve(bo)
	}
	db, err := bdg.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("badger: open %s: %w", dir, err)
	}
	kv := &KV{db: db, room: newHeadroom(dir, reserve, log), stopGC: make(chan struct{}), gcDone: make(chan struct{})}
	go kv.collectGarbage()
	return kv, nil
}

// badgerOptions are the Badger options of a data directory.
func badgerOptions(dir string, opts Options) bdg.Options {
	bo := bdg.DefaultOptions(dir).
		WithSyncWrites(opts.SyncWrites).
		WithLogger(badgerLogger{opts.Logger}).
		WithNumVersionsToKeep(1).
		// Gatehouse stores small records under random keys (hashes of
		// tokens), so every level-0 table overlaps the whole level below
		// it. Badger's defaults (64 MiB memtables, 2 MiB tables doubling
		// per level, a 10 MiB base level growing tenfold) then rewrite
		// most of the database on each flush, in table builders sized at
		// twice their table and pooled once used: they were most of the
		// heap under load. Small memtables, one small table size at every
		// level and a small base level growing fourfold keep each
		// compaction, and each builder, small.
		WithMemTableSize(2 << 20).
		WithNumMemtables(2).
		WithBaseTableSize(512 << 10).
		WithBaseLevelSize(2 << 20).
		WithLevelSizeMultiplier(4).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithNumCompactors(2).
		// Records are at most a few KiB; anything larger (a client's
		// inline JWKS, say) goes to the value log. The threshold must
		// stay under a batch, 15% of a memtable.
		WithValueThreshold(32 << 10).
		WithValueLogFileSize(64 << 20).
		// Compression off: the records are short JSON under random keys,
		// and Snappy's per-block buffers and decompression on every read
		// cost more heap and CPU than the disk it saves. Without it reads
		// come straight from the mapped tables, so the block cache stays
		// small.
		WithCompression(options.None).
		WithBlockCacheSize(4 << 20).
		WithIndexCacheSize(4 << 20)
	// One size for every level's tables (there is no With option).
	bo.TableSizeMultiplier = 1
	return bo
}

// collectGarbage reclaims value-log space left by expired and rewritten
// entries.
func (kv *KV) collectGarbage() {
	defer close(kv.gcDone)
	ticker := time.NewTicker(5 * time.Minute)
	defer ticker.Stop()
	for {
		select {
		case <-kv.stopGC:
			return
		case <-ticker.C:
			// Rewriting the value log writes first and frees after.
			for kv.room.state() == nil && kv.db.RunValueLogGC(0.5) == nil {
			}
		}
	}
}

func entry(key string, value []byte, expiresAt time.Time) *bdg.Entry {
	e := bdg.NewEntry([]byte(key), value)
	if !expiresAt.IsZero() {
		e.ExpiresAt = expiresAtSeconds(expiresAt)
	}
	return e
}

// expiresAtSeconds converts an expiry to Badger's: Unix seconds, the entry
// being gone once that second has begun. Rounding down means an entry may
// go up to a second early but never outlives what was asked (a JWT's exp is
// whole seconds too), and an expiry already past is gone at once. Zero
// means "never" to Badger, so anything at or before the epoch becomes 1.
func expiresAtSeconds(t time.Time) uint64 {
	if s := t.Unix(); s > 1 {
		return uint64(s)
	}
	return 1
}

// errEmptyKey refuses writes to the empty key, which Badger cannot store.
var errEmptyKey = errors.New("badger: empty key")

func (kv *KV) Get(_ context.Context, key string) ([]byte, error) {
	if key == "" {
		return nil, store.ErrNotFound
	}
	var out []byte
	err := kv.db.View(func(txn *bdg.Txn) error {
		item, err := txn.Get([]byte(key))
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, bdg.ErrKeyNotFound) {
		return nil, store.ErrNotFound
	}
	return out, err
}

func (kv *KV) Create(ctx context.Context, key string, value []byte, expiresAt time.Time) error {
	if key == "" {
		return errEmptyKey
	}
	return kv.Apply(ctx, store.CreateWrite(key, value, expiresAt))
}

func (kv *KV) Put(_ context.Context, key string, value []byte, expiresAt time.Time) error {
	if key == "" {
		return errEmptyKey
	}
	if err := kv.room.check(len(key) + len(value)); err != nil {
		return err
	}
	return kv.db.Update(func(txn *bdg.Txn) error {
		return txn.SetEntry(entry(key, value, expiresAt))
	})
}

func (kv *KV) Update(ctx context.Context, key string, fn func([]byte) ([]byte, error)) error {
	if key == "" {
		return store.ErrNotFound
	}
	return kv.Apply(ctx, store.UpdateWrite(key, fn))
}

func (kv *KV) Apply(ctx context.Context, writes ...store.Write) error {
	if err := store.CheckWrites(writes); err != nil {
		return err
	}
	keys := make([]string, len(writes))
	size := 0
	for i, w := range writes {
		keys[i] = w.Key
		size += len(w.Key) + len(w.Value)
	}
	if err := kv.room.check(size); err != nil {
		return err
	}
	unlock := kv.lock(keys...)
	defer unlock()
	return kv.retry(ctx, func() error {
		return kv.db.Update(func(txn *bdg.Txn) error {
			for _, w := range writes {
				e, err := prepare(txn, w)
				if err != nil {
					return err
				}
				if err := txn.SetEntry(e); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// prepare checks w's condition within txn and returns the entry to set.
func prepare(txn *bdg.Txn, w store.Write) (*bdg.Entry, error) {
	item, err := txn.Get([]byte(w.Key))
	live := err == nil
	if err != nil && !errors.Is(err, bdg.ErrKeyNotFound) {
		return nil, err
	}
	if w.Op == store.OpCreate {
		if live {
			return nil, store.ErrConflict
		}
		return entry(w.Key, w.Value, w.ExpiresAt), nil
	}
	if !live {
		return nil, store.ErrNotFound
	}
	old, err := item.ValueCopy(nil)
	if err != nil {
		return nil, err
	}
	value, err := w.Fn(old)
	if err != nil {
		return nil, err
	}
	e := bdg.NewEntry([]byte(w.Key), value)
	e.ExpiresAt = item.ExpiresAt() // 0, "never", stays so
	return e, nil
}

// lock serialises the conditional writes (Create, Update, Apply) of the
// given keys within this process (the only one that can open the
// directory), so that a hot key such as a refresh-token family's does not
// make its writers fail Badger's optimistic conflict check over and over.
// Keys share a fixed set of stripes, taken in ascending order so that two
// batches cannot deadlock: unrelated keys rarely wait for each other.
func (kv *KV) lock(keys ...string) (unlock func()) {
	idx := make([]int, 0, len(keys))
	for _, key := range keys {
		h := fnv.New32a()
		_, _ = h.Write([]byte(key))
		idx = append(idx, int(h.Sum32()%uint32(len(kv.stripes))))
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		kv.stripes[i].Lock()
	}
	return func() {
		for _, i := range idx {
			kv.stripes[i].Unlock()
		}
	}
}

// retry re-runs a transaction that lost an optimistic-concurrency race (a
// Put or Delete of the same key slipped in), so that Create and Update
// behave as compare-and-swap. It backs off with jitter and gives up when
// ctx ends.
func (kv *KV) retry(ctx context.Context, txn func() error) error {
	var err error
	for attempt := range 50 {
		if err = txn(); !errors.Is(err, bdg.ErrConflict) {
			return err
		}
		backoff := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 4)))
		select {
		case <-ctx.Done():
			return fmt.Errorf("badger: gave up after a write conflict: %w", ctx.Err())
		case <-time.After(backoff):
		}
	}
	return fmt.Errorf("badger: too much contention: %w", store.ErrConflict)
}

func (kv *KV) Delete(_ context.Context, key string) error {
	if key == "" {
		return nil
	}
	if err := kv.room.check(len(key)); err != nil {
		return err
	}
	return kv.db.Update(func(txn *bdg.Txn) error { return txn.Delete([]byte(key)) })
}

func (kv *KV) Scan(ctx context.Context, prefix string, fn func(string, []byte) error) error {
	return kv.db.View(func(txn *bdg.Txn) error {
		it := txn.NewIterator(bdg.IteratorOptions{Prefix: []byte(prefix), PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			value, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if err := fn(string(item.Key()), value); err != nil {
				return err
			}
		}
		return nil
	})
}

// CheckWrite returns store.ErrFull while writes are refused for lack of
// free space.
func (kv *KV) CheckWrite() error { return kv.room.state() }

// Close stops garbage collection and closes the database.
func (kv *KV) Close() error {
	var err error
	kv.closeOnce.Do(func() {
		close(kv.stopGC)
		<-kv.gcDone
		err = kv.db.Close()
	})
	return err
}

// badgerLogger sends Badger's own log lines to slog, warnings and up only.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) logger() *slog.Logger {
	if b.l != nil {
		return b.l
	}
	return slog.Default()
}
func (b badgerLogger) Errorf(f string, a ...any) {
	b.logger().Error(fmt.Sprintf(f, a...), "component", "badger")
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.logger().Warn(fmt.Sprintf(f, a...), "component", "badger")
}
func (b badgerLogger) Infof(string, ...any)  {}
func (b badgerLogger) Debugf(string, ...any) {}
