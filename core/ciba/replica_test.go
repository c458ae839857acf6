package ciba_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/ciba"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
	"github.com/gatehouse-auth/gatehouse/core/store/postgres/pgtest"
)

// replicaStores returns, per backend, a function opening n stores that
// share their data, as replicas on one database do: one memory store seen
// n times, or n connection pools to one PostgreSQL database.
func replicaStores() map[string]func(t *testing.T, n int) []*store.Store {
	return map[string]func(t *testing.T, n int) []*store.Store{
		"memory": func(_ *testing.T, n int) []*store.Store {
			st := store.New(memory.New())
			out := make([]*store.Store, n)
			for i := range out {
				out[i] = st
			}
			return out
		},
		"postgres": func(t *testing.T, n int) []*store.Store {
			dsn := pgtest.NewDatabase(t)
			out := make([]*store.Store, n)
			for i := range out {
				out[i] = postgresStore(t, dsn)
			}
			return out
		},
	}
}

// TestQueueReplicas: two queues on one store (two replicas) deliver every
// item exactly once, including items that a third replica queued and
// never pokes them about (they find those by polling the store); and an
// item leased by a replica that died is left alone until its lease runs
// out, then delivered once by a live one.
func TestQueueReplicas(t *testing.T) {
	for name, open := range replicaStores() {
		t.Run(name, func(t *testing.T) {
			if testing.Short() && name == "postgres" {
				t.Skip("starts PostgreSQL")
			}
			ctx := context.Background()
			stores := open(t, 3)
			cfg := queueConfig()
			cfg.PollInterval = 20 * time.Millisecond
			rcv := newReceiver(t)

			// The dead replica's item: leased until deadUntil, never settled.
			deadUntil := time.Now().Add(500 * time.Millisecond)
			dead := store.Delivery{ID: "00000000000000000000-dead", Kind: store.DeliveryWebhook, URL: rcv.URL,
				Body: []byte(`{"n":-1}`), LeaseOwner: "gone/1/x", LeaseUntil: deadUntil,
				CreatedAt: time.Now(), NextAttempt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
			if err := stores[0].Deliveries.Create(ctx, dead.ID, dead); err != nil {
				t.Fatal(err)
			}

			var mu sync.Mutex
			by := map[string]int{} // deliveries per queue
			a, b := ciba.NewQueue(stores[0], cfg, localPeers), ciba.NewQueue(stores[1], cfg, localPeers)
			if a.Owner() == b.Owner() {
				t.Fatalf("two queues share the lease owner %q", a.Owner())
			}
			var stops []func()
			for _, q := range []*ciba.Queue{a, b} {
				q.OnDelivered(func(store.Delivery) { mu.Lock(); by[q.Owner()]++; mu.Unlock() })
				stop := q.Start(ctx)
				defer stop()
				stops = append(stops, stop)
			}
			c := ciba.NewQueue(stores[2], cfg, localPeers) // enqueues only
			const n = 30
			for i := range n {
				q := []*ciba.Queue{a, b, c}[i%3]
				if err := q.Enqueue(ctx, store.Delivery{Kind: store.DeliveryWebhook, URL: rcv.URL, Body: fmt.Appendf(nil, `{"n":%d}`, i)}); err != nil {
					t.Fatal(err)
				}
			}
			seen := map[float64]bool{}
			for range n + 1 {
				got := rcv.next(t)
				k, _ := got.Body["n"].(float64)
				if seen[k] {
					t.Fatalf("item %v delivered twice", k)
				}
				seen[k] = true
				if k == -1 && got.At.Before(deadUntil) {
					t.Fatalf("the dead replica's item was delivered at %s, before its lease ran out at %s", got.At, deadUntil)
				}
			}
			waitEmpty(t, stores[0])
			for _, stop := range stops {
				stop()
			}
			if extra := len(rcv.got); extra != 0 {
				t.Fatalf("%d duplicate deliveries", extra)
			}
			mu.Lock()
			defer mu.Unlock()
			if by[a.Owner()]+by[b.Owner()] != n+1 {
				t.Fatalf("deliveries per queue %v, want %d in all", by, n+1)
			}
			t.Logf("deliveries per queue: %v", by)
		})
	}
}

// waitEmpty waits (bounded) until st holds no delivery.
func waitEmpty(t *testing.T, st *store.Store) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		left := 0
		if err := st.Deliveries.List(context.Background(), func(string, store.Delivery) error { left++; return nil }); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries left in the store", left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
