package ciba_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// TestSecretsAtRest: with keys.secret set, the client_notification_token
// of a stored request and the bearer and body of a queued push (a token
// response) are sealed until delivered, and delivered as sent; without
// it they are stored as they are (as keyset stores signing keys).
func TestSecretsAtRest(t *testing.T) {
	for _, tt := range []struct {
		name   string
		secret string
	}{
		{"sealed", "ciba-test-keys-secret"},
		{"no secret", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sealed := tt.secret != ""
			e := start(t, options{edit: func(c *config.Config) { c.Keys.Secret = tt.secret }})
			rcv := newReceiver(t)
			rcv.answer(http.StatusServiceUnavailable)
			cl := e.client(t, "push", rcv.URL, nil)
			const token = "notification-token-at-rest-4242"
			id := e.startRequest(t, cl, loginHint("guest", "client_notification_token", token))
			ctx := context.Background()

			// The request, before any decision.
			n := 0
			err := e.st.Backchannel.List(ctx, func(_ string, r store.BackchannelRequest) error {
				n++
				if r.NotificationTokenSealed != sealed || (r.NotificationToken == token) == sealed {
					t.Errorf("stored request: sealed %v, token %q", r.NotificationTokenSealed, r.NotificationToken)
				}
				return nil
			})
			if err != nil || n != 1 {
				t.Fatalf("%d requests, %v", n, err)
			}
			if found := e.kvHolds(t, []byte(token)); found == sealed {
				t.Errorf("the store holds the token in the clear: %v, want %v", found, !sealed)
			}

			// The push, failing, waits in the queue.
			if status, body := e.complete(t, e.guest(t), id, "approve"); status != 200 {
				t.Fatalf("complete: %d %v", status, body)
			}
			d := e.waitAttempted(t)
			if d.Sealed != sealed || (d.Bearer == token) == sealed ||
				bytes.Contains(d.Body, []byte(`"access_token"`)) == sealed || bytes.Contains(d.Body, []byte(id)) == sealed {
				t.Errorf("queued push: sealed %v, bearer %q, body %q", d.Sealed, d.Bearer, d.Body)
			}
			if found := e.kvHolds(t, []byte(token)); found == sealed {
				t.Errorf("the store holds the token in the clear: %v, want %v", found, !sealed)
			}

			// Delivered as sent.
			rcv.answer(http.StatusNoContent)
			got := rcv.next(t)
			if got.Auth != "Bearer "+token || got.Body["auth_req_id"] != id || got.Body["access_token"] == nil {
				t.Fatalf("push: auth %q body %v", got.Auth, got.Body)
			}
		})
	}
}

// kvHolds: some stored value contains b.
func (e *env) kvHolds(tb testing.TB, b []byte) bool {
	tb.Helper()
	found := false
	err := e.st.KV.Scan(context.Background(), "", func(_ string, v []byte) error {
		found = found || bytes.Contains(v, b)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return found
}

// waitAttempted waits for the one queued client callback to have failed
// at least once.
func (e *env) waitAttempted(tb testing.TB) store.Delivery {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var got *store.Delivery
		err := e.st.Deliveries.List(context.Background(), func(_ string, d store.Delivery) error {
			if d.Kind != store.DeliveryWebhook && d.Attempts > 0 {
				got = &d
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
		if got != nil {
			return *got
		}
	}
	tb.Fatal("the callback was never attempted")
	return store.Delivery{}
}
