package server_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// TestLoopbackRedirectAnyPort: a native app registered with a loopback
// redirect URI may authorize on any port (RFC 8252 §7.3), as native hosts
// pick a free port each run: golang.org/x/oauth2 goes through authorize,
// approval and the token exchange with the port-varied URI (issue 11 §3).
// Scheme, host, path and query stay exact.
func TestLoopbackRedirectAnyPort(t *testing.T) {
	s := startServer(t, "")
	ctx := context.Background()
	client := s.register(t, map[string]any{
		"client_name": "native", "application_type": "native", "token_endpoint_auth_method": "none",
		"redirect_uris": []string{"http://127.0.0.1:4181/cb", "http://[::1]:4181/cb", "http://localhost/cb?app=a"},
		"grant_types":   []string{"authorization_code", "refresh_token"},
	})
	for _, redirectURI := range []string{"http://127.0.0.1:4187/cb", "http://[::1]:50123/cb", "http://localhost:4187/cb?app=a", "http://127.0.0.1:4181/cb"} {
		t.Run(redirectURI, func(t *testing.T) {
			conf := oauth2.Config{ClientID: client.ID, RedirectURL: redirectURI,
				Endpoint: oauth2.Endpoint{AuthURL: s.issuer + "/v1/authorize", TokenURL: s.issuer + "/v1/token", AuthStyle: oauth2.AuthStyleInParams},
				Scopes:   []string{"openid"}}
			verifier := oauth2.GenerateVerifier()
			redirect := s.approve(t, conf.AuthCodeURL("st-loop", oauth2.S256ChallengeOption(verifier)))
			want, _ := url.Parse(redirectURI)
			if redirect.Scheme != want.Scheme || redirect.Host != want.Host || redirect.Path != want.Path {
				t.Fatalf("redirected to %s, want %s", redirect, redirectURI)
			}
			q := redirect.Query()
			if q.Get("state") != "st-loop" || q.Get("code") == "" || (want.RawQuery != "" && q.Get("app") != "a") {
				t.Fatalf("redirect query %v", q)
			}
			tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken == "" || tok.Extra("id_token") == nil {
				t.Errorf("token %+v", tok)
			}
		})
	}

	// The token request must repeat the port the authorization request
	// used (RFC 6749 §4.1.3), not merely another loopback port.
	conf := oauth2.Config{ClientID: client.ID, RedirectURL: "http://127.0.0.1:4187/cb",
		Endpoint: oauth2.Endpoint{AuthURL: s.issuer + "/v1/authorize", TokenURL: s.issuer + "/v1/token", AuthStyle: oauth2.AuthStyleInParams},
		Scopes:   []string{"openid"}}
	verifier := oauth2.GenerateVerifier()
	code := s.approve(t, conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier))).Query().Get("code")
	conf.RedirectURL = "http://127.0.0.1:4188/cb"
	_, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	assertOAuthError(t, err, "invalid_grant")

	// Only the port varies.
	for _, redirectURI := range []string{
		"http://127.0.0.1:4187/cb/", "http://127.0.0.1:4187/other", "http://127.0.0.2:4187/cb", "http://localhost:4187/cb",
		"https://127.0.0.1:4187/cb", "http://127.0.0.1:4187/cb?x=1", "http://localhost:4187/cb", "http://localhost:4187/cb?app=b",
		"http://u@127.0.0.1:4187/cb", "http://127.0.0.1:0/cb",
	} {
		p := url.Values{"response_type": {"code"}, "client_id": {client.ID}, "redirect_uri": {redirectURI}, "state": {"st"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
		resp, err := testclient.NoRedirect.Get(s.issuer + "/v1/authorize?" + p.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d Location %q, want 400 without a redirect", redirectURI, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}
