package authorize_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// callback is what the client's loopback redirect server received.
type callback struct{ code, state, iss, err string }

// redirectServer is a client's loopback redirect URI (RFC 8252 §7.3): it
// hands what it receives to the test.
func redirectServer(t *testing.T) (redirectURI string, got <-chan callback) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan callback, 1)
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/callback" {
				http.NotFound(w, r)
				return
			}
			q := r.URL.Query()
			select {
			case ch <- callback{q.Get("code"), q.Get("state"), q.Get("iss"), q.Get("error")}:
			default:
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(`<!doctype html><title>done</title><p id="done">Signed in.</p>`))
		}),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("redirect server: %v", err)
		}
	}()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + "/callback", ch
}

// TestConsentPageInChromium drives the built-in consent page in headless
// Chromium: a client registered by DCR sends the browser to the
// authorization endpoint, the user signs in as the guest and approves, the
// browser lands on the client's loopback redirect with code and state, and
// the client exchanges the code for an ID token it verifies.
func TestConsentPageInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts headless Chromium")
	}
	for _, basePath := range []string{"", "/api/auth"} {
		t.Run("base="+basePath, func(t *testing.T) {
			e := start(t, func(c *config.Config) { c.Server.BasePath = basePath })
			redirectURI, got := redirectServer(t)
			client := testclient.Must(testclient.Register(e.issuer, map[string]any{
				"client_name": "Chromium test app", "redirect_uris": []string{redirectURI},
				"scope": "openid profile",
			}))(t)

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			ctx = oidc.ClientContext(ctx, &http.Client{Timeout: 10 * time.Second})
			provider, err := oidc.NewProvider(ctx, e.issuer)
			if err != nil {
				t.Fatalf("discovery: %v", err)
			}
			conf := oauth2.Config{ClientID: client.ID, ClientSecret: client.Secret, RedirectURL: redirectURI,
				Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile"}}
			verifier := oauth2.GenerateVerifier()
			state, nonce := "state-"+oauth2.GenerateVerifier()[:10], "nonce-"+oauth2.GenerateVerifier()[:10]
			authURL := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))

			browserCtx := testclient.Browser(t, ctx)

			consentText := testclient.GuestApproval(t, browserCtx, authURL)
			for _, want := range []string{"Chromium test app", "Guest", "Confirm who you are"} {
				if !strings.Contains(consentText, want) {
					t.Errorf("consent step text lacks %q: %q", want, consentText)
				}
			}

			var cb callback
			select {
			case cb = <-got:
			case <-ctx.Done():
				t.Fatal("the redirect server received nothing")
			}
			if cb.err != "" || cb.code == "" || cb.state != state || cb.iss != e.issuer {
				t.Fatalf("callback %+v: want a code, state %q, iss %q", cb, state, e.issuer)
			}

			tok, err := conf.Exchange(ctx, cb.code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			rawID, _ := tok.Extra("id_token").(string)
			idToken, err := provider.Verifier(&oidc.Config{ClientID: client.ID}).Verify(ctx, rawID)
			if err != nil {
				t.Fatalf("verify ID token: %v", err)
			}
			var claims struct {
				Name     string   `json:"name"`
				Ent      []string `json:"ent"`
				AuthTime int64    `json:"auth_time"`
			}
			if err := idToken.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			if idToken.Subject != e.cfg.Guest.UserEntityRef || idToken.Nonce != nonce || claims.Name != "Guest" ||
				len(claims.Ent) == 0 || claims.AuthTime == 0 {
				t.Errorf("ID token sub %q nonce %q claims %+v", idToken.Subject, idToken.Nonce, claims)
			}
			if err := idToken.VerifyAccessToken(tok.AccessToken); err != nil {
				t.Errorf("at_hash: %v", err)
			}
		})
	}
}
