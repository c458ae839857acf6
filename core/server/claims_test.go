package server_test

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

// scopedClaims are the claims the profile and email scopes release (OIDC
// Core §5.4).
var scopedClaims = []string{"name", "preferred_username", "picture", "email", "email_verified"}

// TestProfileClaimsByScope drives the code flow with golang.org/x/oauth2
// and go-oidc, approving through the session API: the ID token and
// userinfo carry the claims of exactly the scopes granted, and agree. The
// guest signs in with the configured email (verified by the operator);
// an identity token without a profile gets the user directory's
// (resolve_user), unverified; a user the directory does not know gets
// only what its entity ref says.
func TestProfileClaimsByScope(t *testing.T) {
	const dirEmail = "directory-guest@example.com"
	l := servertest.Start(t, func(cfg *config.Config) {
		cfg.Plugins.Dir, cfg.Plugins.Watch = t.TempDir(), false
		cfg.Guest.Email = "guest@gatehouse.test"
		// The user has a CIBA user_code: a profile lookup needs none.
		cfg.Plugins.Settings["directory-static"] = config.PluginSettings{Config: map[string]any{"users": []any{
			map[string]any{"sub": "user:development/guest", "email": dirEmail, "displayName": "Guest (directory)", "user_code": "4711"},
		}}}
	})
	ctx := oidc.ClientContext(context.Background(), &http.Client{Timeout: 10 * time.Second})
	provider, err := oidc.NewProvider(ctx, l.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	var disco struct {
		Claims []string `json:"claims_supported"`
	}
	if err := provider.Claims(&disco); err != nil {
		t.Fatal(err)
	}
	for _, c := range append([]string{"sub", "auth_time", "ent"}, scopedClaims...) {
		if !strings.Contains(" "+strings.Join(disco.Claims, " ")+" ", " "+c+" ") {
			t.Errorf("claims_supported %v lacks %s", disco.Claims, c)
		}
	}
	const redirectURI = "http://127.0.0.1:9/callback"
	client := testclient.Must(testclient.Register(l.Issuer, map[string]any{
		"redirect_uris": []string{redirectURI},
		"grant_types":   []string{"authorization_code", "refresh_token"},
		"scope":         "openid profile email offline_access",
	}))(t)
	verifier := provider.Verifier(&oidc.Config{ClientID: client.ID})

	// flow runs the code flow for scope, approved with the identity token
	// bearer (the guest's from /guest/refresh when empty), and returns the
	// claims of the ID token, of the refreshed ID token, and of userinfo.
	flow := func(t *testing.T, scope, bearer string) (id, refreshed, info map[string]any) {
		t.Helper()
		conf := oauth2.Config{ClientID: client.ID, ClientSecret: client.Secret, RedirectURL: redirectURI,
			Endpoint: provider.Endpoint(), Scopes: strings.Fields(scope + " offline_access")}
		pkce := oauth2.GenerateVerifier()
		authURL := conf.AuthCodeURL("st", oauth2.S256ChallengeOption(pkce))
		var redirect *url.URL
		if bearer == "" {
			redirect = testclient.Must(testclient.Approve(l.Issuer, l.Cfg.AppURL(), authURL))(t)
		} else {
			redirect = approveWith(t, l.Issuer, authURL, bearer)
		}
		tok, err := conf.Exchange(ctx, redirect.Query().Get("code"), oauth2.VerifierOption(pkce))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		claimsOf := func(tok *oauth2.Token) map[string]any {
			raw, _ := tok.Extra("id_token").(string)
			idt, err := verifier.Verify(ctx, raw)
			if err != nil {
				t.Fatalf("verify ID token: %v", err)
			}
			var c map[string]any
			if err := idt.Claims(&c); err != nil {
				t.Fatal(err)
			}
			return c
		}
		id = claimsOf(tok)
		ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		if err := ui.Claims(&info); err != nil {
			t.Fatal(err)
		}
		next, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		return id, claimsOf(next), info
	}
	// check compares the scoped claims of the ID tokens and userinfo with
	// want: each one there with its value, the others absent.
	check := func(t *testing.T, want map[string]any, id, refreshed, info map[string]any) {
		t.Helper()
		for what, got := range map[string]map[string]any{"ID token": id, "refreshed ID token": refreshed, "userinfo": info} {
			for _, c := range scopedClaims {
				w, ok := want[c]
				g, there := got[c]
				switch {
				case ok && !there:
					t.Errorf("%s: no %s, want %v (claims %v)", what, c, w, got)
				case !ok && there:
					t.Errorf("%s: %s %v, which the scope does not release", what, c, g)
				case ok && g != w:
					t.Errorf("%s: %s %v, want %v", what, c, g, w)
				}
			}
		}
	}

	guestProfile := map[string]any{"name": "Guest", "preferred_username": "guest"}
	guestEmail := map[string]any{"email": "guest@gatehouse.test", "email_verified": true}
	for _, tc := range []struct {
		scope string
		want  map[string]any
	}{
		{"openid profile email", merged(guestProfile, guestEmail)},
		{"openid profile", guestProfile},
		{"openid email", guestEmail},
		{"openid", nil},
	} {
		t.Run("guest/"+tc.scope, func(t *testing.T) {
			id, refreshed, info := flow(t, tc.scope, "")
			check(t, tc.want, id, refreshed, info)
		})
	}

	identity := func(t *testing.T, sub string) string {
		t.Helper()
		tok, _, err := l.Server.Issuer().IdentityToken(context.Background(), token.Identity{Subject: sub, AuthTime: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	t.Run("directory", func(t *testing.T) {
		id, refreshed, info := flow(t, "openid profile email", identity(t, "user:development/guest"))
		check(t, map[string]any{"name": "Guest (directory)", "preferred_username": "guest", "email": dirEmail, "email_verified": false},
			id, refreshed, info)
	})
	t.Run("unknown to the directory", func(t *testing.T) {
		id, refreshed, info := flow(t, "openid profile email", identity(t, "user:default/nobody"))
		check(t, map[string]any{"preferred_username": "nobody"}, id, refreshed, info)
	})
}

func merged(a, b map[string]any) map[string]any {
	m := maps.Clone(a)
	maps.Copy(m, b)
	return m
}

// approveWith follows authURL to its consent session and approves it
// through the session API with the identity token bearer.
func approveWith(t *testing.T, issuer, authURL, bearer string) *url.URL {
	t.Helper()
	resp, err := testclient.NoRedirect.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	session := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.Contains(session, "/oauth2/authorize/") {
		t.Fatalf("authorize: %d to %q", resp.StatusCode, session)
	}
	session = session[strings.LastIndex(session, "/")+1:]
	status, body, err := testclient.PostJSON(issuer+"/v1/sessions/"+session+"/approve", bearer, nil)
	redirect, _ := body["redirectUrl"].(string)
	if err != nil || status != http.StatusOK || redirect == "" {
		t.Fatalf("approve: %d %v %v", status, body, err)
	}
	return testclient.Must(url.Parse(redirect))(t)
}
