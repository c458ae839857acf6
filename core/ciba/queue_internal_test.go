package ciba

import (
	"context"
	"errors"
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
