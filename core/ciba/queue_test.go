package ciba_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/ciba"
	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/outbound"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
)

// localPeers reaches the loopback receivers of these tests (the
// development setting).
var localPeers = outbound.New(outbound.Options{AllowPrivate: true})

func queueConfig() config.CIBADelivery {
	return config.CIBADelivery{Timeout: 5 * time.Second, MaxAttempts: 3, InitialBackoff: 10 * time.Millisecond,
		MaxBackoff: 40 * time.Millisecond, Workers: 4}
}

// TestQueueDeliversEachOnce: many items to one endpoint are each delivered
// once (the queue never starts a second attempt of a delivered item), and
// the store is empty afterwards.
func TestQueueDeliversEachOnce(t *testing.T) {
	st := store.New(memory.New())
	q := ciba.NewQueue(st, queueConfig(), localPeers)
	rcv := newReceiver(t)
	stop := q.Start(context.Background())
	defer stop()
	const n = 40
	for i := range n {
		body := fmt.Appendf(nil, `{"n":%d}`, i)
		if err := q.Enqueue(context.Background(), store.Delivery{Kind: store.DeliveryWebhook, URL: rcv.URL, Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[float64]bool{}
	for range n {
		got := rcv.next(t)
		k, _ := got.Body["n"].(float64)
		if seen[k] {
			t.Fatalf("item %v delivered twice", k)
		}
		seen[k] = true
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		left := 0
		_ = st.Deliveries.List(context.Background(), func(string, store.Delivery) error { left++; return nil })
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries left in the store", left)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if extra := len(rcv.got); extra != 0 {
		t.Fatalf("%d duplicate deliveries", extra)
	}
}

// TestQueueGivesUp: an endpoint that always fails gets max_attempts
// attempts, then the item is kept, dead, with the last error.
func TestQueueGivesUp(t *testing.T) {
	st := store.New(memory.New())
	q := ciba.NewQueue(st, queueConfig(), localPeers)
	rcv := newReceiver(t)
	rcv.answer(http.StatusInternalServerError)
	if err := st.Clients.Create(context.Background(), "c1", store.Client{ID: "c1"}); err != nil {
		t.Fatal(err)
	}
	stop := q.Start(context.Background())
	defer stop()
	if err := q.Enqueue(context.Background(), store.Delivery{Kind: store.DeliveryPing, ClientID: "c1", URL: rcv.URL, Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		var d store.Delivery
		_ = st.Deliveries.List(context.Background(), func(_ string, v store.Delivery) error { d = v; return nil })
		if d.Dead {
			if d.Attempts != 3 || d.LastError == "" {
				t.Fatalf("dead item %+v", d)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never given up: %+v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestQueueDropsDeletedClientsCallbacks: a ping or push callback whose
// client has been deleted (RFC 7592 §2.3) is removed from the queue
// without being posted; the same kind of item for a live client is sent.
func TestQueueDropsDeletedClientsCallbacks(t *testing.T) {
	st := store.New(memory.New())
	q := ciba.NewQueue(st, queueConfig(), localPeers)
	rcv := newReceiver(t)
	ctx := context.Background()
	if err := st.Clients.Create(ctx, "alive", store.Client{ID: "alive"}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []store.Delivery{
		{Kind: store.DeliveryPing, ClientID: "deleted", URL: rcv.URL, Body: []byte(`{"who":"deleted ping"}`)},
		{Kind: store.DeliveryPush, ClientID: "deleted", URL: rcv.URL, Body: []byte(`{"who":"deleted push"}`)},
		{Kind: store.DeliveryPing, ClientID: "alive", URL: rcv.URL, Body: []byte(`{"who":"alive"}`)},
	} {
		if err := q.Enqueue(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	stop := q.Start(ctx)
	defer stop()
	if got := rcv.next(t); got.Body["who"] != "alive" {
		t.Fatalf("posted %v, want only the live client's callback", got.Body)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		left := 0
		_ = st.Deliveries.List(ctx, func(string, store.Delivery) error { left++; return nil })
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries left in the store", left)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if extra := len(rcv.got); extra != 0 {
		t.Fatalf("%d callbacks posted for the deleted client", extra)
	}
}
