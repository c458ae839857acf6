package ciba

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/outbound"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
	"github.com/gatehouse-auth/gatehouse/core/store/storetest"
)

// roundTrip is an http.RoundTripper from a function.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestQueueStopAfterDelivery: a POST the endpoint accepted while the
// queue was stopping removes the item, so that the next start does not
// send it a second time; a POST that stop cut short (no answer) leaves the
// item as it was, unattempted, its lease given back. The transport stops
// the queue itself between the endpoint's answer and the queue's
// bookkeeping, the window a loaded machine hits by chance.
func TestQueueStopAfterDelivery(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answer   func(*http.Request) (*http.Response, error)
		wantLeft int
	}{
		{"accepted", func(*http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: http.StatusNoContent, Body: io.NopCloser(strings.NewReader(""))}, nil
		}, 0},
		{"cut short", func(r *http.Request) (*http.Response, error) { return nil, r.Context().Err() }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := store.New(memory.New())
			q := NewQueue(st, config.CIBADelivery{Timeout: 5 * time.Second, MaxAttempts: 3,
				InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond, Workers: 1}, outbound.Default())
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			posted := make(chan struct{})
			var once sync.Once
			q.webhooks.Transport = roundTrip(func(r *http.Request) (*http.Response, error) {
				cancel() // stop begins while the endpoint answers
				<-r.Context().Done()
				// A worker may pick the item up once more before it sees
				// the stop; only the first POST signals.
				once.Do(func() { close(posted) })
				return tc.answer(r)
			})
			if err := q.Enqueue(context.Background(), store.Delivery{Kind: store.DeliveryWebhook, URL: "http://127.0.0.1:1/cb", Body: []byte(`{}`)}); err != nil {
				t.Fatal(err)
			}
			stop := q.Start(ctx)
			select {
			case <-posted:
			case <-time.After(20 * time.Second):
				t.Fatal("the item was never posted")
			}
			stop()
			var left []store.Delivery
			if err := st.Deliveries.List(context.Background(), func(_ string, d store.Delivery) error {
				left = append(left, d)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(left) != tc.wantLeft {
				t.Fatalf("%d items left after stop, want %d: %+v", len(left), tc.wantLeft, left)
			}
			for _, d := range left {
				if d.Attempts != 0 || d.Dead || d.LeaseOwner != "" {
					t.Errorf("an item cut short by stop was counted as a failure or kept its lease: %+v", d)
				}
			}
		})
	}
}

// TestQueueLeaseHandover: of two queues on one store, one takes an item's
// lease and the other is refused until the lease runs out by its clock;
// then it takes the item, and the first one's late outcome is not
// recorded over the second's.
func TestQueueLeaseHandover(t *testing.T) {
	ctx := context.Background()
	st := store.New(memory.New())
	cfg := config.CIBADelivery{Timeout: time.Second, Lease: 3 * time.Second, MaxAttempts: 3,
		InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond, Workers: 1}
	a, b := NewQueue(st, cfg, outbound.Default()), NewQueue(st, cfg, outbound.Default())
	if err := a.Enqueue(ctx, store.Delivery{Kind: store.DeliveryWebhook, URL: "http://127.0.0.1:1/cb", Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	var id string
	_ = st.Deliveries.List(ctx, func(k string, _ store.Delivery) error { id = k; return nil })

	held, err := a.lease(ctx, id)
	if err != nil || held.LeaseOwner != a.Owner() || !held.LeaseUntil.After(time.Now()) {
		t.Fatalf("first lease: %+v, %v", held, err)
	}
	if _, err := b.lease(ctx, id); !errors.Is(err, errNotDue) {
		t.Fatalf("second queue's lease of a held item: %v, want errNotDue", err)
	}
	if again, err := a.lease(ctx, id); err != nil || again.LeaseOwner != a.Owner() {
		t.Fatalf("the holder's own lease again: %+v, %v", again, err)
	}

	b.now = func() time.Time { return held.LeaseUntil.Add(2 * cfg.Lease) } // a's lease ran out
	taken, err := b.lease(ctx, id)
	if err != nil || taken.LeaseOwner != b.Owner() {
		t.Fatalf("lease after expiry: %+v, %v", taken, err)
	}
	if err := a.settle(ctx, id, func(d *store.Delivery) { d.Attempts, d.Dead = 99, true }); !errors.Is(err, errLeaseLost) {
		t.Fatalf("the first holder's late outcome: %v, want errLeaseLost", err)
	}
	if err := b.settle(ctx, id, func(d *store.Delivery) { d.Attempts = 1 }); err != nil {
		t.Fatal(err)
	}
	d, err := st.Deliveries.Get(ctx, id)
	if err != nil || d.Attempts != 1 || d.Dead || d.LeaseOwner != "" || !d.LeaseUntil.IsZero() {
		t.Fatalf("after the second holder's outcome: %+v, %v", d, err)
	}
}

// TestQueueSweepIsBounded: a queue longer than one sweep's budget is read
// in pages, never scanned whole: each sweep reads at most the budget and
// asks for the next at once, and the sweep that ends the pass returns when
// the earliest waiting item is due.
func TestQueueSweepIsBounded(t *testing.T) {
	ctx := context.Background()
	kv := storetest.Paged(memory.New(), store.DeliveriesPrefix+"/")
	st := store.New(kv)
	q := NewQueue(st, config.CIBADelivery{Timeout: time.Second, MaxAttempts: 3, Workers: 1}, outbound.Default())
	now := time.Now()
	q.now = func() time.Time { return now }
	const n = dispatchBudget + dispatchPage + 10
	earliest := now.Add(time.Hour)
	for i := range n {
		id := fmt.Sprintf("%020d-x", i)
		d := store.Delivery{ID: id, Kind: store.DeliveryWebhook, URL: "http://127.0.0.1:1/cb",
			NextAttempt: earliest.Add(time.Duration(n-i) * time.Second), ExpiresAt: now.Add(24 * time.Hour)}
		if err := st.Deliveries.Put(ctx, id, d); err != nil {
			t.Fatal(err)
		}
	}
	if next := q.dispatch(ctx); !next.Equal(now) {
		t.Fatalf("first sweep: next at %v, want at once (%v): the pass is unfinished", next, now)
	}
	if got := kv.Read(); got != dispatchBudget {
		t.Fatalf("first sweep read %d items, want the budget %d", got, dispatchBudget)
	}
	kv.ResetRead()
	if next, want := q.dispatch(ctx), earliest.Add(time.Second); !next.Equal(want) {
		t.Fatalf("last sweep of the pass: next at %v, want %v (the earliest item)", next, want)
	}
	if got := kv.Read(); got != n-dispatchBudget {
		t.Fatalf("second sweep read %d items, want the %d left", got, n-dispatchBudget)
	}
	kv.ResetRead()
	// The next pass starts again at the oldest item.
	if next := q.dispatch(ctx); !next.Equal(now) || kv.Read() != dispatchBudget {
		t.Fatalf("new pass: next %v after %d items", next, kv.Read())
	}
}

// TestQueueDeliversPastOneSweep: every item of a queue several sweeps
// long is delivered.
func TestQueueDeliversPastOneSweep(t *testing.T) {
	kv := storetest.Paged(memory.New(), store.DeliveriesPrefix+"/")
	st := store.New(kv)
	q := NewQueue(st, config.CIBADelivery{Timeout: 5 * time.Second, MaxAttempts: 3,
		InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond, Workers: 4}, outbound.Default())
	q.sweepBudget = 8
	const n = 60
	var mu sync.Mutex
	posted := map[string]int{}
	all := make(chan struct{})
	q.webhooks.Transport = roundTrip(func(r *http.Request) (*http.Response, error) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		posted[string(body)]++
		if len(posted) == n && posted[string(body)] == 1 {
			close(all)
		}
		mu.Unlock()
		return &http.Response{StatusCode: http.StatusNoContent, Body: io.NopCloser(strings.NewReader(""))}, nil
	})
	for i := range n {
		d := store.Delivery{Kind: store.DeliveryWebhook, URL: "http://127.0.0.1:1/cb", Body: fmt.Appendf(nil, `{"n":%d}`, i)}
		if err := q.Enqueue(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	stop := q.Start(context.Background())
	defer stop()
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%d of %d items delivered", len(posted), n)
	}
}
