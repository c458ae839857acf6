// Package badger is the durable store.KV on Badger v4, the default backend.
package badger

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	bdg "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

var (
	_ store.KV           = (*KV)(nil)
	_ store.WriteChecker = (*KV)(nil)
	_ store.Backuper     = (*KV)(nil)
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
	// verifyAll makes Open read every value, not only the value log's
	// (Verify).
	verifyAll bool
}

// KV is a Badger database.
type KV struct {
	db   *bdg.DB
	dir  string
	log  *slog.Logger
	room *headroom
	// mark is the marker as last written; Close and checkpoints rewrite
	// it with the current commit.
	markMu sync.Mutex
	mark   marker
	// writing is held (read) by every write, and taken by Close so that
	// the commit it records is the last.
	writing   sync.RWMutex
	closed    bool
	stripes   [64]sync.Mutex
	closeOnce sync.Once
	// valuesChecked is how many keys Open went through to check the value
	// log.
	valuesChecked int
	stopGC        chan struct{}
	gcDone        chan struct{}
}

// Open opens (creating if needed) the database in dir. A directory that
// lost or damaged data (see marker.go) is refused with store.ErrDamaged,
// naming the directory, what is wrong and what to do.
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
	held, err := HoldsDatabase(dir)
	if err != nil {
		return nil, fmt.Errorf("badger: open %s: %w", dir, err)
	}
	mark, err := readMarker(dir)
	if err != nil {
		return nil, err
	}
	if err := checkTables(bo); err != nil {
		return nil, err
	}
	// Before Badger opens it: opening adds a value-log file of its own,
	// mapped at twice the file size.
	logsEmpty := valueLogsEmpty(dir)
	db, err := openDB(bo)
	if err != nil {
		return nil, err
	}
	next, err := checkInstallation(dir, db, mark, held, log)
	var checked int
	if err == nil {
		checked, err = checkValues(dir, db, bo.ValueThreshold, opts.verifyAll, !logsEmpty)
	}
	if err == nil {
		err = writeMarker(dir, next)
	}
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	kv := &KV{db: db, dir: dir, log: log, mark: next, room: newHeadroom(dir, reserve, log),
		valuesChecked: checked, stopGC: make(chan struct{}), gcDone: make(chan struct{})}
	go kv.background()
	return kv, nil
}

// SettleDir opens the stopped data directory dir, waits until no
// compaction is due (Settle) and closes it, until a new open finds none
// due (at most five rounds): a level's target follows the size of the
// levels below it, and Close flushes what was still in memory, so one
// round can leave a level over its size. A bulk write (gatehouse store
// copy, a benchmark's seed) leaves compactions behind that a server would
// otherwise run under its first requests.
func SettleDir(ctx context.Context, dir string, opts Options) error {
	for range 5 {
		kv, err := Open(dir, opts)
		if err != nil {
			return err
		}
		err = kv.Settle(ctx)
		if cerr := kv.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if due, err := compactionDue(dir, opts); err != nil || !due {
			return err
		}
	}
	return errors.New("badger: compactions still due after five rounds")
}

// compactionDue opens dir without compactors, as the next start will find
// it, and tells whether a compaction is due.
func compactionDue(dir string, opts Options) (bool, error) {
	db, err := bdg.Open(badgerOptions(dir, opts).WithNumCompactors(0).WithCompactL0OnClose(false))
	if err != nil {
		return false, fmt.Errorf("badger: open %s: %w", dir, err)
	}
	due := !settled(db.Levels())
	return due, db.Close()
}

// Settle waits until no level of the database is over its size, so that
// no compaction is due on what is written to its tables, or until ctx
// ends. What is still in memory is not counted: see SettleDir.
func (kv *KV) Settle(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if settled(kv.db.Levels()) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("badger: compactions still due: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// settled tells whether no level is due for compaction: Badger compacts a
// level whose score (size against target, or level 0's table count
// against NumLevelZeroTables) reaches 1.
func settled(levels []bdg.LevelInfo) bool {
	for _, l := range levels {
		if l.Score >= 1 {
			return false
		}
	}
	return true
}

// openDB opens Badger, turning what it says of damaged files, and its
// panics, into store.ErrDamaged.
func openDB(bo bdg.Options) (db *bdg.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, damaged(bo.Dir, "the storage engine failed opening it (%v)", r)
		}
	}()
	db, err = bdg.Open(bo)
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, fs.ErrPermission), strings.Contains(err.Error(), "Another process is using this Badger database"):
		return nil, fmt.Errorf("badger: open %s: %w", bo.Dir, err)
	}
	return nil, damaged(bo.Dir, "the storage engine cannot open it: %v", err)
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
		// A value read from the value log is checked against its CRC, so
		// that a damaged log is an error, not a wrong record; values kept
		// in the tables were checked with their table at Open.
		WithVerifyValueChecksum(true).
		// Every table is checked whole before Open (checkTables); while
		// running, each block read from a table is checked too, so that a
		// table damaged under a running server is an error, not a wrong
		// record. The CRC of a block costs less than the noise of a read
		// (BenchmarkGetChecksum).
		WithChecksumVerificationMode(options.OnBlockRead).
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

// checkpointEvery is how often a running server records its commit in
// the marker, so that a restart after a crash finds the writes up to there
// or refuses to start.
const checkpointEvery = time.Second

// background reclaims value-log space left by expired and rewritten
// entries, and records checkpoints in the marker.
func (kv *KV) background() {
	defer close(kv.gcDone)
	gc := time.NewTicker(5 * time.Minute)
	defer gc.Stop()
	checkpoint := time.NewTicker(checkpointEvery)
	defer checkpoint.Stop()
	for {
		select {
		case <-kv.stopGC:
			return
		case <-gc.C:
			// Rewriting the value log writes first and frees after.
			for kv.room.state() == nil && kv.db.RunValueLogGC(0.5) == nil {
			}
		case <-checkpoint.C:
			if err := kv.checkpoint(); err != nil {
				kv.log.Warn("storage: recording a checkpoint in the marker failed", "dir", kv.dir, "error", err)
			}
		}
	}
}

// checkpoint records in the marker the commit the database has durably
// reached (read first, then synced), if it moved.
func (kv *KV) checkpoint() error {
	kv.markMu.Lock()
	defer kv.markMu.Unlock()
	commit, err := commitVersion(kv.db)
	if err != nil || commit == kv.mark.Commit {
		return err
	}
	if err := kv.db.Sync(); err != nil {
		return err
	}
	if kv.room.state() != nil {
		return nil // a full disk: the marker waits, it only gets stricter
	}
	next := kv.mark
	next.Commit = commit
	if err := writeMarker(kv.dir, next); err != nil {
		return err
	}
	kv.mark = next
	return nil
}

// commit is what every write transaction adds: it moves commitKey's
// version to the transaction's own.
func commit(txn *bdg.Txn) error { return txn.Set([]byte(commitKey), nil) }

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
		out, err = kv.value(item)
		return err
	})
	if errors.Is(err, bdg.ErrKeyNotFound) {
		return nil, store.ErrNotFound
	}
	return out, unavailable(err)
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
	kv.writing.RLock()
	defer kv.writing.RUnlock()
	if kv.closed {
		return unavailable(bdg.ErrDBClosed)
	}
	return unavailable(kv.db.Update(func(txn *bdg.Txn) error {
		if err := txn.SetEntry(entry(key, value, expiresAt)); err != nil {
			return err
		}
		return commit(txn)
	}))
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
	kv.writing.RLock()
	defer kv.writing.RUnlock()
	if kv.closed {
		return unavailable(bdg.ErrDBClosed)
	}
	return unavailable(kv.retry(ctx, func() error {
		return kv.db.Update(func(txn *bdg.Txn) error {
			for _, w := range writes {
				e, err := prepare(kv.dir, txn, w)
				if err != nil {
					return err
				}
				if err := txn.SetEntry(e); err != nil {
					return err
				}
			}
			return commit(txn)
		})
	}))
}

// unavailable marks the failures that say nothing of the request or the
// data, and may pass (a closed or closing database, a full or read-only
// filesystem), as store.ErrUnavailable: answered 503, not 500.
func unavailable(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	if errors.Is(err, bdg.ErrDBClosed) || errors.Is(err, bdg.ErrBlockedWrites) ||
		errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// value is the item's value. Badger logs a value it cannot read from the
// value log (truncated, or failing its checksum) and returns it empty; this
// returns store.ErrDamaged instead, so that a damaged record is an error
// that says so, not an empty one.
func (kv *KV) value(item *bdg.Item) ([]byte, error) { return valueOf(kv.dir, item) }

func valueOf(dir string, item *bdg.Item) ([]byte, error) {
	v, err := item.ValueCopy(nil)
	if err == nil && len(v) == 0 && item.ValueSize() > 0 {
		return nil, fmt.Errorf("%w: data directory %s: the value of %q cannot be read from the value log (see the log above; gatehouse store verify checks the whole directory)",
			store.ErrDamaged, dir, strings.ToValidUTF8(string(item.Key()), "?"))
	}
	return v, err
}

// prepare checks w's condition within txn and returns the entry to set.
func prepare(dir string, txn *bdg.Txn, w store.Write) (*bdg.Entry, error) {
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
	old, err := valueOf(dir, item)
	if err != nil {
		return nil, err
	}
	value, err := w.Fn(old)
	if err != nil {
		return nil, err
	}
	if w.Renew != nil {
		return entry(w.Key, value, w.Renew(value)), nil
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
	kv.writing.RLock()
	defer kv.writing.RUnlock()
	if kv.closed {
		return unavailable(bdg.ErrDBClosed)
	}
	return unavailable(kv.db.Update(func(txn *bdg.Txn) error {
		if err := txn.Delete([]byte(key)); err != nil {
			return err
		}
		return commit(txn)
	}))
}

func (kv *KV) Scan(ctx context.Context, prefix string, fn func(string, []byte) error) error {
	return unavailable(kv.db.View(func(txn *bdg.Txn) error {
		it := txn.NewIterator(bdg.IteratorOptions{Prefix: []byte(prefix), PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			if prefix == "" && strings.HasPrefix(string(item.Key()), metaPrefix) {
				continue
			}
			value, err := kv.value(item)
			if err != nil {
				return err
			}
			if err := fn(string(item.Key()), value); err != nil {
				return err
			}
		}
		return nil
	}))
}

// CheckWrite returns store.ErrFull while writes are refused for lack of
// free space.
func (kv *KV) CheckWrite() error { return kv.room.state() }

// Close stops garbage collection, closes the database and records in the
// marker the commit it stopped at.
func (kv *KV) Close() error {
	var err error
	kv.closeOnce.Do(func() {
		close(kv.stopGC)
		<-kv.gcDone
		kv.writing.Lock()
		kv.closed = true
		kv.writing.Unlock()
		commit, cerr := commitVersion(kv.db)
		err = kv.db.Close()
		if err == nil && cerr == nil {
			kv.markMu.Lock()
			defer kv.markMu.Unlock()
			next := kv.mark
			next.Commit, next.Stopped = commit, true
			err = writeMarker(kv.dir, next)
		}
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

func (kv *KV) ScanPage(ctx context.Context, prefix string, p store.Page) ([]store.Entry, error) {
	if err := store.CheckPage(p); err != nil {
		return nil, err
	}
	out := make([]store.Entry, 0, min(p.Limit, 256))
	err := kv.db.View(func(txn *bdg.Txn) error {
		opts := bdg.IteratorOptions{Prefix: []byte(prefix), Reverse: p.Reverse, PrefetchValues: true, PrefetchSize: min(p.Limit, 64)}
		start := []byte(p.After)
		if p.Reverse {
			// Backwards, Badger's Rewind within a prefix starts below it,
			// and its Valid ends at the first key outside it: start at the
			// prefix's successor, or past every key, and test the prefix
			// here.
			opts.Prefix = nil
			if end := store.PrefixEnd([]byte(prefix)); p.After == "" || (end != nil && p.After > string(end)) {
				start = end
			}
		} else if p.After < prefix {
			start = nil // Rewind: the first key with the prefix
		}
		it := txn.NewIterator(opts)
		defer it.Close()
		if start == nil {
			it.Rewind()
		} else {
			it.Seek(start)
		}
		for ; it.Valid() && len(out) < p.Limit; it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			key := string(item.Key())
			switch {
			case p.After != "" && key == p.After:
				continue // Seek lands on the cursor itself
			case p.Reverse && !strings.HasPrefix(key, prefix):
				if key < prefix {
					return nil
				}
				continue // the prefix's successor itself
			case prefix == "" && strings.HasPrefix(key, metaPrefix):
				continue
			}
			value, err := kv.value(item)
			if err != nil {
				return err
			}
			e := store.Entry{Key: key, Value: value}
			if at := item.ExpiresAt(); at > 0 {
				e.ExpiresAt = time.Unix(int64(at), 0)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, unavailable(err)
	}
	return out, nil
}
