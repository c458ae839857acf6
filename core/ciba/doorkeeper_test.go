package ciba_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/ciba"
	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
	"github.com/gatehouse-auth/gatehouse/core/store/storetest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// form posts values to path (under the issuer) with a bearer token.
func (e *env) form(tb testing.TB, path, bearer string, values url.Values) (int, map[string]any) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, e.issuer+path, strings.NewReader(values.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	status, body, err := testclient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	return status, body
}

// doorkeeperRoutes turns ciba.doorkeeper_routes on.
func doorkeeperRoutes(cfg *config.Config) { cfg.CIBA.DoorkeeperRoutes = true }

// The doorkeeper-ciba device flow through its routes: the client posts to
// /backchannel/authorize, the device lists the signed-in user's pending
// requests at /backchannel/authinfo (no auth_req_id), answers with
// status=A at /backchannel/complete, and the client's poll gets tokens.
func TestDoorkeeperDeviceFlow(t *testing.T) {
	e := start(t, options{edit: doorkeeperRoutes})
	cl := e.client(t, "POLL", "", nil)
	guest := e.guest(t)

	status, body, err := testclient.PostForm(e.issuer+"/backchannel/authorize", cl.ID, cl.Secret,
		loginHint("guest", "binding_message", "W4SCT"))
	if err != nil {
		t.Fatal(err)
	}
	authReqID, _ := body["auth_req_id"].(string)
	if status != http.StatusOK || authReqID == "" {
		t.Fatalf("authorize: %d %v", status, body)
	}
	// Another user's request is not in the guest's list.
	other := e.startRequest(t, cl, loginHint("alice", "user_code", aliceUserCode))

	status, body = e.get(t, "/backchannel/authinfo", guest)
	reqs, _ := body["requests"].([]any)
	if status != http.StatusOK || len(reqs) != 1 {
		t.Fatalf("authinfo list: %d %v", status, body)
	}
	item, _ := reqs[0].(map[string]any)
	if item["auth_req_id"] != authReqID || item["binding_message"] != "W4SCT" || item["status"] != "pending" ||
		item["client_id"] != cl.ID || item["created_at"] == nil || item["auth_req_id"] == other {
		t.Fatalf("listed request: %v", item)
	}

	status, body = e.form(t, "/backchannel/complete", guest, url.Values{"auth_req_id": {authReqID}, "status": {"A"}})
	if status != http.StatusOK || body["status"] != "A" || body["auth_req_id"] != authReqID {
		t.Fatalf("complete status=A: %d %v", status, body)
	}
	// Answered: no longer listed.
	if status, body = e.get(t, "/v1/backchannel/authinfo", guest); status != http.StatusOK || len(body["requests"].([]any)) != 0 {
		t.Fatalf("authinfo list after the answer: %d %v", status, body)
	}
	status, body = e.poll(t, cl, authReqID)
	if status != http.StatusOK || body["access_token"] == nil || body["id_token"] == nil {
		t.Fatalf("poll: %d %v", status, body)
	}

	// status=D denies.
	denied := e.startRequest(t, cl, loginHint("guest"))
	if status, body = e.form(t, "/v1/backchannel/complete", guest, url.Values{"auth_req_id": {denied}, "status": {"D"}}); status != http.StatusOK || body["status"] != "D" {
		t.Fatalf("complete status=D: %d %v", status, body)
	}
	if status, body = e.poll(t, cl, denied); status != http.StatusBadRequest || body["error"] != "access_denied" {
		t.Fatalf("poll after status=D: %d %v", status, body)
	}
}

// Without ciba.doorkeeper_routes (the default) the routes without /v1
// are not served; the /v1 ones always are.
func TestDoorkeeperRoutesOffByDefault(t *testing.T) {
	e := start(t, options{})
	cl := e.client(t, "poll", "", nil)
	guest := e.guest(t)
	if status, _, err := testclient.PostForm(e.issuer+"/backchannel/authorize", cl.ID, cl.Secret, loginHint("guest")); err != nil || status != http.StatusNotFound {
		t.Fatalf("/backchannel/authorize without the switch: %d %v", status, err)
	}
	if status, _ := e.get(t, "/backchannel/authinfo", guest); status != http.StatusNotFound {
		t.Fatalf("/backchannel/authinfo without the switch: %d", status)
	}
	if status, _ := e.form(t, "/backchannel/complete", guest, url.Values{"auth_req_id": {"x"}, "status": {"A"}}); status != http.StatusNotFound {
		t.Fatalf("/backchannel/complete without the switch: %d", status)
	}
	if status, _ := e.form(t, "/backchannel/clientconfig", cl.RegistrationToken, url.Values{"client_id": {cl.ID}, "ciba_notify_type": {"poll"}}); status != http.StatusNotFound {
		t.Fatalf("/backchannel/clientconfig without the switch: %d", status)
	}
	if status, body := e.get(t, "/v1/backchannel/authinfo", guest); status != http.StatusOK || body["requests"] == nil {
		t.Fatalf("/v1/backchannel/authinfo list: %d %v", status, body)
	}
}

// complete's status and action: each alone, both agreeing; the bad ones
// are refused and change nothing.
func TestCompleteStatusAlias(t *testing.T) {
	e := start(t, options{})
	cl := e.client(t, "poll", "", nil)
	guest := e.guest(t)
	id := e.startRequest(t, cl, loginHint("guest"))
	for _, tc := range []struct {
		name   string
		values url.Values
	}{
		{"disagree", url.Values{"action": {"approve"}, "status": {"D"}}},
		{"disagree the other way", url.Values{"action": {"deny"}, "status": {"A"}}},
		{"unknown status", url.Values{"status": {"approved"}}},
		{"lower-case status", url.Values{"status": {"a"}}},
		{"neither", url.Values{}},
		{"unknown action", url.Values{"action": {"A"}}},
	} {
		tc.values.Set("auth_req_id", id)
		status, body := e.form(t, "/v1/backchannel/complete", guest, tc.values)
		if status != http.StatusBadRequest || body["error"] != "invalid_request" {
			t.Errorf("%s: %d %v, want 400 invalid_request", tc.name, status, body)
		}
	}
	if status, body := e.get(t, "/v1/backchannel/authinfo?auth_req_id="+id, guest); status != http.StatusOK || body["status"] != "pending" {
		t.Fatalf("the refused answers changed the request: %d %v", status, body)
	}
	status, body := e.form(t, "/v1/backchannel/complete", guest, url.Values{"auth_req_id": {id}, "action": {"approve"}, "status": {"A"}})
	if status != http.StatusOK || body["status"] != "A" {
		t.Fatalf("agreeing action and status: %d %v", status, body)
	}
}

// The list holds only the signed-in user's pending, unexpired requests of
// existing clients, and needs the user's token.
func TestAuthInfoListScope(t *testing.T) {
	e := start(t, options{})
	cl := e.client(t, "poll", "", nil)
	gone := e.client(t, "poll", "", nil)
	guest := e.guest(t)
	live := e.startRequest(t, cl, loginHint("guest"))
	expired := e.startRequest(t, cl, loginHint("guest"))
	e.backdate(t, expired)
	e.startRequest(t, gone, loginHint("guest"))
	req, _ := http.NewRequest(http.MethodDelete, gone.RegistrationURI, nil)
	req.Header.Set("Authorization", "Bearer "+gone.RegistrationToken)
	if status, _, err := testclient.Do(req); err != nil || status != http.StatusNoContent {
		t.Fatalf("delete client: %d %v", status, err)
	}
	status, body := e.get(t, "/v1/backchannel/authinfo", guest)
	reqs, _ := body["requests"].([]any)
	if status != http.StatusOK || len(reqs) != 1 || reqs[0].(map[string]any)["auth_req_id"] != live {
		t.Fatalf("list: %d %v, want only %s", status, body, live)
	}
	if status, body := e.get(t, "/v1/backchannel/authinfo", ""); status != http.StatusUnauthorized {
		t.Fatalf("list without a token: %d %v", status, body)
	}
}

// Delivery modes in any case are stored canonical, at registration and
// at clientconfig; clientconfig is the RFC 7592 update, with its
// authentication and its validation.
func TestClientConfig(t *testing.T) {
	e := start(t, options{edit: doorkeeperRoutes})
	cb := newReceiver(t)
	stored := func(id string) (string, string) {
		t.Helper()
		cl, err := e.st.Clients.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		return cl.BackchannelTokenDeliveryMode, cl.BackchannelClientNotificationEndpoint
	}
	pinged := e.client(t, "PING", cb.URL, nil)
	if mode, _ := stored(pinged.ID); mode != "ping" {
		t.Fatalf("registered PING stored as %q", mode)
	}
	cl := e.client(t, "Push", cb.URL, nil)
	if mode, _ := stored(cl.ID); mode != "push" {
		t.Fatalf("registered Push stored as %q", mode)
	}

	// Refusals change nothing.
	for _, tc := range []struct {
		name, bearer string
		values       url.Values
		status       int
		err          string
	}{
		{"no token", "", url.Values{"client_id": {cl.ID}, "ciba_notify_type": {"poll"}}, http.StatusUnauthorized, "invalid_token"},
		{"wrong token", "not-the-token", url.Values{"client_id": {cl.ID}, "ciba_notify_type": {"poll"}}, http.StatusUnauthorized, "invalid_token"},
		{"another client's token", pinged.RegistrationToken, url.Values{"client_id": {cl.ID}, "ciba_notify_type": {"poll"}}, http.StatusUnauthorized, "invalid_token"},
		{"unknown client", cl.RegistrationToken, url.Values{"client_id": {"nobody"}, "ciba_notify_type": {"poll"}}, http.StatusUnauthorized, "invalid_token"},
		{"no client_id", cl.RegistrationToken, url.Values{"ciba_notify_type": {"poll"}}, http.StatusBadRequest, "invalid_request"},
		{"no type", cl.RegistrationToken, url.Values{"client_id": {cl.ID}}, http.StatusBadRequest, "invalid_request"},
		{"unknown type", cl.RegistrationToken, url.Values{"client_id": {cl.ID}, "ciba_notify_type": {"POOL"}}, http.StatusBadRequest, "invalid_client_metadata"},
		{"ping without endpoint", cl.RegistrationToken, url.Values{"client_id": {cl.ID}, "ciba_notify_type": {"PING"}}, http.StatusBadRequest, "invalid_client_metadata"},
		{"endpoint not https", cl.RegistrationToken, url.Values{"client_id": {cl.ID}, "ciba_notify_type": {"ping"}, "ciba_notify_endpoint": {"http://example.com/cb"}}, http.StatusBadRequest, "invalid_client_metadata"},
		{"endpoint with fragment", cl.RegistrationToken, url.Values{"client_id": {cl.ID}, "ciba_notify_type": {"ping"}, "ciba_notify_endpoint": {cb.URL + "#x"}}, http.StatusBadRequest, "invalid_client_metadata"},
	} {
		status, body := e.form(t, "/backchannel/clientconfig", tc.bearer, tc.values)
		if status != tc.status || body["error"] != tc.err {
			t.Errorf("%s: %d %v, want %d %s", tc.name, status, body, tc.status, tc.err)
		}
		if mode, endpoint := stored(cl.ID); mode != "push" || endpoint != cb.URL {
			t.Fatalf("%s changed the client: %q %q", tc.name, mode, endpoint)
		}
	}
	// The same change refused by RFC 7592 PUT gets the same error.
	_, viaConfig := e.form(t, "/backchannel/clientconfig", cl.RegistrationToken,
		url.Values{"client_id": {cl.ID}, "ciba_notify_type": {"ping"}, "ciba_notify_endpoint": {"http://example.com/cb"}})
	put, err := http.NewRequest(http.MethodPut, cl.RegistrationURI, strings.NewReader(`{"client_id":"`+cl.ID+`",`+
		`"client_name":"CIBA test app","grant_types":["urn:openid:params:grant-type:ciba","refresh_token"],"scope":"openid profile email offline_access",`+
		`"backchannel_token_delivery_mode":"ping","backchannel_client_notification_endpoint":"http://example.com/cb"}`))
	if err != nil {
		t.Fatal(err)
	}
	put.Header.Set("Content-Type", "application/json")
	put.Header.Set("Authorization", "Bearer "+cl.RegistrationToken)
	_, viaPut, err := testclient.Do(put)
	if err != nil || viaPut["error"] != viaConfig["error"] || viaPut["error_description"] != viaConfig["error_description"] {
		t.Fatalf("clientconfig refused with %v, RFC 7592 PUT with %v (%v)", viaConfig, viaPut, err)
	}

	status, body := e.form(t, "/v1/backchannel/clientconfig", cl.RegistrationToken,
		url.Values{"client_id": {cl.ID}, "ciba_notify_type": {"POLL"}})
	if status != http.StatusOK || body["backchannel_token_delivery_mode"] != "poll" || body["backchannel_client_notification_endpoint"] != nil ||
		body["client_name"] != "CIBA test app" {
		t.Fatalf("clientconfig POLL: %d %v", status, body)
	}
	if mode, endpoint := stored(cl.ID); mode != "poll" || endpoint != "" {
		t.Fatalf("clientconfig POLL stored %q %q", mode, endpoint)
	}
	status, body = e.form(t, "/backchannel/clientconfig", cl.RegistrationToken,
		url.Values{"client_id": {cl.ID}, "ciba_notify_type": {"PING"}, "ciba_notify_endpoint": {cb.URL}})
	if status != http.StatusOK || body["backchannel_token_delivery_mode"] != "ping" {
		t.Fatalf("clientconfig PING: %d %v", status, body)
	}
	if mode, endpoint := stored(cl.ID); mode != "ping" || endpoint != cb.URL {
		t.Fatalf("clientconfig PING stored %q %q", mode, endpoint)
	}
	// The client still polls and is pinged in its new mode.
	id := e.startRequest(t, cl, loginHint("guest", "client_notification_token", "ct-1"))
	if status, body := e.complete(t, e.guest(t), id, "approve"); status != http.StatusOK {
		t.Fatalf("complete: %d %v", status, body)
	}
	if got := cb.next(t); got.Body["auth_req_id"] != id {
		t.Fatalf("ping: %v", got.Body)
	}
}

// The list reads only the user's own requests, in pages: more pending
// requests than one answer holds come back newest first with a cursor to
// the rest, and a user with more answered (or gone) requests than one
// answer reads gets a short answer with a cursor, never a read of them
// all. Nothing scans every CIBA request.
func TestAuthInfoListPages(t *testing.T) {
	st := store.New(storetest.Paged(memory.New(), store.BackchannelPrefix+"/", store.BackchannelByUserPrefix+"/"))
	e := start(t, options{store: st})
	cl := e.client(t, "poll", "", nil)
	guest := e.guest(t)
	const n = ciba.MaxPendingListed + 5
	made := map[string]bool{}
	for range n {
		made[e.startRequest(t, cl, loginHint("guest"))] = true
	}
	e.startRequest(t, cl, loginHint("alice", "user_code", aliceUserCode))

	// listAll follows the cursors from cursor on and returns every
	// request listed and the number of answers.
	listAll := func(t *testing.T) (ids []string, sub string, answers int) {
		t.Helper()
		cursor := ""
		for answers = 1; ; answers++ {
			if answers > 20 {
				t.Fatalf("more than 20 answers")
			}
			path := "/v1/backchannel/authinfo"
			if cursor != "" {
				path += "?cursor=" + url.QueryEscape(cursor)
			}
			status, body := e.get(t, path, guest)
			reqs, ok := body["requests"].([]any)
			if status != http.StatusOK || !ok || len(reqs) > ciba.MaxPendingListed {
				t.Fatalf("list %d: %d %v", answers, status, body)
			}
			// Compared as times: RFC 3339 drops trailing zeros of the
			// fraction, so the strings do not sort as the instants do.
			var last time.Time
			for _, r := range reqs {
				item := r.(map[string]any)
				ids = append(ids, item["auth_req_id"].(string))
				sub = item["sub"].(string)
				created, err := time.Parse(time.RFC3339Nano, item["created_at"].(string))
				if err != nil {
					t.Fatalf("list %d: created_at: %v", answers, err)
				}
				if !last.IsZero() && created.After(last) {
					t.Fatalf("list %d is not newest first: %v after %v", answers, created, last)
				}
				last = created
			}
			next, _ := body["next_cursor"].(string)
			if next == "" {
				return ids, sub, answers
			}
			cursor = next
		}
	}
	ids, sub, answers := listAll(t)
	if len(ids) != n || answers != 2 {
		t.Fatalf("listed %d requests in %d answers, want %d in 2", len(ids), answers, n)
	}
	for _, id := range ids {
		if !made[id] {
			t.Fatalf("listed %s, not one of the guest's", id)
		}
		delete(made, id)
	}

	// Many newer entries of the guest whose requests are gone: the first
	// answer stops at its read budget, and the cursors lead to the rest.
	now := time.Now()
	for i := range 250 {
		id := fmt.Sprintf("gone-%03d", i)
		entry := store.BackchannelUserEntry{RequestID: id, ExpiresAt: now.Add(time.Hour)}
		if err := st.BackchannelByUser.Put(context.Background(), store.BackchannelUserID(sub, now.Add(time.Minute), id), entry); err != nil {
			t.Fatal(err)
		}
	}
	status, body := e.get(t, "/v1/backchannel/authinfo", guest)
	if reqs, _ := body["requests"].([]any); status != http.StatusOK || len(reqs) != 0 || body["next_cursor"] == nil {
		t.Fatalf("list behind 250 gone requests: %d %v, want none and a cursor", status, body)
	}
	if ids, _, _ := listAll(t); len(ids) != n {
		t.Fatalf("following the cursors listed %d requests, want %d", len(ids), n)
	}
	if status, body := e.get(t, "/v1/backchannel/authinfo?cursor="+strings.Repeat("x", 200), guest); status != http.StatusBadRequest || body["error"] != "invalid_request" {
		t.Fatalf("an overlong cursor: %d %v", status, body)
	}
}
