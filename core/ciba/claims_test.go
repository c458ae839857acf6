package ciba_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/token"
)

// jwtPayload decodes a JWT's claims (the signature is checked elsewhere).
func jwtPayload(tb testing.TB, raw string) map[string]any {
	tb.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		tb.Fatalf("not a JWT: %q", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		tb.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		tb.Fatal(err)
	}
	return c
}

// TestApproverClaims: the sign_in hook's claims of the user who approves
// a CIBA request (here in the identity token they approve with, as
// core/token's VerifyIdentityToken returns them) reach the ID and access
// tokens of the grant, in poll and push mode, refreshed access tokens and
// /v1/userinfo, as in the code flow; the registered names among them are
// never taken.
func TestApproverClaims(t *testing.T) {
	e := start(t, options{})
	const sub = "user:development/guest"
	bearer, _, err := e.srv.Issuer().IdentityToken(context.Background(), token.Identity{
		Subject: sub, Ownership: []string{sub},
		Claims: map[string]any{"team": "platform", "sub": "user:default/mallory", "iss": "https://evil.example", "scope": "admin"},
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, claims map[string]any) {
		t.Helper()
		if claims["team"] != "platform" {
			t.Errorf("%s: sign-in claim missing: %v", what, claims)
		}
		if claims["sub"] != sub || claims["iss"] != e.issuer || claims["scope"] == "admin" {
			t.Errorf("%s: registered claims taken from the sign-in claims: %v", what, claims)
		}
	}

	poll := e.client(t, "poll", "", nil)
	id := e.startRequest(t, poll, loginHint("guest", "scope", "openid profile offline_access"))
	if status, body := e.complete(t, bearer, id, "approve"); status != 200 {
		t.Fatalf("complete: %d %v", status, body)
	}
	status, body := e.poll(t, poll, id)
	if status != 200 {
		t.Fatalf("poll: %d %v", status, body)
	}
	check("poll ID token", jwtPayload(t, body["id_token"].(string)))
	check("poll access token", jwtPayload(t, body["access_token"].(string)))
	// userinfo answers them too, beside the standard claims (OIDC Core
	// §5.3.2), never over sub.
	if status, info := e.get(t, "/v1/userinfo", body["access_token"].(string)); status != 200 || info["name"] != "Guest" ||
		info["team"] != "platform" || info["sub"] != sub || info["iss"] != nil || info["scope"] != nil {
		t.Errorf("userinfo: %d %v", status, info)
	}
	status, body = e.refresh(t, poll.ID, poll.Secret, body["refresh_token"].(string))
	if status != 200 {
		t.Fatalf("refresh: %d %v", status, body)
	}
	check("refreshed access token", jwtPayload(t, body["access_token"].(string)))

	rcv := newReceiver(t)
	push := e.client(t, "push", rcv.URL, nil)
	id = e.startRequest(t, push, loginHint("guest", "client_notification_token", "claims-push"))
	if status, body := e.complete(t, bearer, id, "approve"); status != 200 {
		t.Fatalf("complete: %d %v", status, body)
	}
	got := rcv.next(t)
	idt := jwtPayload(t, got.Body["id_token"].(string))
	check("pushed ID token", idt)
	if idt["urn:openid:params:jwt:claim:auth_req_id"] != id {
		t.Errorf("pushed ID token lost auth_req_id: %v", idt)
	}
	check("pushed access token", jwtPayload(t, got.Body["access_token"].(string)))

	// An approver without sign-in claims gets none.
	id = e.startRequest(t, poll, loginHint("guest"))
	if status, body := e.complete(t, e.guest(t), id, "approve"); status != 200 {
		t.Fatalf("complete: %d %v", status, body)
	}
	_, body = e.poll(t, poll, id)
	if jwtPayload(t, body["id_token"].(string))["team"] != nil {
		t.Errorf("claims of another approval leaked: %v", body)
	}
	if status, info := e.get(t, "/v1/userinfo", body["access_token"].(string)); status != 200 || info["sub"] != sub || info["team"] != nil {
		t.Errorf("userinfo without sign-in claims: %d %v", status, info)
	}
}
