package grant_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// TestAuthorizationCodeWithOAuth2Client redeems a code with
// golang.org/x/oauth2 (PKCE S256) and checks what the tokens say.
func TestAuthorizationCodeWithOAuth2Client(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.client(t, "web", store.ClientMetadata{Scope: "openid profile email offline_access"})
	verifier := oauth2.GenerateVerifier()
	raw := e.code(t, "web", "openid profile offline_access", verifier, func(c *store.AuthCode) {
		c.Resource = []string{"https://api.example.com"}
	})
	code := e.codeRecord(t, raw)

	conf := oauth2.Config{
		ClientID: "web", ClientSecret: testSecret, RedirectURL: testRedirect,
		Endpoint: oauth2.Endpoint{TokenURL: e.tokenURL, AuthStyle: oauth2.AuthStyleInHeader},
	}
	ctx := context.Background()
	tok, err := conf.Exchange(ctx, raw, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.RefreshToken == "" || tok.Expiry.IsZero() {
		t.Fatalf("token %+v", tok)
	}
	if got := tok.Extra("scope"); got != "openid profile offline_access" {
		t.Errorf("scope %v", got)
	}

	// RFC 9068 access token, audience from RFC 8707 resource, in the grant.
	access, err := e.srv.Issuer().VerifyAccessToken(ctx, tok.AccessToken)
	if err != nil {
		t.Fatalf("verify access token: %v", err)
	}
	if access.Subject != testSubject || access.ClientID != "web" || access.GrantID != code.GrantID ||
		!slices.Equal(access.Audience, code.Resource) || !access.AuthTime.Equal(code.AuthTime) ||
		!slices.Equal(access.Ownership, code.Ownership) || access.Scope != code.Scope {
		t.Errorf("access token %+v, code %+v", access, code)
	}

	// OIDC Core §3.1.3.3: the ID token with nonce, auth_time, at_hash and
	// the profile claims the scope releases (profile, not email).
	rawID, _ := tok.Extra("id_token").(string)
	id := claims(t, rawID)
	if id["sub"] != testSubject || id["aud"] != "web" || id["nonce"] != code.Nonce ||
		id["auth_time"] != float64(code.AuthTime.Unix()) || id["at_hash"] == nil {
		t.Errorf("ID token claims %v", id)
	}
	if id["name"] != "Alice" || id["email"] != nil {
		t.Errorf("ID token profile claims %v: want name and no email", id)
	}

	// The grant is recorded and the code spent.
	g, err := e.st.Grants.Get(ctx, code.GrantID)
	if err != nil || g.ClientID != "web" || g.Subject != testSubject || g.Scope != code.Scope || g.Revoked ||
		g.ExpiresAt.Before(time.Now().Add(e.cfg.Tokens.RefreshTokenTTL-time.Minute)) {
		t.Errorf("grant %+v, %v", g, err)
	}
	// Spent, the code keeps only what a replay needs to revoke the grant.
	if c := e.codeRecord(t, raw); !c.Used || c.GrantID != code.GrantID || c.ClientID != "web" || c.Subject != testSubject ||
		c.Scope != code.Scope || c.RedirectURI != "" || c.CodeChallenge != "" || c.Nonce != "" || c.Claims != nil {
		t.Errorf("spent code %+v", c)
	}
}

// TestAuthorizationCodeResponses checks which tokens come back: a refresh
// token for offline_access or a client registered for refresh_token, an ID
// token for openid.
func TestAuthorizationCodeResponses(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.client(t, "plain", store.ClientMetadata{})
	e.client(t, "refresher", store.ClientMetadata{GrantTypes: []string{"authorization_code", "refresh_token"}})
	e.client(t, "spa", store.ClientMetadata{TokenEndpointAuthMethod: oauth.AuthNone})
	e.client(t, "poster", store.ClientMetadata{TokenEndpointAuthMethod: oauth.AuthPost})
	verifier := oauth2.GenerateVerifier()

	for _, tc := range []struct {
		name, scope   string
		auth          auth
		refresh, id   bool
		noRedirectURI bool
	}{
		{name: "openid only", scope: "openid", auth: basic("plain"), id: true},
		{name: "offline_access", scope: "openid offline_access", auth: basic("plain"), refresh: true, id: true},
		{name: "registered refresh_token", scope: "catalog.read", auth: basic("refresher"), refresh: true},
		{name: "empty scope", scope: "", auth: basic("plain")},
		{name: "public client", scope: "openid offline_access", auth: public("spa"), refresh: true, id: true},
		{name: "client_secret_post", scope: "openid", auth: post("poster"), id: true},
		// RFC 6749 §2.3.1 allows either way; Backstage accepts both.
		{name: "client_secret_basic client sending its secret in the body", scope: "openid", auth: post("plain"), id: true},
		{name: "redirect_uri not in the request", scope: "openid", auth: basic("plain"), id: true, noRedirectURI: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := e.code(t, tc.auth.id, tc.scope, verifier, func(c *store.AuthCode) {
				c.RedirectURIGiven = !tc.noRedirectURI
			})
			form := url.Values{"grant_type": {"authorization_code"}, "code": {raw}, "code_verifier": {verifier}}
			if !tc.noRedirectURI {
				form.Set("redirect_uri", testRedirect)
			}
			r := e.post(t, form, tc.auth)
			wantTokens(t, r, tc.scope, tc.refresh, tc.id)
		})
	}
}

// TestAuthorizationCodeRefused: every refusal answers the exact RFC error
// and changes nothing (the code stays unused, no grant is recorded).
func TestAuthorizationCodeRefused(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.client(t, "web", store.ClientMetadata{})
	e.client(t, "other", store.ClientMetadata{})
	e.client(t, "spa", store.ClientMetadata{TokenEndpointAuthMethod: oauth.AuthNone})
	e.client(t, "machine", store.ClientMetadata{GrantTypes: []string{"client_credentials"}})
	verifier := oauth2.GenerateVerifier()
	form := func(code string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {testRedirect}, "code_verifier": {verifier}}
	}

	for _, tc := range []struct {
		name      string
		owner     string                      // the code's client (default web)
		edit      func(*store.AuthCode)       // the stored code
		request   func(url.Values) url.Values // the token request
		auth      auth
		status    int
		code      string
		challenge bool // WWW-Authenticate: Basic (every 401, RFC 9110 §15.5.2)
	}{
		{name: "unknown client (Basic)", auth: auth{oauth.AuthBasic, "nobody", testSecret},
			status: 401, code: "invalid_client", challenge: true},
		{name: "unknown client (post)", auth: auth{oauth.AuthPost, "nobody", testSecret},
			status: 401, code: "invalid_client", challenge: true},
		{name: "wrong secret (Basic)", auth: auth{oauth.AuthBasic, "web", "wrong"},
			status: 401, code: "invalid_client", challenge: true},
		{name: "wrong auth method (none for a Basic client)", auth: public("web"),
			status: 401, code: "invalid_client", challenge: true},
		{name: "no client authentication", auth: auth{},
			status: 401, code: "invalid_client", challenge: true},
		{name: "public client sending a secret", owner: "spa", auth: auth{oauth.AuthPost, "spa", "x"},
			status: 401, code: "invalid_client", challenge: true},
		{name: "client not registered for authorization_code", owner: "machine", auth: basic("machine"),
			status: 400, code: "unauthorized_client"},
		{name: "missing grant_type", auth: basic("web"),
			request: func(v url.Values) url.Values { v.Del("grant_type"); return v },
			status:  400, code: "invalid_request"},
		{name: "unknown grant_type", auth: basic("web"),
			request: func(v url.Values) url.Values { v.Set("grant_type", "password"); return v },
			status:  400, code: "unsupported_grant_type"},
		{name: "missing code", auth: basic("web"),
			request: func(v url.Values) url.Values { v.Del("code"); return v },
			status:  400, code: "invalid_request"},
		{name: "unknown code", auth: basic("web"),
			request: func(v url.Values) url.Values { v.Set("code", oauth.RandomToken(32)); return v },
			status:  400, code: "invalid_grant"},
		{name: "repeated parameter", auth: basic("web"),
			request: func(v url.Values) url.Values { v.Add("code_verifier", verifier); return v },
			status:  400, code: "invalid_request"},
		{name: "missing verifier", auth: basic("web"),
			request: func(v url.Values) url.Values { v.Del("code_verifier"); return v },
			status:  400, code: "invalid_grant"},
		{name: "empty verifier", auth: basic("web"),
			request: func(v url.Values) url.Values { v.Set("code_verifier", ""); return v },
			status:  400, code: "invalid_grant"},
		{name: "wrong verifier", auth: basic("web"),
			request: func(v url.Values) url.Values { v.Set("code_verifier", oauth2.GenerateVerifier()); return v },
			status:  400, code: "invalid_grant"},
		{name: "verifier too short", auth: basic("web"),
			request: func(v url.Values) url.Values { v.Set("code_verifier", verifier[:42]); return v },
			status:  400, code: "invalid_grant"},
		{name: "verifier with a forbidden character", auth: basic("web"),
			request: func(v url.Values) url.Values { v.Set("code_verifier", verifier[:42]+"+"); return v },
			status:  400, code: "invalid_grant"},
		{name: "plain-style verifier (the challenge itself)", auth: basic("web"),
			request: func(v url.Values) url.Values { v.Set("code_verifier", challenge(verifier)); return v },
			status:  400, code: "invalid_grant"},
		{name: "verifier for a code without challenge", auth: basic("web"),
			edit:   func(c *store.AuthCode) { c.CodeChallenge = "" },
			status: 400, code: "invalid_grant"},
		{name: "redirect_uri mismatch", auth: basic("web"),
			request: func(v url.Values) url.Values { v.Set("redirect_uri", testRedirect+"/x"); return v },
			status:  400, code: "invalid_grant"},
		{name: "redirect_uri missing", auth: basic("web"),
			request: func(v url.Values) url.Values { v.Del("redirect_uri"); return v },
			status:  400, code: "invalid_grant"},
		{name: "redirect_uri sent but not in the authorization request, different", auth: basic("web"),
			edit:    func(c *store.AuthCode) { c.RedirectURIGiven = false },
			request: func(v url.Values) url.Values { v.Set("redirect_uri", "http://127.0.0.1:9/other"); return v },
			status:  400, code: "invalid_grant"},
		{name: "expired code", auth: basic("web"),
			edit:   func(c *store.AuthCode) { c.ExpiresAt = time.Now().Add(-time.Second) },
			status: 400, code: "invalid_grant"},
		{name: "code of another client", owner: "other", auth: basic("web"),
			status: 400, code: "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			owner := tc.owner
			if owner == "" {
				owner = "web"
			}
			raw := e.code(t, owner, "openid offline_access", verifier, tc.edit)
			req := form(raw)
			if tc.request != nil {
				req = tc.request(req)
			}
			r := e.post(t, req, tc.auth)
			wantError(t, r, tc.status, tc.code)
			if got := r.header.Get("WWW-Authenticate"); (got != "") != tc.challenge {
				t.Errorf("WWW-Authenticate %q, want present=%v", got, tc.challenge)
			}
			code := e.codeRecord(t, raw)
			if code.Used {
				t.Error("a refused request spent the code")
			}
			if _, err := e.st.Grants.Get(context.Background(), code.GrantID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a refused request recorded the grant: %v", err)
			}
		})
	}
}

// TestAuthorizationCodeReplay: a second redemption fails and revokes what
// the first produced (RFC 6749 §4.1.2), even when the replay has other
// faults too.
func TestAuthorizationCodeReplay(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.client(t, "web", store.ClientMetadata{})
	e.client(t, "other", store.ClientMetadata{})
	ctx := context.Background()
	verifier := oauth2.GenerateVerifier()

	for _, tc := range []struct {
		name   string
		replay func(url.Values) (url.Values, auth)
	}{
		{name: "same request", replay: func(v url.Values) (url.Values, auth) { return v, basic("web") }},
		{name: "wrong verifier", replay: func(v url.Values) (url.Values, auth) {
			v.Set("code_verifier", oauth2.GenerateVerifier())
			return v, basic("web")
		}},
		{name: "another client", replay: func(v url.Values) (url.Values, auth) { return v, basic("other") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := e.code(t, "web", "openid offline_access", verifier, nil)
			form := url.Values{"grant_type": {"authorization_code"}, "code": {raw},
				"redirect_uri": {testRedirect}, "code_verifier": {verifier}}
			first := e.post(t, form, basic("web"))
			wantTokens(t, first, "openid offline_access", true, true)
			if _, err := e.srv.Issuer().VerifyAccessToken(ctx, first.str("access_token")); err != nil {
				t.Fatalf("first access token invalid before the replay: %v", err)
			}

			replay, a := tc.replay(cloneValues(form))
			r := e.post(t, replay, a)
			wantError(t, r, http.StatusBadRequest, "invalid_grant")
			if !strings.Contains(r.str("error_description"), "already used") {
				t.Errorf("description %q", r.str("error_description"))
			}

			if _, err := e.srv.Issuer().VerifyAccessToken(ctx, first.str("access_token")); err == nil {
				t.Error("first access token still valid after the replay")
			}
			refresh := e.post(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.str("refresh_token")}}, basic("web"))
			wantError(t, refresh, http.StatusBadRequest, "invalid_grant")
		})
	}
}

// TestAuthorizationCodeConcurrentRedemption: of N simultaneous
// redemptions exactly one gets tokens, and since the others are replays,
// those tokens are revoked; every loser gets invalid_grant.
func TestAuthorizationCodeConcurrentRedemption(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.client(t, "web", store.ClientMetadata{})
	verifier := oauth2.GenerateVerifier()
	const n = 12
	for round := range 3 {
		raw := e.code(t, "web", "openid offline_access", verifier, nil)
		form := url.Values{"grant_type": {"authorization_code"}, "code": {raw},
			"redirect_uri": {testRedirect}, "code_verifier": {verifier}}
		replies := make([]reply, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { replies[i] = e.post(t, form, basic("web")) })
		}
		wg.Wait()
		var won []reply
		for _, r := range replies {
			switch {
			case r.status == http.StatusOK:
				won = append(won, r)
			case r.str("error") != "invalid_grant":
				t.Errorf("round %d: %d %v", round, r.status, r.body)
			}
		}
		// The code is spent in the same write that records the grant, so
		// one redemption always wins, and its grant is there to revoke.
		if len(won) != 1 {
			t.Fatalf("round %d: %d redemptions succeeded, want exactly 1", round, len(won))
		}
		if _, err := e.srv.Issuer().VerifyAccessToken(context.Background(), won[0].str("access_token")); err == nil {
			t.Errorf("round %d: the winner's access token survived the concurrent replays", round)
		}
	}
}

// TestTokenEndpointBodies: JSON bodies (Backstage), unsupported media
// types and oversized bodies.
func TestTokenEndpointBodies(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.client(t, "spa", store.ClientMetadata{TokenEndpointAuthMethod: oauth.AuthNone})
	verifier := oauth2.GenerateVerifier()

	t.Run("JSON body", func(t *testing.T) {
		raw := e.code(t, "spa", "openid offline_access", verifier, nil)
		body := `{"grant_type":"authorization_code","code":"` + raw + `","redirect_uri":"` + testRedirect +
			`","client_id":"spa","code_verifier":"` + verifier + `"}`
		r := e.send(t, http.Header{"Content-Type": {"application/json; charset=utf-8"}}, body)
		wantTokens(t, r, "openid offline_access", true, true)

		body = `{"grant_type":"refresh_token","refresh_token":"` + r.str("refresh_token") + `","client_id":"spa"}`
		wantTokens(t, e.send(t, http.Header{"Content-Type": {"application/json"}}, body), "openid offline_access", true, true)
	})
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
	}{
		{"JSON array", "application/json", `["grant_type"]`, 400},
		{"JSON with a non-string value", "application/json", `{"grant_type":{"a":1}}`, 400},
		{"JSON with trailing data", "application/json", `{"grant_type":"client_credentials"} {}`, 400},
		{"malformed form", "application/x-www-form-urlencoded", "grant_type=%zz", 400},
		{"unsupported media type", "text/plain", "grant_type=client_credentials", 415},
		{"oversized form", "application/x-www-form-urlencoded", "grant_type=client_credentials&x=" + strings.Repeat("a", 70_000), 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.send(t, http.Header{"Content-Type": {tc.contentType}}, tc.body)
			if r.status != tc.status || r.str("error") != "invalid_request" {
				t.Fatalf("got %d %v, want %d invalid_request", r.status, r.body, tc.status)
			}
		})
	}
}
