package ciba

import (
	"context"
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
// item as it was, unattempted. The transport stops the queue itself
// between the endpoint's answer and the queue's bookkeeping, the window a
// loaded machine hits by chance.
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
				if d.Attempts != 0 || d.Dead {
					t.Errorf("an item cut short by stop was counted as a failure: %+v", d)
				}
			}
		})
	}
}
