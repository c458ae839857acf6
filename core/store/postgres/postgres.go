// Package postgres is a store.KV on PostgreSQL (pgx), for several
// Gatehouse replicas sharing one database. It keeps to SQL that
// CockroachDB and YugabyteDB accept as well: row locks (SELECT ... FOR
// UPDATE) and INSERT ... ON CONFLICT, no advisory locks, and every
// transaction retried on a serialization failure.
package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

var _ store.KV = (*KV)(nil)

// Options tunes the connection pool and the sweep of expired entries.
// Zero values keep pgxpool's defaults (or those the DSN sets, such as
// pool_max_conns) and the sweep's.
type Options struct {
	MaxConns        int32
	MinConns        int32
	MaxConnLifetime time.Duration
	MaxConnIdleTime time.Duration
	// SweepInterval is the pause between two sweeps of expired entries
	// (default one minute); SweepBatch the entries one statement deletes
	// (default 500), so that a sweep never holds many row locks at once.
	SweepInterval time.Duration
	SweepBatch    int
	// WaitForDatabase makes Open succeed when the database does not
	// answer: the KV answers store.ErrUnavailable until the database
	// answers and the schema is migrated, which Open goes on trying in
	// the background. A server starts this way; tools fail at once.
	WaitForDatabase bool
	// CacheEntries, when positive, keeps up to that many records of the
	// key spaces store.Cacheable names (clients) in memory, kept right by
	// the database's notifications of every write to them (cache.go). A
	// database without LISTEN/NOTIFY gets no cache.
	CacheEntries int

	// cacheable replaces store.Cacheable, for tests.
	cacheable []string
}

// opTimeout bounds every call to the database: one that does not answer
// (a host that stopped, a network that drops packets) makes a call
// store.ErrUnavailable after it, never a request that hangs.
const opTimeout = 10 * time.Second

// retryOpenEvery is how often a KV opened with WaitForDatabase tries the
// database again.
const retryOpenEvery = time.Second

// sweepBatchesPerRound bounds one sweep; what is left waits for the next.
const sweepBatchesPerRound = 20

// KV is a store.KV on one table, gatehouse_kv (key bytea, value bytea,
// expires_at timestamptz).
type KV struct {
	pool  *pgxpool.Pool
	now   func() time.Time
	batch int
	// cacheable are the key spaces whose writes notify (store.Cacheable);
	// notify is whether the database can (probeNotify); cache, when not
	// nil, holds some of their records.
	cacheable []string
	notify    atomic.Bool
	cache     *cache
	// migrated is false while a KV opened with WaitForDatabase waits for
	// the database and its schema; every call is ErrUnavailable meanwhile.
	migrated atomic.Bool

	stop     context.CancelFunc
	closing  context.Context // ends with Close
	swept    chan struct{}   // closed when the sweeper has returned
	listened chan struct{}   // closed when the listener has returned
	// lifecycle orders ready and Close: a KV that became ready after
	// Close started starts no listener.
	lifecycle sync.Mutex
	closed    bool
	listening bool
	closeOnce sync.Once
}

// Open connects to dsn, migrates the schema and starts the sweeper.
// An unreachable database is store.ErrUnavailable.
func Open(ctx context.Context, dsn string, opts Options) (*KV, error) {
	if !opts.WaitForDatabase {
		pool, err := NewPool(ctx, dsn, opts)
		if err != nil {
			return nil, err
		}
		if _, err := Migrate(ctx, pool); err != nil {
			pool.Close()
			return nil, err
		}
		kv := newKV(pool, opts)
		if err := kv.ready(ctx); err != nil {
			_ = kv.Close()
			return nil, err
		}
		return kv, nil
	}
	cfg, err := poolConfig(dsn, opts)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg) // connects on first use
	if err != nil {
		return nil, mapErr("connect", err)
	}
	kv := newKV(pool, opts)
	mctx, cancel := context.WithTimeout(ctx, opTimeout)
	_, err = Migrate(mctx, pool)
	if err == nil {
		err = kv.ready(mctx)
	}
	cancel()
	switch {
	case err == nil:
	case errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded):
		slog.Warn("postgres: the database does not answer; serving what needs no database (discovery, JWKS) until it does",
			"host", cfg.ConnConfig.Host, "port", cfg.ConnConfig.Port, "error", err)
		go kv.waitForDatabase(cfg.ConnConfig.Host, cfg.ConnConfig.Port)
	default:
		_ = kv.Close()
		return nil, err
	}
	return kv, nil
}

// waitForDatabase migrates the schema once the database answers, until
// Close.
func (kv *KV) waitForDatabase(host string, port uint16) {
	t := time.NewTicker(retryOpenEvery)
	defer t.Stop()
	for {
		select {
		case <-kv.closing.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(kv.closing, opTimeout)
		_, err := Migrate(ctx, kv.pool)
		if err == nil {
			err = kv.ready(ctx)
		}
		cancel()
		if err == nil {
			slog.Info("postgres: the database answers; schema up to date", "host", host, "port", port)
			return
		}
		if !errors.Is(err, store.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) && kv.closing.Err() == nil {
			slog.Error("postgres: migrating the schema failed; retrying", "error", err)
		}
	}
}

// ready follows a migration: it finds out whether the database has
// notifications, starts the cache's listener if it has, and opens the KV
// to calls.
func (kv *KV) ready(ctx context.Context) error {
	if err := kv.probeNotify(ctx); err != nil {
		return err
	}
	kv.lifecycle.Lock()
	defer kv.lifecycle.Unlock()
	if kv.closed {
		return errClosed
	}
	if kv.cache != nil && kv.notify.Load() {
		kv.listening = true
		go kv.listen()
	}
	kv.migrated.Store(true)
	return nil
}

var errClosed = fmt.Errorf("postgres: %w: closed", store.ErrUnavailable)

// errWaiting is what every call answers while the KV waits for the
// database.
var errWaiting = fmt.Errorf("postgres: %w: the database has not answered since the server started", store.ErrUnavailable)

// bound limits a call to opTimeout, and refuses it while the KV waits for
// the database.
func (kv *KV) bound(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if !kv.migrated.Load() {
		return ctx, func() {}, errWaiting
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	return ctx, cancel, nil
}

// NewPool opens a connection pool on dsn and checks that the database
// answers.
func NewPool(ctx context.Context, dsn string, opts Options) (*pgxpool.Pool, error) {
	cfg, err := poolConfig(dsn, opts)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, mapErr("connect", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s:%d: %w: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, store.ErrUnavailable, err)
	}
	return pool, nil
}

// poolConfig parses dsn and applies opts.
func poolConfig(dsn string, opts Options) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgconn's parse errors may quote the DSN, password included.
		return nil, errors.New("postgres: invalid dsn (see https://pkg.go.dev/github.com/jackc/pgx/v5/pgconn#ParseConfig)")
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.MinConns > 0 {
		cfg.MinConns = opts.MinConns
	}
	if opts.MaxConnLifetime > 0 {
		cfg.MaxConnLifetime = opts.MaxConnLifetime
	}
	if opts.MaxConnIdleTime > 0 {
		cfg.MaxConnIdleTime = opts.MaxConnIdleTime
	}
	return cfg, nil
}

func newKV(pool *pgxpool.Pool, opts Options) *KV {
	ctx, stop := context.WithCancel(context.Background())
	kv := &KV{pool: pool, now: time.Now, batch: opts.SweepBatch, stop: stop, closing: ctx,
		swept: make(chan struct{}), listened: make(chan struct{}), cacheable: store.Cacheable}
	if kv.batch <= 0 {
		kv.batch = 500
	}
	if opts.cacheable != nil {
		kv.cacheable = opts.cacheable
	}
	if opts.CacheEntries > 0 {
		kv.cache = newCache(opts.CacheEntries, kv.cacheable)
	}
	interval := opts.SweepInterval
	if interval <= 0 {
		interval = time.Minute
	}
	go kv.sweeper(ctx, interval)
	return kv
}

// Ping checks that the database answers.
func (kv *KV) Ping(ctx context.Context) error {
	ctx, cancel, err := kv.bound(ctx)
	defer cancel()
	if err != nil {
		return err
	}
	return mapErr("ping", kv.pool.Ping(ctx))
}

// expiry is the column value of an expiry: NULL for never.
func expiry(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// nonNil keeps an empty value from becoming SQL NULL.
func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

var errEmptyKey = errors.New("postgres: empty key")

func (kv *KV) Get(ctx context.Context, key string) ([]byte, error) {
	if key == "" {
		return nil, store.ErrNotFound
	}
	ctx, cancel, err := kv.bound(ctx)
	defer cancel()
	if err != nil {
		return nil, err
	}
	// A key the cache covers is answered from it when it can be, else
	// read and filled in (cache.fill drops what a write overtook).
	now := kv.now()
	cached := kv.cache.covers(key)
	if cached {
		if v, ok := kv.cache.get(key, now); ok {
			return v, nil
		}
	}
	t := kv.cache.begin()
	var value []byte
	var expires *time.Time
	err = kv.pool.QueryRow(ctx, `SELECT value, expires_at FROM gatehouse_kv WHERE key = $1 AND (expires_at IS NULL OR expires_at > $2)`,
		[]byte(key), now).Scan(&value, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, mapErr("get", err)
	}
	value = nonNil(value)
	if cached {
		kv.cache.fill(t, key, value, deref(expires))
	}
	return value, nil
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

var _ store.MultiGetter = (*KV)(nil)

// GetMany reads keys in one statement (store.ReadAhead).
func (kv *KV) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	ctx, cancel, err := kv.bound(ctx)
	defer cancel()
	if err != nil {
		return nil, err
	}
	now := kv.now()
	values := make([][]byte, len(keys))
	raw := make([][]byte, 0, len(keys))
	for i, k := range keys {
		if kv.cache.covers(k) {
			if v, ok := kv.cache.get(k, now); ok {
				values[i] = v
				continue
			}
		}
		raw = append(raw, []byte(k))
	}
	if len(raw) == 0 {
		return values, nil
	}
	t := kv.cache.begin()
	rows, err := kv.pool.Query(ctx, `SELECT key, value, expires_at FROM gatehouse_kv WHERE key = ANY($1) AND (expires_at IS NULL OR expires_at > $2)`,
		raw, now)
	if err != nil {
		return nil, mapErr("get", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key, value []byte
		var expires *time.Time
		if err := rows.Scan(&key, &value, &expires); err != nil {
			return nil, mapErr("get", err)
		}
		value = nonNil(value)
		for i, k := range keys {
			if k == string(key) {
				values[i] = value
			}
		}
		if kv.cache.covers(string(key)) {
			kv.cache.fill(t, string(key), value, deref(expires))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr("get", err)
	}
	return values, nil
}

// createSQL inserts an entry, or replaces one that has expired; it
// affects no row when a live entry is there. The outer WHERE is checked
// again on a row a concurrent transaction changed.
const createSQL = `INSERT INTO gatehouse_kv (key, value, expires_at) VALUES ($1, $2, $3)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
WHERE gatehouse_kv.expires_at IS NOT NULL AND gatehouse_kv.expires_at <= $4`

func (kv *KV) Create(ctx context.Context, key string, value []byte, expiresAt time.Time) error {
	if key == "" {
		return errEmptyKey
	}
	return kv.retry(ctx, func(ctx context.Context) error {
		tag, err := kv.execNotified(ctx, key, createSQL, []byte(key), nonNil(value), expiry(expiresAt), kv.now())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrConflict
		}
		return nil
	})
}

func (kv *KV) Put(ctx context.Context, key string, value []byte, expiresAt time.Time) error {
	if key == "" {
		return errEmptyKey
	}
	return kv.retry(ctx, func(ctx context.Context) error {
		_, err := kv.execNotified(ctx, key, `INSERT INTO gatehouse_kv (key, value, expires_at) VALUES ($1, $2, $3)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
			[]byte(key), nonNil(value), expiry(expiresAt))
		return err
	})
}

func (kv *KV) Update(ctx context.Context, key string, fn func(old []byte) ([]byte, error)) error {
	if key == "" {
		return store.ErrNotFound
	}
	return kv.Apply(ctx, store.UpdateWrite(key, fn))
}

func (kv *KV) Delete(ctx context.Context, key string) error {
	return kv.retry(ctx, func(ctx context.Context) error {
		_, err := kv.execNotified(ctx, key, `DELETE FROM gatehouse_kv WHERE key = $1`, []byte(key))
		return err
	})
}

// Apply runs the batch in one round trip when every update comes with
// the value its caller read (Write.Expect) and it has not changed since:
// see applyExpected. Otherwise, or when that finds a row changed, taken or
// gone, it runs the batch in one transaction of two round trips: BEGIN
// with a SELECT ... FOR UPDATE of the batch's rows (in key order), then,
// once every write is checked against them and the Update functions have
// run, the writes with COMMIT. Holding the rows' locks, no write can miss
// its row; a Create of a key that was absent and that a concurrent
// transaction inserts meanwhile fails on the primary key, which aborts the
// transaction (its COMMIT then rolls back) and fails the batch with
// ErrConflict.
func (kv *KV) Apply(ctx context.Context, writes ...store.Write) error {
	if err := store.CheckWrites(writes); err != nil {
		return err
	}
	return kv.retry(ctx, func(ctx context.Context) error {
		if expected(writes) {
			if err := kv.applyExpected(ctx, writes); !errors.Is(err, errChanged) {
				return err
			}
		}
		return kv.apply(ctx, writes)
	})
}

// expected reports whether every update of writes carries Expect.
func expected(writes []store.Write) bool {
	for _, w := range writes {
		if w.Op == store.OpUpdate && w.Expect == nil {
			return false
		}
	}
	return true
}

// errChanged is applyExpected's answer when a row is not as the batch
// expected: an update's entry changed, expired or went, a create's key is
// taken (live or expired), or an Update function refused the expected
// value. It wrote nothing; the locked transaction then finds out which
// and answers as Apply must.
var errChanged = errors.New("postgres: a row is not as expected")

const (
	// swapSQL and swapRenewSQL update an entry only if it is live and
	// holds what the caller read; otherwise they divide by zero, which
	// aborts the batch's transaction, so nothing of it commits.
	swapSQL = `WITH w AS (UPDATE gatehouse_kv SET value = $2
WHERE key = $1 AND value = $3 AND (expires_at IS NULL OR expires_at > $4) RETURNING 1)
SELECT 1 / count(*) FROM w`
	swapRenewSQL = `WITH w AS (UPDATE gatehouse_kv SET value = $2, expires_at = $5
WHERE key = $1 AND value = $3 AND (expires_at IS NULL OR expires_at > $4) RETURNING 1)
SELECT 1 / count(*) FROM w`
	// divisionByZero is the SQLSTATE of a swap that found its row changed.
	divisionByZero = "22012"
)

// applyExpected runs the batch in one round trip, without BEGIN and
// COMMIT: pgx sends a batch as one pipeline ending in a single Sync, and
// PostgreSQL runs the statements before a Sync as one implicit
// transaction, committed (durably, as any commit) at the Sync only if none
// failed. The Update functions run on the expected values beforehand;
// each update is a compare-and-swap against its expected value and each
// create a plain INSERT, so that a row not as expected fails the
// transaction (errChanged). Of two batches spending the same entry, the
// second waits on the first's row lock and then finds the row changed.
func (kv *KV) applyExpected(ctx context.Context, writes []store.Write) error {
	now := kv.now()
	batch := &pgx.Batch{}
	for _, w := range writes {
		switch w.Op {
		case store.OpCreate:
			batch.Queue(insertSQL, []byte(w.Key), nonNil(w.Value), expiry(w.ExpiresAt))
		case store.OpUpdate:
			value, err := w.Fn(bytes.Clone(w.Expect))
			if err != nil {
				// Whether the function refuses the current value is for
				// the locked transaction to find out.
				return errChanged
			}
			value = nonNil(bytes.Clone(value))
			if w.Renew != nil {
				batch.Queue(swapRenewSQL, []byte(w.Key), value, w.Expect, now, expiry(w.Renew(value)))
			} else {
				batch.Queue(swapSQL, []byte(w.Key), value, w.Expect, now)
			}
		}
	}
	n := len(writes) + kv.queueNotify(batch, writes)
	defer kv.forgetWritten(writes)
	results := kv.pool.SendBatch(ctx, batch)
	for range n {
		if _, err := results.Exec(); err != nil {
			_ = results.Close()
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && (pgErr.Code == divisionByZero || pgErr.Code == uniqueViolation) {
				return errChanged
			}
			return err
		}
	}
	return results.Close()
}

// forgetWritten drops the cached records a batch wrote, whether it
// committed or not: this process reads them again, and so sees its own
// writes at once.
func (kv *KV) forgetWritten(writes []store.Write) {
	for _, w := range writes {
		if kv.cache.covers(w.Key) {
			kv.cache.forget(w.Key)
		}
	}
}

// fnError carries an Update function's error through retry, which
// returns it unchanged.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

type current struct {
	value []byte
	live  bool
}

const (
	lockSQL = `SELECT key, value, (expires_at IS NULL OR expires_at > $2)
FROM gatehouse_kv WHERE key = ANY($1) ORDER BY key FOR UPDATE`
	// insertSQL creates an entry whose key was absent; a concurrent
	// insert of it is a unique violation.
	insertSQL = `INSERT INTO gatehouse_kv (key, value, expires_at) VALUES ($1, $2, $3)`
	// replaceSQL creates an entry over an expired one this transaction
	// holds locked, or renews a live one (an update with Renew).
	replaceSQL = `UPDATE gatehouse_kv SET value = $2, expires_at = $3 WHERE key = $1`
	updateSQL  = `UPDATE gatehouse_kv SET value = $2 WHERE key = $1`
)

func (kv *KV) apply(ctx context.Context, writes []store.Write) (err error) {
	now := kv.now()
	conn, err := kv.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer func() {
		// A transaction left open (an error, a failed check) is rolled
		// back before the connection goes back to the pool.
		if pc := conn.Conn().PgConn(); !pc.IsClosed() && pc.TxStatus() != 'I' {
			if _, rbErr := conn.Exec(context.WithoutCancel(ctx), "ROLLBACK"); rbErr != nil {
				_ = pc.Close(context.WithoutCancel(ctx))
			}
		}
		conn.Release()
	}()

	keys := make([][]byte, len(writes))
	for i, w := range writes {
		keys[i] = []byte(w.Key)
	}
	lock := &pgx.Batch{}
	lock.Queue("BEGIN")
	lock.Queue(lockSQL, keys, now)
	found, err := lockRows(conn.SendBatch(ctx, lock), len(writes))
	if err != nil {
		return err
	}

	batch := &pgx.Batch{}
	for _, w := range writes {
		cur, exists := found[w.Key]
		switch w.Op {
		case store.OpCreate:
			switch {
			case cur.live:
				return store.ErrConflict
			case exists:
				batch.Queue(replaceSQL, []byte(w.Key), nonNil(w.Value), expiry(w.ExpiresAt))
			default:
				batch.Queue(insertSQL, []byte(w.Key), nonNil(w.Value), expiry(w.ExpiresAt))
			}
		case store.OpUpdate:
			if !cur.live {
				return store.ErrNotFound
			}
			value, err := w.Fn(bytes.Clone(cur.value))
			if err != nil {
				return fnError{err}
			}
			if w.Renew != nil {
				batch.Queue(replaceSQL, []byte(w.Key), nonNil(bytes.Clone(value)), expiry(w.Renew(value)))
			} else {
				batch.Queue(updateSQL, []byte(w.Key), nonNil(bytes.Clone(value)))
			}
		}
	}
	n := len(writes) + kv.queueNotify(batch, writes)
	defer kv.forgetWritten(writes)
	batch.Queue("COMMIT")
	results := conn.SendBatch(ctx, batch)
	for range n {
		if _, err := results.Exec(); err != nil {
			_ = results.Close()
			if isUniqueViolation(err) {
				return store.ErrConflict
			}
			return err
		}
	}
	if _, err := results.Exec(); err != nil { // COMMIT
		_ = results.Close()
		return err
	}
	return results.Close()
}

// lockRows reads the results of BEGIN and the SELECT ... FOR UPDATE: the
// batch's rows found, by key.
func lockRows(results pgx.BatchResults, n int) (map[string]current, error) {
	if _, err := results.Exec(); err != nil { // BEGIN
		_ = results.Close()
		return nil, err
	}
	rows, err := results.Query()
	if err != nil {
		_ = results.Close()
		return nil, err
	}
	found := make(map[string]current, n)
	for rows.Next() {
		var key, value []byte
		var live bool
		if err := rows.Scan(&key, &value, &live); err != nil {
			rows.Close()
			_ = results.Close()
			return nil, err
		}
		found[string(key)] = current{nonNil(value), live}
	}
	if err := rows.Err(); err != nil {
		_ = results.Close()
		return nil, err
	}
	return found, results.Close()
}

// uniqueViolation is the SQLSTATE of an INSERT of a key already there.
const uniqueViolation = "23505"

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == uniqueViolation
}

// scanPage is how many entries Scan reads per query. Scan holds no
// connection or transaction while fn runs, so fn may write.
const scanPage = 128

func (kv *KV) Scan(ctx context.Context, prefix string, fn func(key string, value []byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Keys from prefix (inclusive) to its successor (exclusive): an index
	// range, and bytewise order.
	from, end := []byte(prefix), store.PrefixEnd([]byte(prefix))
	inclusive := true
	for {
		page, err := kv.scanPage(ctx, from, inclusive, end)
		if err != nil {
			return mapErr("scan", err)
		}
		for _, e := range page {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(e.key, e.value); err != nil {
				return err
			}
		}
		if len(page) < scanPage {
			return nil
		}
		from, inclusive = []byte(page[len(page)-1].key), false
	}
}

type entry struct {
	key   string
	value []byte
}

func (kv *KV) scanPage(ctx context.Context, from []byte, inclusive bool, end []byte) ([]entry, error) {
	ctx, cancel, err := kv.bound(ctx)
	defer cancel()
	if err != nil {
		return nil, err
	}
	op := ">"
	if inclusive {
		op = ">="
	}
	sql := `SELECT key, value FROM gatehouse_kv WHERE key ` + op + ` $1 AND (expires_at IS NULL OR expires_at > $2)`
	args := []any{from, kv.now()}
	if end != nil {
		sql += ` AND key < $3`
		args = append(args, end)
	}
	sql += ` ORDER BY key LIMIT ` + fmt.Sprint(scanPage)
	rows, err := kv.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	page := make([]entry, 0, scanPage)
	for rows.Next() {
		var key, value []byte
		if err := rows.Scan(&key, &value); err != nil {
			rows.Close()
			return nil, err
		}
		page = append(page, entry{string(key), nonNil(value)})
	}
	return page, rows.Err()
}

func (kv *KV) ScanPage(ctx context.Context, prefix string, p store.Page) ([]store.Entry, error) {
	if err := store.CheckPage(p); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ctx, cancel, err := kv.bound(ctx)
	defer cancel()
	if err != nil {
		return nil, err
	}
	// The prefix's key range, narrowed by the cursor, and bytewise order
	// both ways.
	from, end := []byte(prefix), store.PrefixEnd([]byte(prefix))
	sql := `SELECT key, value, expires_at FROM gatehouse_kv WHERE key >= $1 AND (expires_at IS NULL OR expires_at > $2)`
	args := []any{from, kv.now()}
	if end != nil {
		args = append(args, end)
		sql += fmt.Sprintf(` AND key < $%d`, len(args))
	}
	order := "ASC"
	if p.After != "" {
		args = append(args, []byte(p.After))
		if p.Reverse {
			sql += fmt.Sprintf(` AND key < $%d`, len(args))
		} else {
			sql += fmt.Sprintf(` AND key > $%d`, len(args))
		}
	}
	if p.Reverse {
		order = "DESC"
	}
	args = append(args, p.Limit)
	sql += fmt.Sprintf(` ORDER BY key %s LIMIT $%d`, order, len(args))
	rows, err := kv.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, mapErr("scan", err)
	}
	out := make([]store.Entry, 0, min(p.Limit, 256))
	for rows.Next() {
		var key, value []byte
		var expires *time.Time
		if err := rows.Scan(&key, &value, &expires); err != nil {
			rows.Close()
			return nil, mapErr("scan", err)
		}
		e := store.Entry{Key: string(key), Value: nonNil(value)}
		if expires != nil {
			e.ExpiresAt = *expires
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr("scan", err)
	}
	return out, nil
}

// Close stops the sweeper and closes the pool.
func (kv *KV) Close() error {
	kv.closeOnce.Do(func() {
		kv.lifecycle.Lock()
		kv.closed = true
		listening := kv.listening
		kv.lifecycle.Unlock()
		kv.stop()
		<-kv.swept
		if listening {
			<-kv.listened
		}
		kv.pool.Close()
	})
	return nil
}

// sweeper deletes expired entries every interval until Close, and a
// second after a round that stopped at its bound with more to delete, so
// that a backlog (records that expired together) drains in bounded
// batches at up to sweepBatchesPerRound × batch entries a second rather
// than that many an interval. Reads never depend on it (they filter on
// expires_at); it only frees the rows for reuse.
func (kv *KV) sweeper(ctx context.Context, interval time.Duration) {
	defer close(kv.swept)
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !kv.migrated.Load() {
			continue
		}
		n, err := kv.sweep(ctx)
		if err != nil && ctx.Err() == nil {
			slog.Warn("postgres: sweeping expired entries", "error", err)
		} else if n > 0 {
			slog.Debug("postgres: swept expired entries", "deleted", n)
		}
		t.Reset(nextSweep(interval, n, int64(kv.batch)*sweepBatchesPerRound))
	}
}

// sweepBacklogPause is the pause after a sweep round that reached its
// bound, when more expired entries are likely waiting.
const sweepBacklogPause = time.Second

// nextSweep is the pause before the next sweep round, after one that
// deleted n entries of at most round.
func nextSweep(interval time.Duration, n, round int64) time.Duration {
	if n >= round {
		return min(interval, sweepBacklogPause)
	}
	return interval
}

// sweep deletes expired entries in batches of kv.batch, at most
// sweepBatchesPerRound of them, and returns how many it deleted. The
// outer expires_at test is checked again on a row re-created meanwhile,
// so a live entry is never deleted.
func (kv *KV) sweep(ctx context.Context) (int64, error) {
	var total int64
	for range sweepBatchesPerRound {
		tag, err := kv.pool.Exec(ctx, `DELETE FROM gatehouse_kv WHERE expires_at <= $1 AND key IN
(SELECT key FROM gatehouse_kv WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)`, kv.now(), kv.batch)
		if err != nil {
			return total, mapErr("sweep", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < int64(kv.batch) {
			break
		}
	}
	return total, nil
}

// maxAttempts bounds the retries of a transaction that failed to
// serialize (CockroachDB's SERIALIZABLE, or a deadlock in PostgreSQL).
const maxAttempts = 10

// retry runs op, again after a serialization failure or a deadlock, and
// maps what it returns to the store's errors.
func (kv *KV) retry(ctx context.Context, op func(ctx context.Context) error) error {
	ctx, cancel, err := kv.bound(ctx)
	defer cancel()
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		var fe fnError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &fe):
			return fe.err
		case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
			return err
		case attempt < maxAttempts && retryable(err):
			backoff := time.Duration(attempt) * time.Duration(1+rand.IntN(5)) * time.Millisecond
			select {
			case <-time.After(backoff):
				continue
			case <-ctx.Done():
				return mapErr("write", ctx.Err())
			}
		}
		return mapErr("write", err)
	}
}

func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// mapErr wraps err with op, as store.ErrUnavailable when the database
// cannot serve now (no connection, shutting down, too many connections,
// read-only) and store.ErrFull when its disk is full.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrUnavailable) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// The database did not answer within opTimeout (or the caller's
		// deadline): it may again, later.
		return fmt.Errorf("postgres %s: %w: no answer in time: %w", op, store.ErrUnavailable, err)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("postgres %s: %w", op, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "53100": // disk_full
			return fmt.Errorf("postgres %s: %w: %w", op, store.ErrFull, err)
		case pgErr.Code[:2] == "08", // connection exception
			pgErr.Code == "53300",                                               // too_many_connections
			pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03", // shutting down, cannot connect now
			pgErr.Code == "25006": // read-only transaction (a standby)
			return fmt.Errorf("postgres %s: %w: %w", op, store.ErrUnavailable, err)
		}
		return fmt.Errorf("postgres %s: %w", op, err)
	}
	// Not an answer from the server: the connection failed or was lost.
	return fmt.Errorf("postgres %s: %w: %w", op, store.ErrUnavailable, err)
}
