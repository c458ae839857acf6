package ciba_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// TestBackchannelAuthorizeErrors: every refusal of CIBA Core §13 answers
// the right error and status and stores nothing.
func TestBackchannelAuthorizeErrors(t *testing.T) {
	e := start(t, options{})
	poll := e.client(t, "poll", "", nil)
	ping := e.client(t, "ping", "https://client.example/cb", nil)
	userCode := e.client(t, "poll", "", map[string]any{"backchannel_user_code_parameter": true})
	codeFlow := testclient.Must(testclient.Register(e.issuer, map[string]any{
		"redirect_uris": []string{"http://127.0.0.1:9/cb"}, "scope": "openid",
	}))(t)
	wrongSecret := poll
	wrongSecret.Secret = "not-the-secret"

	cases := []struct {
		name   string
		client testclient.Client
		form   url.Values
		status int
		code   string
	}{
		{"no client auth", testclient.Client{}, loginHint("guest"), 401, "invalid_client"},
		{"wrong secret", wrongSecret, loginHint("guest"), 401, "invalid_client"},
		{"client without the grant", codeFlow, loginHint("guest"), 400, "unauthorized_client"},
		{"scope without openid", poll, url.Values{"scope": {"profile"}, "login_hint": {"guest"}}, 400, "invalid_scope"},
		{"no scope", poll, url.Values{"login_hint": {"guest"}}, 400, "invalid_scope"},
		{"scope not registered", poll, loginHint("guest", "scope", "openid admin"), 400, "invalid_scope"},
		// RFC 6749 §3.3 separates scope values by spaces only, as every
		// other endpoint reads them.
		{"scope separated by a tab", poll, loginHint("guest", "scope", "openid\tprofile"), 400, "invalid_scope"},
		{"scope separated by a newline", poll, loginHint("guest", "scope", "openid\nprofile"), 400, "invalid_scope"},
		{"no hint", poll, url.Values{"scope": {"openid"}}, 400, "invalid_request"},
		{"two hints", poll, loginHint("guest", "login_hint_token", "x"), 400, "invalid_request"},
		{"empty hint", poll, loginHint(""), 400, "invalid_request"},
		{"bad id_token_hint", poll, url.Values{"scope": {"openid"}, "id_token_hint": {"not.a.jwt"}}, 400, "invalid_request"},
		{"unknown user", poll, loginHint("mallory"), 400, "unknown_user_id"},
		{"login_hint_token unsupported by directory", poll, url.Values{"scope": {"openid"}, "login_hint_token": {"abc"}}, 400, "unknown_user_id"},
		{"binding message too long", poll, loginHint("guest", "binding_message", strings.Repeat("x", 129)), 400, "invalid_binding_message"},
		{"binding message control char", poll, loginHint("guest", "binding_message", "a\nb"), 400, "invalid_binding_message"},
		{"user code missing for a user who has one", userCode, loginHint("alice"), 400, "missing_user_code"},
		{"user code for a user who has none", userCode, loginHint("guest", "user_code", "1234"), 400, "invalid_user_code"},
		{"user code too long", userCode, loginHint("guest", "user_code", strings.Repeat("1", 65)), 400, "invalid_user_code"},
		{"requested_expiry zero", poll, loginHint("guest", "requested_expiry", "0"), 400, "invalid_request"},
		{"requested_expiry negative", poll, loginHint("guest", "requested_expiry", "-5"), 400, "invalid_request"},
		{"requested_expiry not a number", poll, loginHint("guest", "requested_expiry", "ten"), 400, "invalid_request"},
		{"requested_expiry above max", poll, loginHint("guest", "requested_expiry", "86401"), 400, "invalid_request"},
		{"ping without notification token", ping, loginHint("guest"), 400, "invalid_request"},
		{"ping with a malformed notification token", ping, loginHint("guest", "client_notification_token", "a b"), 400, "invalid_request"},
		{"request object from an unsigned client", poll, loginHint("guest", "request", "a.b.c"), 400, "invalid_request"},
		{"resource not on the allow-list", poll, loginHint("guest", "resource", "https://payments.example.net/"), 400, "invalid_target"},
		{"relative resource", poll, loginHint("guest", "resource", "/api"), 400, "invalid_target"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.authorize(t, tc.client, tc.form)
			if status != tc.status || body["error"] != tc.code {
				t.Fatalf("got %d %v, want %d %s", status, body, tc.status, tc.code)
			}
			if d, _ := body["error_description"].(string); d == "" {
				t.Errorf("no error_description: %v", body)
			}
		})
	}
	if n := e.requests(t); n != 0 {
		t.Errorf("refused requests stored %d records", n)
	}
}

// TestBackchannelAuthorizeAccepted: an accepted request answers
// auth_req_id, expires_in and interval (CIBA Core §7.3) without caching,
// and the notify plugin's webhook delivery reaches its endpoint with the
// approval URL.
func TestBackchannelAuthorizeAccepted(t *testing.T) {
	e := start(t, options{})
	cl := e.client(t, "poll", "", nil)
	req, err := http.NewRequest(http.MethodPost, e.issuer+"/v1/backchannel/authorize", strings.NewReader(url.Values{
		"scope": {"openid profile"}, "login_hint": {"alice@example.com"}, "user_code": {aliceUserCode}, "binding_message": {"W4SCT"}, "requested_expiry": {"120"},
	}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(cl.ID), url.QueryEscape(cl.Secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("status %d cache-control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	status, body := e.authorize(t, cl, loginHint("alice", "user_code", aliceUserCode, "binding_message", "W4SCT", "requested_expiry", "120"))
	id, _ := body["auth_req_id"].(string)
	if status != 200 || len(id) < 40 || body["expires_in"] != 120.0 || body["interval"] != 1.0 {
		t.Fatalf("got %d %v", status, body)
	}
	// Two requests, two notifications; the queue's workers deliver them in
	// either order, so take the one for this request.
	var got received
	for range 2 {
		if n := e.webhook.next(t); n.Body["approval_url"] == e.issuer+"/oauth2/backchannel/"+id {
			got = n
		}
	}
	user, _ := got.Body["user"].(map[string]any)
	app, _ := got.Body["client"].(map[string]any)
	approval, _ := got.Body["approval_url"].(string)
	if got.Body["event"] != "ciba.authentication_requested" || user["sub"] != "user:default/alice" ||
		app["name"] != "CIBA test app" || got.Body["binding_message"] != "W4SCT" ||
		approval != e.issuer+"/oauth2/backchannel/"+id || got.Body["expires_at"] == nil {
		t.Fatalf("notification %v", got.Body)
	}
	if n := e.requests(t); n != 2 {
		t.Errorf("%d stored requests, want 2", n)
	}
}
