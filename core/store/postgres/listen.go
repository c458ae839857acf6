package postgres

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// probeNotify finds out whether the database has LISTEN and NOTIFY
// (PostgreSQL has; CockroachDB and YugabyteDB do not). Without them no
// process on the database caches, and none needs to notify. The probe's
// empty notification empties the caches of the processes already
// listening, which is harmless.
func (kv *KV) probeNotify(ctx context.Context) error {
	conn, err := kv.pool.Acquire(ctx)
	if err != nil {
		return mapErr("probe notifications", err)
	}
	defer conn.Release()
	_, err = conn.Exec(ctx, `LISTEN `+notifyChannel)
	if err == nil {
		_, err = conn.Exec(ctx, `UNLISTEN `+notifyChannel)
	}
	if err == nil {
		_, err = conn.Exec(ctx, `SELECT pg_notify($1, '')`, notifyChannel)
	}
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		kv.notify.Store(true)
		return nil
	case errors.As(err, &pgErr) && (pgErr.Code == "0A000" || pgErr.Code == "42883" || pgErr.Code == "42601"):
		// feature_not_supported, undefined_function, syntax_error
		if kv.cache != nil {
			slog.Info("postgres: the database has no LISTEN/NOTIFY; clients are read from it on every request", "error", err)
		}
		return nil
	}
	return mapErr("probe notifications", err)
}

// notifies reports whether a write of key must notify the other
// processes on the database.
func (kv *KV) notifies(key string) bool {
	return kv.notify.Load() && coveredBy(kv.cacheable, key)
}

// queueNotify queues, in batch, the notification of each key written
// that other processes may cache, and returns how many it queued. Queued
// in the write's own transaction, a notification is delivered if and
// only if the write commits.
func (kv *KV) queueNotify(batch *pgx.Batch, keys ...string) int {
	n := 0
	for _, k := range keys {
		if kv.notifies(k) {
			batch.Queue(`SELECT pg_notify($1, $2)`, notifyChannel, payload(k))
			n++
		}
	}
	return n
}

// execNotified runs one write statement on key, with its notification
// in the same implicit transaction (one pipeline, one Sync) when key
// needs one.
func (kv *KV) execNotified(ctx context.Context, key string, sql string, args ...any) (pgconn.CommandTag, error) {
	if !kv.notifies(key) {
		return kv.pool.Exec(ctx, sql, args...)
	}
	defer kv.cache.forget(key)
	batch := &pgx.Batch{}
	batch.Queue(sql, args...)
	kv.queueNotify(batch, key)
	results := kv.pool.SendBatch(ctx, batch)
	tag, err := results.Exec()
	if err == nil {
		_, err = results.Exec()
	}
	if cerr := results.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// listenerName is the listener's application_name, so that an operator
// looking at pg_stat_activity knows the idle connection.
const listenerName = "gatehouse-listener"

// listen keeps a connection LISTENing for the cache until Close, and
// connects again after a failure; the cache is not served meanwhile.
func (kv *KV) listen() {
	defer close(kv.listened)
	for {
		err := kv.listenOnce(kv.closing)
		kv.cache.distrust()
		if kv.closing.Err() != nil {
			return
		}
		slog.Warn("postgres: the connection that hears of changes to clients failed; reading them from the database until it is back", "error", err)
		select {
		case <-kv.closing.Done():
			return
		case <-time.After(retryOpenEvery):
		}
	}
}

// listenOnce connects, LISTENs and applies notifications to the cache
// until the connection fails or ctx ends. While no notification comes, it
// proves the connection every listenQuiet with a query.
func (kv *KV) listenOnce(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	cfg := kv.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = listenerName
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return mapErr("listen", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var proof time.Time
	prove := func() error {
		start := time.Now()
		qctx, cancel := context.WithTimeout(ctx, listenQuiet)
		_, err := conn.Exec(qctx, `SELECT 1`)
		cancel()
		if err != nil {
			return mapErr("listen", err)
		}
		// Notifications that arrived with the answer are buffered:
		// apply them before the proof counts.
		done, cancel := context.WithCancel(ctx)
		cancel()
		for {
			n, err := conn.WaitForNotification(done)
			if err != nil {
				break
			}
			kv.cache.heard(n.Payload)
		}
		proof = start
		kv.cache.proven(start)
		return nil
	}
	qctx, cancel := context.WithTimeout(ctx, opTimeout)
	_, err = conn.Exec(qctx, `LISTEN `+notifyChannel)
	cancel()
	if err != nil {
		return mapErr("listen", err)
	}
	for {
		if time.Since(proof) >= listenQuiet {
			if err := prove(); err != nil {
				return err
			}
		}
		wctx, cancel := context.WithTimeout(ctx, listenQuiet-time.Since(proof))
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			kv.cache.heard(n.Payload)
		case ctx.Err() != nil:
			return nil
		case pgconn.Timeout(err):
			// Quiet: the next turn proves the connection.
		default:
			return mapErr("listen", err)
		}
	}
}
