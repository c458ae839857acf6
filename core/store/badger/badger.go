// Package badger is the durable store.KV on Badger v4, the default backend.
package badger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bdg "github.com/dgraph-io/badger/v4"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

var _ store.KV = (*KV)(nil)

// Options configure the backend.
type Options struct {
	// SyncWrites makes every commit wait for fsync, so that an acknowledged
	// write survives a power loss and not only a killed process.
	SyncWrites bool
	// InMemory runs Badger without a directory (tests).
	InMemory bool
	Logger   *slog.Logger
}

// KV is a Badger database.
type KV struct {
	db        *bdg.DB
	closeOnce sync.Once
	stopGC    chan struct{}
	gcDone    chan struct{}
}

// Open opens (creating if needed) the database in dir.
func Open(dir string, opts Options) (*KV, error) {
	bo := bdg.DefaultOptions(dir).
		WithSyncWrites(opts.SyncWrites).
		WithLogger(badgerLogger{opts.Logger}).
		WithNumVersionsToKeep(1).
		// Small tables and caches: Gatehouse stores small records, and
		// the defaults reserve hundreds of MiB.
		WithMemTableSize(16 << 20).
		WithValueLogFileSize(64 << 20).
		WithBlockCacheSize(32 << 20).
		WithIndexCacheSize(16 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8)
	if opts.InMemory {
		bo = bo.WithInMemory(true).WithDir("").WithValueDir("")
	}
	db, err := bdg.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("badger: open %s: %w", dir, err)
	}
	kv := &KV{db: db, stopGC: make(chan struct{}), gcDone: make(chan struct{})}
	go kv.collectGarbage()
	return kv, nil
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
			for kv.db.RunValueLogGC(0.5) == nil {
			}
		}
	}
}

func entry(key string, value []byte, expiresAt time.Time) *bdg.Entry {
	e := bdg.NewEntry([]byte(key), value)
	if !expiresAt.IsZero() {
		ttl := time.Until(expiresAt)
		if ttl < time.Second {
			ttl = time.Second
		}
		e = e.WithTTL(ttl)
	}
	return e
}

func (kv *KV) Get(_ context.Context, key string) ([]byte, error) {
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

func (kv *KV) Create(_ context.Context, key string, value []byte, expiresAt time.Time) error {
	return kv.retry(func() error {
		return kv.db.Update(func(txn *bdg.Txn) error {
			if _, err := txn.Get([]byte(key)); err == nil {
				return store.ErrConflict
			} else if !errors.Is(err, bdg.ErrKeyNotFound) {
				return err
			}
			return txn.SetEntry(entry(key, value, expiresAt))
		})
	})
}

func (kv *KV) Put(_ context.Context, key string, value []byte, expiresAt time.Time) error {
	return kv.db.Update(func(txn *bdg.Txn) error {
		return txn.SetEntry(entry(key, value, expiresAt))
	})
}

func (kv *KV) Update(_ context.Context, key string, fn func([]byte) ([]byte, error)) error {
	return kv.retry(func() error {
		return kv.db.Update(func(txn *bdg.Txn) error {
			item, err := txn.Get([]byte(key))
			if errors.Is(err, bdg.ErrKeyNotFound) {
				return store.ErrNotFound
			}
			if err != nil {
				return err
			}
			old, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			value, err := fn(old)
			if err != nil {
				return err
			}
			e := bdg.NewEntry([]byte(key), value)
			if exp := item.ExpiresAt(); exp != 0 {
				e.ExpiresAt = exp
			}
			return txn.SetEntry(e)
		})
	})
}

// retry re-runs a transaction that lost an optimistic-concurrency race, so
// that Create and Update behave as compare-and-swap.
func (kv *KV) retry(txn func() error) error {
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if err = txn(); !errors.Is(err, bdg.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("badger: too much contention: %w", store.ErrConflict)
}

func (kv *KV) Delete(_ context.Context, key string) error {
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
