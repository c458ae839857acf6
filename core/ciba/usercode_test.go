package ciba_test

import (
	"net/url"
	"strings"
	"testing"
)

// TestUserCode: the user_code is checked against the user by the
// resolve_user plugin (directory-static knows alice's): the right code is
// accepted, a wrong one is invalid_user_code, none from a client that
// registered backchannel_user_code_parameter is missing_user_code (CIBA
// Core §7.1, §13); a refusal stores nothing.
func TestUserCode(t *testing.T) {
	e := start(t, options{})
	withParam := e.client(t, "poll", "", map[string]any{"backchannel_user_code_parameter": true})
	plain := e.client(t, "poll", "", nil)
	tests := []struct {
		name   string
		client string
		form   url.Values
		code   string // "" for accepted
	}{
		{"right code", "param", loginHint("alice", "user_code", aliceUserCode), ""},
		{"wrong code", "param", loginHint("alice", "user_code", "7294-alicf"), "invalid_user_code"},
		{"code with another case", "param", loginHint("alice", "user_code", "7294-ALICE"), "invalid_user_code"},
		{"missing code", "param", loginHint("alice"), "missing_user_code"},
		{"wrong code from a client without the parameter", "plain", loginHint("alice", "user_code", "0000"), "invalid_user_code"},
		{"right code from a client without the parameter", "plain", loginHint("alice", "user_code", aliceUserCode), ""},
		{"no code from a client without the parameter", "plain", loginHint("alice"), ""},
		{"a user with no code configured", "param", loginHint("guest", "user_code", "anything"), ""},
		{"wrong code of an unknown user", "param", loginHint("mallory", "user_code", "0000"), "unknown_user_id"},
	}
	accepted := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := plain
			if tt.client == "param" {
				cl = withParam
			}
			before := e.requests(t)
			status, body := e.authorize(t, cl, tt.form)
			if tt.code == "" {
				if status != 200 || body["auth_req_id"] == nil {
					t.Fatalf("got %d %v, want accepted", status, body)
				}
				accepted++
				return
			}
			if status != 400 || body["error"] != tt.code {
				t.Fatalf("got %d %v, want 400 %s", status, body, tt.code)
			}
			if after := e.requests(t); after != before {
				t.Errorf("a refused request was stored: %d → %d", before, after)
			}
		})
	}
	if n := e.requests(t); n != accepted {
		t.Errorf("%d stored requests, want %d", n, accepted)
	}
}

// TestUserCodeNeverKept: once resolve_user has checked it, the user_code
// is a secret the user knows (CIBA Core §7.1): it is not in the store,
// authinfo and the approval page only say that a code was verified.
func TestUserCodeNeverKept(t *testing.T) {
	e := start(t, options{})
	cl := e.client(t, "poll", "", map[string]any{"backchannel_user_code_parameter": true})
	const code = "guest-code-4711"
	id := e.startRequest(t, cl, loginHint("guest", "user_code", code))
	plain := e.startRequest(t, e.client(t, "poll", "", nil), loginHint("guest"))
	if e.kvHolds(t, []byte(code)) {
		t.Error("the store holds the user_code")
	}
	guest := e.guest(t)
	for _, tc := range []struct {
		id       string
		verified bool
	}{{id, true}, {plain, false}} {
		status, body := e.get(t, "/v1/backchannel/authinfo?auth_req_id="+tc.id, guest)
		if _, shown := body["user_code"]; status != 200 || shown || (body["user_code_verified"] == true) != tc.verified {
			t.Errorf("authinfo: %d %v, want user_code_verified %v and no user_code", status, body, tc.verified)
		}
	}
	b := signedInBrowser(t, e, id)
	for _, tc := range []struct {
		id       string
		verified bool
	}{{id, true}, {plain, false}} {
		page := b.get(t, e.issuer+"/oauth2/backchannel/"+tc.id)
		if !strings.Contains(page, `id="approve"`) || strings.Contains(page, code) ||
			strings.Contains(page, `id="user-code-verified"`) != tc.verified {
			t.Errorf("approval page (verified %v): %s", tc.verified, page)
		}
	}
}
