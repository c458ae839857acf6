package ciba_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/badger"
)

// TestPingMode: on approval the client's notification endpoint (started
// here) gets {auth_req_id} with its client_notification_token as bearer
// (CIBA Core §10.2); the client then fetches the tokens.
func TestPingMode(t *testing.T) {
	e := start(t, options{})
	rcv := newReceiver(t)
	cl := e.client(t, "ping", rcv.URL, nil)
	id := e.startRequest(t, cl, loginHint("guest", "client_notification_token", "ping-token-123"))
	if status, body := e.poll(t, cl, id); body["error"] != "authorization_pending" {
		t.Fatalf("before approval: %d %v", status, body)
	}
	if status, body := e.complete(t, e.guest(t), id, "approve"); status != 200 {
		t.Fatalf("complete: %d %v", status, body)
	}
	got := rcv.next(t)
	if got.Auth != "Bearer ping-token-123" || got.Body["auth_req_id"] != id || len(got.Body) != 1 {
		t.Fatalf("ping: auth %q body %v", got.Auth, got.Body)
	}
	status, body := e.poll(t, cl, id)
	if status != 200 || body["access_token"] == nil || body["id_token"] == nil {
		t.Fatalf("token after ping: %d %v", status, body)
	}

	// A denial pings too; the fetch then answers access_denied.
	id = e.startRequest(t, cl, loginHint("guest", "client_notification_token", "ping-token-456"))
	if status, body := e.complete(t, e.guest(t), id, "deny"); status != 200 {
		t.Fatalf("complete: %d %v", status, body)
	}
	if got := rcv.next(t); got.Auth != "Bearer ping-token-456" || got.Body["auth_req_id"] != id {
		t.Fatalf("ping after denial: %v", got)
	}
	if status, body := e.poll(t, cl, id); body["error"] != "access_denied" {
		t.Fatalf("token after denial: %d %v", status, body)
	}
}

// TestPushMode: on approval the token response is pushed with auth_req_id,
// and the ID token carries auth_req_id, at_hash and rt_hash (CIBA Core
// §10.3.1); the token endpoint refuses a push client; a denial pushes the
// error.
func TestPushMode(t *testing.T) {
	e := start(t, options{})
	rcv := newReceiver(t)
	cl := e.client(t, "push", rcv.URL, nil)
	id := e.startRequest(t, cl, loginHint("guest", "client_notification_token", "push-token-1", "scope", "openid profile offline_access"))
	if status, body := e.poll(t, cl, id); status != 400 || body["error"] != "unauthorized_client" {
		t.Fatalf("poll by a push client: %d %v", status, body)
	}
	if status, body := e.complete(t, e.guest(t), id, "approve"); status != 200 {
		t.Fatalf("complete: %d %v", status, body)
	}
	got := rcv.next(t)
	access, _ := got.Body["access_token"].(string)
	refresh, _ := got.Body["refresh_token"].(string)
	rawID, _ := got.Body["id_token"].(string)
	if got.Auth != "Bearer push-token-1" || got.Body["auth_req_id"] != id || access == "" || refresh == "" || rawID == "" ||
		got.Body["token_type"] != "Bearer" {
		t.Fatalf("push: auth %q body %v", got.Auth, got.Body)
	}
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := provider.Verifier(&oidc.Config{ClientID: cl.ID}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("push ID token: %v", err)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims["urn:openid:params:jwt:claim:auth_req_id"] != id || claims["at_hash"] != halfHash(access) ||
		claims["urn:openid:params:jwt:claim:rt_hash"] != halfHash(refresh) || tok.Subject != "user:development/guest" {
		t.Fatalf("push ID token claims %v", claims)
	}
	// The pushed refresh token works, once.
	if status, body := e.refresh(t, cl.ID, cl.Secret, refresh); status != 200 {
		t.Fatalf("refresh: %d %v", status, body)
	}

	id = e.startRequest(t, cl, loginHint("guest", "client_notification_token", "push-token-2"))
	if status, body := e.complete(t, e.guest(t), id, "deny"); status != 200 {
		t.Fatalf("complete: %d %v", status, body)
	}
	got = rcv.next(t)
	if got.Auth != "Bearer push-token-2" || got.Body["auth_req_id"] != id || got.Body["error"] != "access_denied" || got.Body["access_token"] != nil {
		t.Fatalf("push of a denial: %v", got)
	}
}

// TestDeadEndpointBlocksNothing: a client whose endpoint fails keeps being
// retried while another client's pings go through.
func TestDeadEndpointBlocksNothing(t *testing.T) {
	e := start(t, options{})
	dead, alive := newReceiver(t), newReceiver(t)
	dead.answer(http.StatusServiceUnavailable)
	deadClient := e.client(t, "ping", dead.URL, nil)
	aliveClient := e.client(t, "ping", alive.URL, nil)
	guest := e.guest(t)
	for i := range 5 {
		id := e.startRequest(t, deadClient, loginHint("guest", "client_notification_token", "dead-"+string(rune('a'+i))))
		if status, body := e.complete(t, guest, id, "approve"); status != 200 {
			t.Fatalf("complete: %d %v", status, body)
		}
	}
	for range 3 {
		id := e.startRequest(t, aliveClient, loginHint("guest", "client_notification_token", "alive"))
		if status, body := e.complete(t, guest, id, "approve"); status != 200 {
			t.Fatalf("complete: %d %v", status, body)
		}
		if got := alive.next(t); got.Body["auth_req_id"] != id {
			t.Fatalf("alive client got %v", got.Body)
		}
	}
	// The dead client's pings are still queued, with their failures.
	waitQueue(t, e.st, "the dead client's pings with a failure", func(q []store.Delivery) bool {
		failed := 0
		for _, d := range q {
			if d.ClientID == deadClient.ID && d.Attempts > 0 && strings.Contains(d.LastError, "503") {
				failed++
			}
		}
		return failed > 0
	})
	// Once the endpoint is back, they are all delivered.
	dead.answer(http.StatusNoContent)
	for range 5 {
		dead.next(t)
	}
}

// TestQueueSurvivesRestart: a ping accepted while the client's endpoint is
// down is delivered by the next server on the same Badger directory, and
// nothing already delivered (the notify webhook) is sent again. Each step
// waits, bounded, for the state it needs rather than for time to pass:
// before the stop, the webhook is delivered and gone from the queue and the
// ping has failed once.
func TestQueueSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	open := func() *store.Store {
		kv, err := badger.Open(dir, badger.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return store.New(kv)
	}
	rcv := newReceiver(t)
	rcv.answer(http.StatusServiceUnavailable)
	st := open()
	slowRetry := func(c *config.Config) { c.CIBA.Delivery.InitialBackoff, c.CIBA.Delivery.MaxBackoff = 200e6, 200e6 }
	e := start(t, options{store: st, edit: slowRetry})
	cl := e.client(t, "ping", rcv.URL, nil)
	id := e.startRequest(t, cl, loginHint("guest", "client_notification_token", "restart-token"))
	if status, body := e.complete(t, e.guest(t), id, "approve"); status != 200 {
		t.Fatalf("complete: %d %v", status, body)
	}
	if got := e.webhook.next(t); got.Body == nil {
		t.Fatalf("notify webhook: %v", got)
	}
	waitQueue(t, st, "only the failed ping", func(q []store.Delivery) bool {
		return len(q) == 1 && q[0].ClientID == cl.ID && q[0].Attempts > 0
	})
	addr := e.cfg.Server.Addr
	e.stop()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	rcv.answer(http.StatusNoContent)
	st = open()
	t.Cleanup(func() { _ = st.Close() })
	if q := queued(t, st); len(q) != 1 || q[0].Kind != store.DeliveryPing {
		t.Fatalf("deliveries in the reopened store %+v, want the ping", q)
	}
	e2 := start(t, options{store: st, addr: addr, hook: e.webhook, edit: slowRetry})
	got := rcv.next(t)
	if got.Auth != "Bearer restart-token" || got.Body["auth_req_id"] != id {
		t.Fatalf("ping after restart: %v", got)
	}
	if status, body := e2.poll(t, cl, id); status != 200 || body["access_token"] == nil {
		t.Fatalf("token after restart: %d %v", status, body)
	}
	waitQueue(t, st, "an empty queue", func(q []store.Delivery) bool { return len(q) == 0 })
	e2.stop()
	for name, r := range map[string]*receiver{"client": rcv, "notify webhook": e.webhook} {
		select {
		case again := <-r.got:
			t.Errorf("the %s was sent again: %v", name, again.Body)
		default:
		}
	}
}

// queued lists the delivery queue.
func queued(tb testing.TB, st *store.Store) []store.Delivery {
	tb.Helper()
	var q []store.Delivery
	if err := st.Deliveries.List(context.Background(), func(_ string, d store.Delivery) error {
		q = append(q, d)
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return q
}

// waitQueue waits, at most 20 s, for the delivery queue to satisfy ok.
func waitQueue(tb testing.TB, st *store.Store, want string, ok func([]store.Delivery) bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		q := queued(tb, st)
		if ok(q) {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the delivery queue never held %s: %+v", want, q)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
