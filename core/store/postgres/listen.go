package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

// probeNotify finds out whether the database has LISTEN and NOTIFY
// (PostgreSQL has; CockroachDB and YugabyteDB do not). Without them no
// process on the database caches, and none needs to notify. It uses a
// channel no process listens to, so that a process starting (a tool
// among them) empties no other's cache.
func (kv *KV) probeNotify(ctx context.Context) error {
	conn, err := kv.pool.Acquire(ctx)
	if err != nil {
		return mapErr("probe notifications", err)
	}
	defer conn.Release()
	const probe = notifyChannel + "_probe"
	_, err = conn.Exec(ctx, `LISTEN `+probe+`; UNLISTEN `+probe)
	if err == nil {
		_, err = conn.Exec(ctx, `SELECT pg_notify($1, '')`, probe)
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

// queueNotify queues, in batch, the notification of each key writes
// write that other processes may cache, and returns how many it queued.
// Queued in the write's own transaction, a notification is delivered if
// and only if the write commits.
func (kv *KV) queueNotify(batch *pgx.Batch, writes []store.Write) int {
	n := 0
	for _, w := range writes {
		if kv.notifies(w.Key) {
			queueNotification(batch, w.Key)
			n++
		}
	}
	return n
}

func queueNotification(batch *pgx.Batch, key string) {
	batch.Queue(`SELECT pg_notify($1, $2)`, notifyChannel, payload(key))
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
	queueNotification(batch, key)
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

// errPooled is listenOnce's answer when its connection is not a session
// of its own on the database but one a pooler lends: what it LISTENs to
// would reach whichever client the pooler lends that session to next.
var errPooled = errors.New("postgres listen: the connection goes through a pooler (its backend pid is not the server's)")

// listen keeps a connection LISTENing for the cache until Close, and
// connects again after a failure; the cache is not served meanwhile.
// Behind a pooler it gives up: clients are then read from the database.
func (kv *KV) listen() {
	defer close(kv.listened)
	for {
		err := kv.listenOnce(kv.closing)
		kv.cache.distrust()
		if kv.closing.Err() != nil {
			return
		}
		if errors.Is(err, errPooled) {
			slog.Warn("postgres: clients are read from the database on every request: a pooler between this server and the database may hand the listening session to others; connect to the database directly to cache them", "error", err)
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
// until the connection fails or ctx ends. Every listenQuiet it proves the
// connection (cache.go): it notifies its own channel and waits, at most
// listenQuiet, for that notification to come back from its own backend.
func (kv *KV) listenOnce(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	cfg := kv.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = listenerName
	// A proof is a commit every second: it need not wait for the disk or
	// a standby, and its order among notifications does not depend on it.
	cfg.RuntimeParams["synchronous_commit"] = "off"
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return mapErr("listen", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	// A pooler hands the client a backend key of its own making, so the
	// backend's pid differs from the one the connection was given.
	pid := conn.PgConn().PID()
	var backend uint32
	qctx, cancel := context.WithTimeout(ctx, opTimeout)
	err = conn.QueryRow(qctx, `SELECT pg_backend_pid()`).Scan(&backend)
	cancel()
	if err != nil {
		return mapErr("listen", err)
	}
	if backend != pid {
		return fmt.Errorf("%w: %d, connection %d", errPooled, backend, pid)
	}
	proofChannel := fmt.Sprintf("%s_proof_%016x", notifyChannel, rand.Uint64())
	qctx, cancel = context.WithTimeout(ctx, opTimeout)
	_, err = conn.Exec(qctx, `LISTEN `+notifyChannel+`; LISTEN `+proofChannel)
	cancel()
	if err != nil {
		return mapErr("listen", err)
	}
	var (
		sent      time.Time // when the last proof was sent
		awaiting  bool      // whether it has not come back yet
		token     string
		proofs    uint64
		nextProof = time.Now()
	)
	apply := func(n *pgconn.Notification) {
		switch {
		case n.Channel != proofChannel:
			kv.cache.heard(n.Payload)
		case awaiting && n.Payload == token && n.PID == pid:
			kv.cache.proven(sent)
			awaiting, nextProof = false, sent.Add(listenQuiet)
		}
	}
	// drained is a context already done: WaitForNotification then
	// returns what pgx buffered during a query, and nothing else.
	drained, cancelDrained := context.WithCancel(ctx)
	cancelDrained()
	for {
		if !awaiting && !time.Now().Before(nextProof) {
			proofs++
			token = strconv.FormatUint(proofs, 10)
			sent, awaiting = time.Now(), true
			qctx, cancel := context.WithTimeout(ctx, listenQuiet)
			_, err := conn.Exec(qctx, `SELECT pg_notify($1, $2)`, proofChannel, token)
			cancel()
			if err != nil {
				return mapErr("listen", err)
			}
		}
		until := nextProof
		if awaiting {
			until = sent.Add(listenQuiet)
		}
		if !time.Now().Before(until) {
			// Late, unless the proof is among what was buffered.
			for {
				n, err := conn.WaitForNotification(drained)
				if err != nil {
					break
				}
				apply(n)
			}
			if awaiting {
				return fmt.Errorf("postgres listen: %w: its own notification did not come back within %v", store.ErrUnavailable, listenQuiet)
			}
			continue
		}
		wctx, cancel := context.WithDeadline(ctx, until)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			apply(n)
		case ctx.Err() != nil:
			return nil
		case pgconn.Timeout(err):
			// Time for the next proof, or to give up on this one.
		default:
			return mapErr("listen", err)
		}
	}
}
