package ciba_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

// TestExpiredUnanswered: a ping or push request that expires without an
// answer sends the client nothing (CIBA Core §10.2/§10.3 make it
// optional), and the authorization device says clearly that it expired:
// authinfo's status is "expired", the approval page is a 410 "This request
// has expired" with nothing to approve, the API answers expired_token. A
// request answered before it expired keeps its real status.
func TestExpiredUnanswered(t *testing.T) {
	e := start(t, options{})
	guest := e.guest(t)
	for _, mode := range []string{"ping", "push"} {
		t.Run(mode, func(t *testing.T) {
			rcv := newReceiver(t)
			cl := e.client(t, mode, rcv.URL, nil)
			expired := e.startRequest(t, cl, loginHint("guest", "requested_expiry", "1", "client_notification_token", "tok-"+mode))
			// Answered well within its lifetime (a 1 s one could run out
			// on a loaded machine before the answer), which then passes.
			answered := e.startRequest(t, cl, loginHint("guest", "client_notification_token", "tok2-"+mode))
			if status, body := e.complete(t, guest, answered, "deny"); status != 200 {
				t.Fatalf("deny: %d %v", status, body)
			}
			rcv.next(t) // the denial's callback
			e.backdate(t, answered)
			e.waitExpired(t, expired)

			status, body := e.get(t, "/v1/backchannel/authinfo?auth_req_id="+expired, guest)
			if status != 200 || body["status"] != "expired" || body["expires_at"] == nil {
				t.Errorf("authinfo of the expired request: %d %v", status, body)
			}
			if status, body := e.get(t, "/v1/backchannel/authinfo?auth_req_id="+answered, guest); status != 200 || body["status"] != "denied" {
				t.Errorf("authinfo of the request denied in time: %d %v", status, body)
			}
			resp, err := http.Get(e.issuer + "/oauth2/backchannel/" + expired)
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusGone || !strings.Contains(string(page), "This request has expired") ||
				!strings.Contains(string(page), "nothing was approved") || strings.Contains(string(page), `id="approve"`) {
				t.Errorf("approval page of the expired request: %d %s", resp.StatusCode, page)
			}
			if status, body := e.complete(t, guest, expired, "approve"); status != 400 || body["error"] != "expired_token" {
				t.Errorf("approve after expiry: %d %v", status, body)
			}
			// Nothing was queued for the expired request's client: only
			// the denial, already delivered.
			err = e.st.Deliveries.List(context.Background(), func(_ string, d store.Delivery) error {
				if d.ClientID == cl.ID {
					t.Errorf("a %s delivery waits for the client after expiry", d.Kind)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			select {
			case got := <-rcv.got:
				t.Errorf("the client was sent %v", got.Body)
			default:
			}
		})
	}
}
