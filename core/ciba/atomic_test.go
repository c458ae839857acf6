package ciba_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
)

// faultyKV counts the write calls that touch what a CIBA outcome records
// (the delivery queue's own bookkeeping, which runs in the background, is
// not counted) and, when armed, fails the writes that record a grant, as a
// full disk would fail the commit of a token response.
type faultyKV struct {
	store.KV
	mu      sync.Mutex
	failing bool
	writes  int
}

var errDiskFull = errors.New("disk full (injected)")

func (f *faultyKV) write(keys ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	counted, grant := false, false
	for _, k := range keys {
		grant = grant || strings.HasPrefix(k, "grant")
		if !counted && (grant || strings.HasPrefix(k, "ciba") || strings.HasPrefix(k, "consent") || strings.HasPrefix(k, "refresh")) {
			f.writes++
			counted = true
		}
	}
	if f.failing && grant {
		return errDiskFull
	}
	return nil
}

func (f *faultyKV) set(failing bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing = failing
}

func (f *faultyKV) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}

func (f *faultyKV) Create(ctx context.Context, k string, v []byte, exp time.Time) error {
	if err := f.write(k); err != nil {
		return err
	}
	return f.KV.Create(ctx, k, v, exp)
}

func (f *faultyKV) Put(ctx context.Context, k string, v []byte, exp time.Time) error {
	if err := f.write(k); err != nil {
		return err
	}
	return f.KV.Put(ctx, k, v, exp)
}

func (f *faultyKV) Update(ctx context.Context, k string, fn func([]byte) ([]byte, error)) error {
	if err := f.write(k); err != nil {
		return err
	}
	return f.KV.Update(ctx, k, fn)
}

func (f *faultyKV) Apply(ctx context.Context, writes ...store.Write) error {
	keys := make([]string, len(writes))
	for i, w := range writes {
		keys[i] = w.Key
	}
	if err := f.write(keys...); err != nil {
		return err
	}
	return f.KV.Apply(ctx, writes...)
}

func (f *faultyKV) Delete(ctx context.Context, k string) error {
	if err := f.write(k); err != nil {
		return err
	}
	return f.KV.Delete(ctx, k)
}

// counts the records of the collections a CIBA outcome writes, but the
// delivery queue.
func counts(t *testing.T, st *store.Store) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, prefix := range []string{"grant", "refresh", "consent"} {
		if err := st.KV.Scan(context.Background(), prefix, func(string, []byte) error { n[prefix]++; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// TestFailedCIBAOutcomeChangesNothing is the CIBA counterpart of the grant
// package's TestFailedMintChangesNothing: a poll that cannot record its
// tokens leaves the request approved (not redeemed without tokens), and a
// push-mode approval that cannot be recorded leaves the request pending
// with no grant, consent record or delivery; each retry then succeeds.
func TestFailedCIBAOutcomeChangesNothing(t *testing.T) {
	ctx := context.Background()
	kv := &faultyKV{KV: memory.New()}
	e := start(t, options{store: store.New(kv)})

	t.Run("poll", func(t *testing.T) {
		cl := e.client(t, "poll", "", nil)
		id := e.startRequest(t, cl, loginHint("guest", "scope", "openid offline_access"))
		if status, body := e.complete(t, e.guest(t), id, "approve"); status != 200 {
			t.Fatalf("complete: %d %v", status, body)
		}
		before := counts(t, e.st)
		kv.set(true)
		status, body := e.poll(t, cl, id)
		kv.set(false)
		if status < 500 {
			t.Fatalf("poll with failing writes: %d %v, want a 5xx", status, body)
		}
		rec, err := e.st.Backchannel.Get(ctx, store.HashID(id))
		if err != nil || rec.Status != store.BackchannelApproved {
			t.Fatalf("request after a failed redemption: %q %v, want still approved", rec.Status, err)
		}
		if after := counts(t, e.st); after["grant"] != before["grant"] || after["refresh"] != before["refresh"] {
			t.Fatalf("a failed redemption recorded %v (before %v)", after, before)
		}
		if status, body := e.poll(t, cl, id); status != 200 || body["access_token"] == nil {
			t.Fatalf("retried poll: %d %v", status, body)
		}
	})

	t.Run("push", func(t *testing.T) {
		rcv := newReceiver(t)
		cl := e.client(t, "push", rcv.URL, nil)
		id := e.startRequest(t, cl, loginHint("guest", "client_notification_token", "push-atomic", "scope", "openid offline_access"))
		before := counts(t, e.st)
		kv.set(true)
		status, body := e.complete(t, e.guest(t), id, "approve")
		kv.set(false)
		if status < 500 {
			t.Fatalf("approval with failing writes: %d %v, want a 5xx", status, body)
		}
		rec, err := e.st.Backchannel.Get(ctx, store.HashID(id))
		if err != nil || rec.Status != store.BackchannelPending {
			t.Fatalf("request after a failed approval: %q %v, want still pending", rec.Status, err)
		}
		if after := counts(t, e.st); after["grant"] != before["grant"] ||
			after["consent"] != before["consent"] || after["refresh"] != before["refresh"] {
			t.Fatalf("a failed approval recorded %v (before %v)", after, before)
		}
		// Nothing queued for the client (the queue's webhook items come
		// and go in the background).
		err = e.st.Deliveries.List(ctx, func(_ string, d store.Delivery) error {
			if d.ClientID == cl.ID {
				t.Errorf("a failed approval queued a %s delivery", d.Kind)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if status, body := e.complete(t, e.guest(t), id, "approve"); status != 200 {
			t.Fatalf("retried approval: %d %v", status, body)
		}
		if got := rcv.next(t); got.Body["access_token"] == nil || got.Body["auth_req_id"] != id {
			t.Fatalf("push after the retry: %v", got.Body)
		}
	})
}

// TestCIBAOutcomeIsOneCommit: each CIBA outcome is one atomic write, so no
// crash can land between its parts (a grant minted but its push never
// queued, a request redeemed but its tokens never recorded).
func TestCIBAOutcomeIsOneCommit(t *testing.T) {
	kv := &faultyKV{KV: memory.New()}
	e := start(t, options{store: store.New(kv)})
	for _, mode := range []string{"poll", "ping", "push"} {
		t.Run(mode, func(t *testing.T) {
			var endpoint string
			if mode != "poll" {
				endpoint = newReceiver(t).URL
			}
			cl := e.client(t, mode, endpoint, nil)
			form := loginHint("guest", "scope", "openid offline_access")
			if mode != "poll" {
				form.Set("client_notification_token", "token-"+mode)
			}
			id := e.startRequest(t, cl, form)
			bearer := e.guest(t)
			before := kv.count()
			if status, body := e.complete(t, bearer, id, "approve"); status != 200 {
				t.Fatalf("complete: %d %v", status, body)
			}
			if n := kv.count() - before; n != 1 {
				t.Errorf("the %s approval made %d writes, want one atomic commit", mode, n)
			}
			if mode != "poll" {
				return
			}
			before = kv.count()
			if status, body := e.poll(t, cl, id); status != 200 || !strings.Contains(body["token_type"].(string), "Bearer") {
				t.Fatalf("poll: %d %v", status, body)
			}
			if n := kv.count() - before; n != 1 {
				t.Errorf("the token response made %d writes, want one atomic commit", n)
			}
		})
	}
}
