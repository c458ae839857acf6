package ciba

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/mail"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/outbound"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// deliveryRetention is how long an undelivered item is kept (retried, then
// dead for operators to see).
const deliveryRetention = 7 * 24 * time.Hour

// perDestination caps the attempts in flight to one client (or one webhook
// URL), so that a client whose endpoint hangs holds at most this many
// workers and never blocks the others.
const perDestination = 2

var (
	deliveriesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_ciba_deliveries_total",
		Help: "Delivery attempts by kind (ping, push, webhook, email) and outcome (delivered, retry, dead, dropped: the client was deleted).",
	}, []string{"kind", "outcome"})
	deliveryLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gatehouse_ciba_delivery_seconds",
		Help:    "Time from enqueueing to successful delivery, by kind.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30, 300},
	}, []string{"kind"})
	queueDepth = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gatehouse_ciba_delivery_queue_depth",
		Help: "Deliveries waiting (not yet delivered nor dead) at the last scan.",
	})
)

// Queue is the durable delivery queue: each item is a store.Delivery, so
// that what was accepted survives a restart. Items are attempted in
// parallel (config ciba.delivery.workers), each with its own timeout and
// exponential backoff; a destination never has more than perDestination
// attempts in flight.
//
// Several processes (replicas) may run a queue on one store. Each attempt
// first takes the item's lease (compare-and-swap on the item: owner and
// expiry), so one queue at a time attempts an item, and the attempt is cut
// short when its lease ends. A queue finds the items of the others by
// reading the store at least every ciba.delivery.poll_interval, and its
// own at once (Poke); a sweep reads a bounded part of the queue
// (dispatchBudget), the next one continuing where it stopped. The leases of a queue that died run out after
// ciba.delivery.lease, and another queue delivers its items.
//
// Delivery is at least once: a process that dies between a successful
// POST and the item's deletion (or a POST that is answered just as its
// lease ends) repeats the POST, from whichever queue takes the item next.
// CIBA Core §10.2 lets a client receive a ping twice; a push repeated
// carries the same tokens.
type Queue struct {
	st  *store.Store
	cfg config.CIBADelivery
	// owner names this queue in the leases it takes: host, process id and
	// a random part, unique per process.
	owner string
	// callbacks posts to clients' notification endpoints (https only,
	// unless the development setting is on); webhooks to the operator's
	// allow-listed URLs. Neither follows a redirect: the registered
	// endpoint is where the tokens may go, nowhere else.
	callbacks, webhooks *http.Client
	now                 func() time.Time
	wake                chan struct{}
	// secrets seals each item's bearer and body at rest (none: unsealed).
	secrets secrets
	// mailer sends email deliveries; nil when no mail server is set.
	mailer *mail.Sender

	mu       sync.Mutex
	inflight map[string]bool // item ids
	perDest  map[string]int
	workers  chan struct{}
	wg       sync.WaitGroup
	// delivered, when set, observes each successful delivery (tests and
	// benchmarks).
	delivered func(store.Delivery)

	// The pass over the queue that dispatch is in, read by the run
	// goroutine only: where the next sweep starts (the last item id read;
	// "" starts at the oldest), and the earliest due time and the depth
	// of the pass so far.
	cursor    string
	passNext  time.Time
	passDepth int
	// sweepBudget is the most items one sweep reads (dispatchBudget; a
	// test may lower it).
	sweepBudget int
}

// dispatchPage is how many items one read of the queue takes, and
// dispatchBudget the most one sweep reads: a longer queue is read over
// successive sweeps, the next one started at once, from where the last
// stopped.
const (
	dispatchPage   = 256
	dispatchBudget = 4 * dispatchPage
)

// Defaults of the lease and poll interval when cfg leaves them zero (a
// configuration built in code; config validation requires them).
const (
	defaultLease        = 30 * time.Second
	defaultPollInterval = 2 * time.Second
)

// NewQueue returns the queue on st, sending through out.
func NewQueue(st *store.Store, cfg config.CIBADelivery, out *outbound.Client) *Queue {
	if cfg.Lease <= 0 {
		cfg.Lease = max(defaultLease, 2*cfg.Timeout)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = defaultPollInterval
	}
	host, _ := os.Hostname()
	return &Queue{
		owner:     fmt.Sprintf("%s/%d/%s", host, os.Getpid(), oauth.RandomToken(6)),
		st:        st,
		cfg:       cfg,
		callbacks: out.HTTP(outbound.Policy{Timeout: cfg.Timeout, NoRedirects: true, HTTPSOnly: true}),
		webhooks:  out.HTTP(outbound.Policy{Timeout: cfg.Timeout, NoRedirects: true}),
		now:       time.Now,
		wake:      make(chan struct{}, 1),
		inflight:  map[string]bool{},
		perDest:   map[string]int{},
		workers:   make(chan struct{}, cfg.Workers),

		sweepBudget: dispatchBudget,
	}
}

// Owner is the name this queue's leases carry: host/pid/random.
func (q *Queue) Owner() string { return q.owner }

// OnDelivered sets a function called after each successful delivery.
// Call it before Start.
func (q *Queue) OnDelivered(fn func(store.Delivery)) { q.delivered = fn }

// Enqueue stores d to be delivered as soon as possible, its bearer and
// body sealed when keys.secret is set.
func (q *Queue) Enqueue(ctx context.Context, d store.Delivery) error {
	w, err := q.Prepare(d)
	if err != nil {
		return err
	}
	if err := q.st.Apply(ctx, w); err != nil {
		return fmt.Errorf("ciba: enqueue %s delivery: %w", d.Kind, err)
	}
	q.Poke()
	return nil
}

// Prepare is Enqueue as one write of the caller's atomic batch, so that a
// callback is queued exactly when what it reports is recorded. Call Poke
// once the batch has committed.
func (q *Queue) Prepare(d store.Delivery) (store.Write, error) {
	now := q.now()
	d.ID = fmt.Sprintf("%020d-%s", now.UnixNano(), oauth.RandomToken(6))
	if q.secrets.sealer != nil {
		d.Bearer, _ = q.secrets.sealString(deliveryAD(d.ID, "bearer"), d.Bearer)
		d.Body, _ = q.secrets.sealBytes(deliveryAD(d.ID, "body"), d.Body)
		d.Sealed = true
	}
	d.CreatedAt, d.NextAttempt = now, now
	d.ExpiresAt = now.Add(deliveryRetention)
	w, err := q.st.Deliveries.CreateWrite(d.ID, d)
	if err != nil {
		return store.Write{}, fmt.Errorf("ciba: enqueue %s delivery: %w", d.Kind, err)
	}
	return w, nil
}

// deliveryAD binds a sealed field to its item.
func deliveryAD(id, field string) string { return "delivery/" + id + "/" + field }

// open returns the item with its bearer and body unsealed.
func (q *Queue) open(d store.Delivery) (store.Delivery, error) {
	if !d.Sealed {
		return d, nil
	}
	var err error
	d.Bearer, err = q.secrets.openString(deliveryAD(d.ID, "bearer"), d.Bearer, d.Bearer != "")
	if err != nil {
		return d, err
	}
	if d.Body, err = q.secrets.openBytes(deliveryAD(d.ID, "body"), d.Body, true); err != nil {
		return d, err
	}
	d.Sealed = false
	return d, nil
}

// Poke wakes the dispatcher: an item is due now.
func (q *Queue) Poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Start runs the queue until ctx ends or stop is called; stop returns once
// the attempts in flight have ended (they are cancelled, and an attempt
// cancelled so is retried after a restart).
func (q *Queue) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.run(ctx)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
			q.wg.Wait()
		})
	}
}

// recordTimeout bounds the removal of a delivered item, done even while
// the queue stops.
const recordTimeout = 5 * time.Second

// run lists the queue whenever it is woken (an item enqueued here, an
// attempt finished), when the next item or lease is due, and at least
// every poll interval, for items other replicas enqueued.
func (q *Queue) run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		case <-timer.C:
		}
		next := q.dispatch(ctx)
		wait := q.cfg.PollInterval
		if !next.IsZero() {
			wait = max(next.Sub(q.now()), time.Millisecond)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(min(wait, q.cfg.PollInterval))
	}
}

// dispatch reads the next sweepBudget items of the queue, in pages of
// dispatchPage, oldest first, from where the last sweep stopped, and
// starts every due one it has a worker for. It returns when the next
// sweep is due: at once while the pass over the queue is unfinished;
// once it is, when the earliest waiting item of the pass is due or the
// earliest lease of another queue runs out (zero if none).
func (q *Queue) dispatch(ctx context.Context) (next time.Time) {
	now := q.now()
	read := 0
	for read < q.sweepBudget {
		limit := min(dispatchPage, q.sweepBudget-read)
		page, more, err := q.st.Deliveries.ListPage(ctx, store.Page{After: q.cursor, Limit: limit})
		if err != nil {
			if ctx.Err() == nil {
				slog.ErrorContext(ctx, "ciba delivery queue: cannot list deliveries", "error", err)
			}
			return now.Add(time.Second)
		}
		read += len(page)
		for _, r := range page {
			q.consider(ctx, r.ID, &r.Value, now)
		}
		if more == "" {
			// The pass is complete: the next one starts at the oldest.
			next = q.passNext
			queueDepth.Set(float64(q.passDepth))
			q.cursor, q.passNext, q.passDepth = "", time.Time{}, 0
			return next
		}
		q.cursor = more
	}
	return now
}

// consider starts the item if it is due and a worker is free, and notes
// it in the pass: its depth, and the earliest time an item waits for.
func (q *Queue) consider(ctx context.Context, id string, d *store.Delivery, now time.Time) {
	if d.Dead {
		return
	}
	q.passDepth++
	due := d.NextAttempt
	if d.LeasedToOther(q.owner, now) {
		due = d.LeaseUntil
	}
	if due.After(now) {
		if q.passNext.IsZero() || due.Before(q.passNext) {
			q.passNext = due
		}
		return
	}
	dest := destination(d)
	q.mu.Lock()
	busy := q.inflight[id] || q.perDest[dest] >= perDestination
	if !busy {
		select {
		case q.workers <- struct{}{}:
			q.inflight[id] = true
			q.perDest[dest]++
		default:
			busy = true
		}
	}
	q.mu.Unlock()
	if busy {
		return // a finished attempt wakes the queue again
	}
	q.wg.Add(1)
	go q.attempt(ctx, id, dest)
}

func destination(d *store.Delivery) string {
	if d.Kind == store.DeliveryEmail {
		return "email:" + d.To
	}
	if d.ClientID != "" {
		return "client:" + d.ClientID
	}
	return "url:" + d.URL
}

// errNotDue: the item is not to be attempted now (dead, put off, or
// leased to another queue), as the item's lease found it.
var errNotDue = errors.New("ciba: delivery not due")

// lease takes the item's lease for this queue, by compare-and-swap: of
// two queues taking it at once, one wins and the other gets errNotDue. It
// reads the item afresh, so that a listing older than another attempt's
// outcome (deleted once delivered, or put off by a failure) starts
// nothing.
func (q *Queue) lease(ctx context.Context, id string) (store.Delivery, error) {
	return q.st.Deliveries.Update(ctx, id, func(d store.Delivery) (store.Delivery, error) {
		now := q.now()
		if d.Dead || d.NextAttempt.After(now) || d.LeasedToOther(q.owner, now) {
			return d, errNotDue
		}
		d.LeaseOwner, d.LeaseUntil = q.owner, now.Add(q.cfg.Lease)
		return d, nil
	})
}

// errLeaseLost: the item's lease passed to another queue while this one
// attempted it; the other's outcome stands.
var errLeaseLost = errors.New("ciba: delivery lease lost")

// settle records the outcome of an attempt that did not deliver (edit
// applied to the item) and gives the lease back, unless another queue took
// the item meanwhile.
func (q *Queue) settle(ctx context.Context, id string, edit func(*store.Delivery)) error {
	_, err := q.st.Deliveries.Update(ctx, id, func(d store.Delivery) (store.Delivery, error) {
		if d.LeaseOwner != q.owner {
			return d, errLeaseLost
		}
		edit(&d)
		d.LeaseOwner, d.LeaseUntil = "", time.Time{}
		return d, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil // delivered or dropped by the queue that took it over
	}
	return err
}

// attempt leases one item, sends it and records the outcome.
func (q *Queue) attempt(ctx context.Context, id, dest string) {
	defer func() {
		q.mu.Lock()
		delete(q.inflight, id)
		q.perDest[dest]--
		if q.perDest[dest] <= 0 {
			delete(q.perDest, dest)
		}
		q.mu.Unlock()
		<-q.workers
		q.wg.Done()
		q.Poke()
	}()
	d, err := q.lease(ctx, id)
	if err != nil {
		if !errors.Is(err, errNotDue) && !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
			slog.ErrorContext(ctx, "ciba delivery queue: cannot lease a delivery", "delivery", id, "error", err)
		}
		return
	}
	// The attempt ends with its lease, so that it never overlaps another
	// queue's attempt of the same item (as far as the clocks agree).
	leaseCtx, cancelLease := context.WithDeadline(ctx, d.LeaseUntil)
	defer cancelLease()
	released := false
	defer func() {
		if released || ctx.Err() == nil {
			return
		}
		// Stopped before an outcome: the lease goes back, so that another
		// replica (or the next start) need not wait for it to run out.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
		defer cancel()
		if err := q.settle(rctx, id, func(*store.Delivery) {}); err != nil && !errors.Is(err, errLeaseLost) {
			slog.WarnContext(rctx, "ciba delivery queue: cannot give a lease back", "delivery", id, "error", err)
		}
	}()
	if gone, err := q.clientGone(leaseCtx, &d); err != nil || gone {
		released = gone
		return
	}
	plain, err := q.open(d)
	if err != nil {
		// Nothing to send: the item is kept, dead, for operators to see.
		released = true
		deliveriesTotal.WithLabelValues(d.Kind, "dead").Inc()
		slog.ErrorContext(ctx, "ciba delivery queue: cannot unseal a delivery", "delivery", id, "error", err)
		if perr := q.settle(ctx, id, func(d *store.Delivery) { d.Dead, d.LastError = true, err.Error() }); perr != nil {
			slog.ErrorContext(ctx, "ciba delivery queue: cannot record the failed delivery", "delivery", id, "error", perr)
		}
		return
	}
	err = q.post(leaseCtx, &plain)
	log := slog.With("delivery", d.ID, "kind", d.Kind, "client_id", d.ClientID)
	if err == nil {
		// The endpoint has it: the item goes even when stop came during
		// the POST, or the next start would send it a second time.
		released = true
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
		defer cancel()
		if derr := q.st.Deliveries.Delete(rctx, d.ID); derr != nil {
			log.ErrorContext(rctx, "delivered, but could not remove it from the queue: it will be sent again", "error", derr)
		}
		deliveriesTotal.WithLabelValues(d.Kind, "delivered").Inc()
		deliveryLatency.WithLabelValues(d.Kind).Observe(q.now().Sub(d.CreatedAt).Seconds())
		log.DebugContext(rctx, "delivered", "attempts", d.Attempts+1)
		if q.delivered != nil {
			q.delivered(plain)
		}
		return
	}
	if ctx.Err() != nil {
		return // cut short by stop: the item stays as it was, its lease given back
	}
	released = true
	attempts := d.Attempts + 1
	// A refused destination is given up at once: no retry can reach it.
	dead := attempts >= q.cfg.MaxAttempts || refused(err)
	nextAttempt := q.now().Add(q.backoff(attempts))
	if dead {
		deliveriesTotal.WithLabelValues(d.Kind, "dead").Inc()
		log.WarnContext(ctx, "delivery failed for good", "attempts", attempts, "error", err)
	} else {
		deliveriesTotal.WithLabelValues(d.Kind, "retry").Inc()
		log.InfoContext(ctx, "delivery failed, will retry", "attempts", attempts, "next_attempt", nextAttempt, "error", err)
	}
	perr := q.settle(ctx, id, func(d *store.Delivery) {
		d.Attempts, d.LastError = attempts, err.Error()
		if dead {
			d.Dead = true
		} else {
			d.NextAttempt = nextAttempt
		}
	})
	switch {
	case errors.Is(perr, errLeaseLost):
		log.WarnContext(ctx, "the delivery's lease ran out during the attempt; another replica has it")
	case perr != nil:
		log.ErrorContext(ctx, "cannot record the failed delivery", "error", perr)
	}
}

// clientGone drops a callback whose client has been deleted (RFC 7592
// §2.3): nothing is posted to the endpoint of a client that no longer
// exists, and a push's tokens are dead with it. A store error keeps the
// item for the next round.
func (q *Queue) clientGone(ctx context.Context, d *store.Delivery) (bool, error) {
	if d.ClientID == "" || d.Kind == store.DeliveryWebhook {
		return false, nil
	}
	_, err := q.st.Clients.Get(ctx, d.ClientID)
	switch {
	case err == nil:
		return false, nil
	case !errors.Is(err, store.ErrNotFound):
		if ctx.Err() == nil {
			slog.ErrorContext(ctx, "ciba delivery queue: cannot read the client of a delivery", "delivery", d.ID, "error", err)
		}
		return false, err
	}
	deliveriesTotal.WithLabelValues(d.Kind, "dropped").Inc()
	slog.InfoContext(ctx, "ciba delivery dropped: its client was deleted", "delivery", d.ID, "kind", d.Kind, "client_id", d.ClientID)
	if err := q.st.Deliveries.Delete(ctx, d.ID); err != nil {
		slog.ErrorContext(ctx, "ciba delivery queue: cannot remove the delivery of a deleted client", "delivery", d.ID, "error", err)
	}
	return true, nil
}

// refused tells a destination that will never be reached: a refused
// address or plain http where https is required, or a mail server's
// permanent (5xx) refusal.
func refused(err error) bool {
	var re *outbound.RefusedError
	return errors.As(err, &re) || errors.Is(err, outbound.ErrNotHTTPS) || mail.Permanent(err)
}

// backoff is InitialBackoff doubled per failure, capped at MaxBackoff.
func (q *Queue) backoff(attempts int) time.Duration {
	b := q.cfg.InitialBackoff
	for i := 1; i < attempts && b < q.cfg.MaxBackoff; i++ {
		b *= 2
	}
	return min(b, q.cfg.MaxBackoff)
}

// post sends the item; any 2xx is success (CIBA Core §10.2 expects 204 or
// 200).
func (q *Queue) post(ctx context.Context, d *store.Delivery) error {
	if d.Kind == store.DeliveryEmail {
		if q.mailer == nil {
			return &mail.Error{Code: 554, Err: errors.New("no mail server is configured (ciba.delivery.smtp.host)")}
		}
		return q.mailer.Send(ctx, d.To, d.Body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gatehouse")
	if d.Bearer != "" {
		req.Header.Set("Authorization", "Bearer "+d.Bearer)
	}
	client := q.callbacks
	if d.Kind == store.DeliveryWebhook {
		client = q.webhooks
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("endpoint answered %s", resp.Status)
	}
	return nil
}
