package ciba_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

// TestUserCode: the user_code is checked against the user by the
// resolve_user plugin (directory-static knows alice's): the right code is
// accepted and recorded verified, a wrong one is invalid_user_code, none
// for a user who has one is missing_user_code whatever the client
// registered, and a code for a user who has none is invalid_user_code, as
// nothing could verify it (CIBA Core §7.1, §13); a refusal stores nothing.
func TestUserCode(t *testing.T) {
	e := start(t, options{})
	withParam := e.client(t, "poll", "", map[string]any{"backchannel_user_code_parameter": true})
	plain := e.client(t, "poll", "", nil)
	tests := []struct {
		name   string
		client string
		form   url.Values
		code   string // "" for accepted
		// verified is what an accepted request records.
		verified bool
	}{
		{"right code", "param", loginHint("alice", "user_code", aliceUserCode), "", true},
		{"wrong code", "param", loginHint("alice", "user_code", "7294-alicf"), "invalid_user_code", false},
		{"code with another case", "param", loginHint("alice", "user_code", "7294-ALICE"), "invalid_user_code", false},
		{"missing code", "param", loginHint("alice"), "missing_user_code", false},
		{"wrong code from a client without the parameter", "plain", loginHint("alice", "user_code", "0000"), "invalid_user_code", false},
		{"right code from a client without the parameter", "plain", loginHint("alice", "user_code", aliceUserCode), "", true},
		{"no code from a client without the parameter", "plain", loginHint("alice"), "missing_user_code", false},
		{"a user with no code configured, a code sent", "param", loginHint("guest", "user_code", "anything"), "invalid_user_code", false},
		{"a user with no code configured, none sent", "param", loginHint("guest"), "", false},
		{"wrong code of an unknown user", "param", loginHint("mallory", "user_code", "0000"), "unknown_user_id", false},
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
				id, _ := body["auth_req_id"].(string)
				if status != 200 || id == "" {
					t.Fatalf("got %d %v, want accepted", status, body)
				}
				accepted++
				rec, err := e.st.Backchannel.Get(context.Background(), store.HashID(id))
				if err != nil || rec.UserCodeVerified != tt.verified {
					t.Errorf("stored user_code_verified %v (%v), want %v", rec.UserCodeVerified, err, tt.verified)
				}
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
// authinfo and the approval page only say that a code was verified. Here
// the guest has a code and alice none.
func TestUserCodeNeverKept(t *testing.T) {
	const code = "guest-code-4711"
	e := start(t, options{edit: func(cfg *config.Config) {
		cfg.Plugins.Settings["directory-static"] = config.PluginSettings{Config: map[string]any{"users": []any{
			map[string]any{"sub": "user:development/guest", "username": "guest", "user_code": code},
			map[string]any{"sub": "user:default/alice", "username": "alice"},
		}}}
	}})
	cl := e.client(t, "poll", "", map[string]any{"backchannel_user_code_parameter": true})
	id := e.startRequest(t, cl, loginHint("guest", "user_code", code))
	plain := e.startRequest(t, e.client(t, "poll", "", nil), loginHint("alice"))
	if e.kvHolds(t, []byte(code)) {
		t.Error("the store holds the user_code")
	}
	alice, _, err := e.srv.Issuer().IdentityToken(context.Background(), token.Identity{Subject: "user:default/alice"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id, bearer string
		verified   bool
	}{{id, e.guest(t), true}, {plain, alice, false}} {
		status, body := e.get(t, "/v1/backchannel/authinfo?auth_req_id="+tc.id, tc.bearer)
		if _, shown := body["user_code"]; status != 200 || shown || (body["user_code_verified"] == true) != tc.verified {
			t.Errorf("authinfo: %d %v, want user_code_verified %v and no user_code", status, body, tc.verified)
		}
	}
	page := signedInBrowser(t, e, id).get(t, e.issuer+"/oauth2/backchannel/"+id)
	if !strings.Contains(page, `id="approve"`) || strings.Contains(page, code) || !strings.Contains(page, `id="user-code-verified"`) {
		t.Errorf("approval page: %s", page)
	}
}

// TestUserCodeOldPlugin: a resolve_user module that predates
// user_code_verified (it answers alice, never comparing a code) gets its
// requests without a code through, not reported verified, and a request
// with a code refused with invalid_user_code: nothing could check it.
func TestUserCodeOldPlugin(t *testing.T) {
	e := startHostile(t, "otheruser")
	cl := e.client(t, "poll", "", nil)
	id := e.startRequest(t, cl, loginHint("alice"))
	rec, err := e.st.Backchannel.Get(context.Background(), store.HashID(id))
	if err != nil || rec.UserCodeVerified {
		t.Errorf("request without a code: user_code_verified %v (%v), want false", rec.UserCodeVerified, err)
	}
	status, body := e.authorize(t, cl, loginHint("alice", "user_code", aliceUserCode))
	if status != 400 || body["error"] != "invalid_user_code" {
		t.Errorf("a code the plugin did not compare: %d %v, want 400 invalid_user_code", status, body)
	}
	if n := e.requests(t); n != 1 {
		t.Errorf("%d requests stored, want 1", n)
	}
}

// TestUserCodeLockout: wrong user codes for one user are counted whatever
// the client (open registration makes clients cheap): after five, even the
// right code is refused (429) for a while, so a short code cannot be
// guessed; other users are not affected.
func TestUserCodeLockout(t *testing.T) {
	e := start(t, options{})
	clients := []testclient.Client{e.client(t, "poll", "", nil), e.client(t, "poll", "", nil)}
	for i := range 5 {
		status, body := e.authorize(t, clients[i%2], loginHint("alice", "user_code", fmt.Sprintf("%04d", i)))
		if status != 400 || body["error"] != "invalid_user_code" {
			t.Fatalf("wrong code %d: %d %v", i, status, body)
		}
	}
	status, body := e.authorize(t, clients[0], loginHint("alice", "user_code", aliceUserCode))
	if status != 429 || body["error"] != "too_many_requests" {
		t.Fatalf("the right code after five wrong ones: %d %v, want 429", status, body)
	}
	if status, body := e.authorize(t, clients[1], loginHint("guest")); status != 200 {
		t.Fatalf("another user during alice's lockout: %d %v", status, body)
	}
}

// TestUserCodeLockoutAcrossReplicas: two servers on one PostgreSQL, as
// replicas behind a load balancer. Wrong codes sent to either count
// together, so five in all lock the hint out on both: N replicas do not
// give a guesser N times the attempts.
func TestUserCodeLockoutAcrossReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL")
	}
	dsn := pgtest.NewDatabase(t)
	a := start(t, options{store: postgresStore(t, dsn)})
	b := start(t, options{store: postgresStore(t, dsn)})
	cl := a.client(t, "poll", "", nil)
	for i := range 5 {
		e := []*env{a, b}[i%2]
		status, body := e.authorize(t, cl, loginHint("alice", "user_code", fmt.Sprintf("%04d", i)))
		if status != 400 || body["error"] != "invalid_user_code" {
			t.Fatalf("wrong code %d: %d %v", i, status, body)
		}
	}
	for name, e := range map[string]*env{"A": a, "B": b} {
		status, body := e.authorize(t, cl, loginHint("alice", "user_code", aliceUserCode))
		if status != 429 || body["error"] != "too_many_requests" {
			t.Errorf("the right code on %s after five wrong ones across both: %d %v, want 429", name, status, body)
		}
	}
}
