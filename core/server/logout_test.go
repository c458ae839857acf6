package server_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/identity"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

// userAgent is a browser: cookies kept, redirects not followed.
type userAgent struct{ *http.Client }

func newUserAgent(t *testing.T) userAgent {
	t.Helper()
	return userAgent{testclient.UserAgent(t)}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (ua userAgent) do(t *testing.T, method, target string, form url.Values) page {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := ua.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return page{resp.StatusCode, resp.Header, string(raw)}
}

// location resolves p's Location against base.
func (p page) location(t *testing.T, base string) *url.URL {
	t.Helper()
	b, _ := url.Parse(base)
	u, err := b.Parse(p.header.Get("Location"))
	if err != nil || p.header.Get("Location") == "" {
		t.Fatalf("status %d without a usable Location: %.300s", p.status, p.body)
	}
	return u
}

var (
	csrfField     = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)
	returnToField = regexp.MustCompile(`name="returnTo" value="([^"]+)"`)
)

// TestRPInitiatedLogout: OpenID Connect RP-Initiated Logout 1.0 with
// golang.org/x/oauth2 and go-oidc. A client registers
// post_logout_redirect_uris (stored and echoed); the user signs in on the
// consent page (a login session); the end-session endpoint from discovery,
// with the ID token as id_token_hint, ends the login session and sends
// the browser to the registered URI with state, by GET or POST, with an
// expired ID token too. Without a hint the user is asked first, on a form
// protected against CSRF. Bad requests get the error page: no redirect,
// and the session stays.
func TestRPInitiatedLogout(t *testing.T) {
	l := servertest.Start(t, func(cfg *config.Config) {
		cfg.Plugins.Dir, cfg.Plugins.Watch = t.TempDir(), false
	})
	ctx := oidc.ClientContext(context.Background(), &http.Client{Timeout: 10 * time.Second})
	provider, err := oidc.NewProvider(ctx, l.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	var disco struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := provider.Claims(&disco); err != nil || disco.EndSession != l.Issuer+"/v1/logout" {
		t.Fatalf("end_session_endpoint %q (%v)", disco.EndSession, err)
	}
	const redirectURI, loggedOut = "http://127.0.0.1:9/callback", "http://127.0.0.1:9/logged-out?from=gatehouse"
	register := func(t *testing.T) testclient.Client {
		t.Helper()
		status, reg := postJSON(t, l.Issuer+"/v1/register", map[string]any{
			"redirect_uris": []string{redirectURI}, "post_logout_redirect_uris": []string{loggedOut},
			"scope": "openid profile",
		})
		uris, _ := reg["post_logout_redirect_uris"].([]any)
		if status != http.StatusCreated || len(uris) != 1 || uris[0] != loggedOut {
			t.Fatalf("register: %d %v", status, reg)
		}
		return testclient.Client{ID: reg["client_id"].(string), Secret: reg["client_secret"].(string)}
	}
	client, other := register(t), register(t)
	// RFC 7592 §2.1 reads the stored value back.
	stored, err := l.Store.Clients.Get(context.Background(), client.ID)
	if err != nil || len(stored.PostLogoutRedirectURIs) != 1 || stored.PostLogoutRedirectURIs[0] != loggedOut {
		t.Fatalf("stored client: %+v %v", stored.ClientMetadata, err)
	}

	// signIn signs a new browser in as the guest on the consent page and
	// returns it with the client's ID token.
	signIn := func(t *testing.T) (userAgent, string) {
		t.Helper()
		ua := newUserAgent(t)
		conf := oauth2.Config{ClientID: client.ID, ClientSecret: client.Secret, RedirectURL: redirectURI,
			Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile"}}
		pkce := oauth2.GenerateVerifier()
		authURL := conf.AuthCodeURL("st", oauth2.S256ChallengeOption(pkce), oidc.Nonce("n-"+pkce[:8]))
		consent := ua.do(t, http.MethodGet, authURL, nil).location(t, authURL).String()
		login := ua.do(t, http.MethodGet, consent, nil)
		csrf, returnTo := csrfField.FindStringSubmatch(login.body), returnToField.FindStringSubmatch(login.body)
		if login.status != http.StatusOK || csrf == nil || returnTo == nil {
			t.Fatalf("consent page login step: %d %.500s", login.status, login.body)
		}
		signedIn := ua.do(t, http.MethodPost, l.Issuer+"/guest/start", url.Values{"_csrf": {csrf[1]}, "returnTo": {html.UnescapeString(returnTo[1])}})
		if signedIn.status != http.StatusSeeOther {
			t.Fatalf("guest sign-in: %d %.300s", signedIn.status, signedIn.body)
		}
		approvePage := ua.do(t, http.MethodGet, consent, nil)
		csrf = csrfField.FindStringSubmatch(approvePage.body)
		if approvePage.status != http.StatusOK || csrf == nil || !strings.Contains(approvePage.body, `id="approve"`) {
			t.Fatalf("consent step: %d %.500s", approvePage.status, approvePage.body)
		}
		back := ua.do(t, http.MethodPost, consent, url.Values{"_csrf": {csrf[1]}, "decision": {"approve"}}).location(t, consent)
		tok, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(pkce))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		raw, _ := tok.Extra("id_token").(string)
		if _, err := provider.Verifier(&oidc.Config{ClientID: client.ID}).Verify(ctx, raw); err != nil {
			t.Fatalf("ID token: %v", err)
		}
		return ua, raw
	}
	// session is the stored login session of ua's cookie.
	session := func(t *testing.T, ua userAgent) bool {
		t.Helper()
		u, _ := url.Parse(l.Issuer + "/")
		for _, c := range ua.Jar.Cookies(u) {
			if c.Name == identity.SessionCookie {
				_, err := l.Store.LoginSessions.Get(context.Background(), store.HashID(c.Value))
				return err == nil
			}
		}
		return false
	}
	endSession := func(q url.Values) string { return disco.EndSession + "?" + q.Encode() }
	// wantReturn checks a redirect to the registered URI with state.
	wantReturn := func(t *testing.T, p page, base string, wantStatus int) {
		t.Helper()
		if p.status != wantStatus {
			t.Fatalf("status %d, want %d: %.300s", p.status, wantStatus, p.body)
		}
		to := p.location(t, base)
		if to.Scheme+"://"+to.Host+to.Path != "http://127.0.0.1:9/logged-out" || to.Query().Get("state") != "s-1" || to.Query().Get("from") != "gatehouse" {
			t.Fatalf("redirected to %s, want %s with state s-1", to, loggedOut)
		}
	}

	t.Run("id_token_hint", func(t *testing.T) {
		ua, idToken := signIn(t)
		if !session(t, ua) {
			t.Fatal("no login session after signing in")
		}
		target := endSession(url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {loggedOut}, "state": {"s-1"},
			"logout_hint": {"guest"}, "ui_locales": {"fr"}})
		wantReturn(t, ua.do(t, http.MethodGet, target, nil), target, http.StatusFound)
		if session(t, ua) {
			t.Error("the login session outlived the logout")
		}
	})
	t.Run("POST", func(t *testing.T) {
		ua, idToken := signIn(t)
		p := ua.do(t, http.MethodPost, disco.EndSession, url.Values{"id_token_hint": {idToken}, "client_id": {client.ID},
			"post_logout_redirect_uri": {loggedOut}, "state": {"s-1"}})
		next := p.location(t, disco.EndSession).String()
		if p.status != http.StatusSeeOther || !session(t, ua) {
			t.Fatalf("POST: %d to %s, want 303 to the GET that reads the session cookie", p.status, next)
		}
		wantReturn(t, ua.do(t, http.MethodGet, next, nil), next, http.StatusFound)
		if session(t, ua) {
			t.Error("the login session outlived the logout")
		}
	})
	t.Run("expired id_token_hint", func(t *testing.T) {
		ua, _ := signIn(t)
		past := time.Now().Add(-48 * time.Hour)
		expired, err := l.Server.Keys().SignWith(jose.RS256, token.TypeID, func(jose.SignatureAlgorithm) ([]byte, error) {
			return json.Marshal(map[string]any{"iss": l.Issuer, "sub": l.Cfg.Guest.UserEntityRef, "aud": client.ID, "azp": client.ID,
				"iat": past.Unix(), "exp": past.Add(time.Hour).Unix()})
		})
		if err != nil {
			t.Fatal(err)
		}
		target := endSession(url.Values{"id_token_hint": {expired}, "post_logout_redirect_uri": {loggedOut}, "state": {"s-1"}})
		wantReturn(t, ua.do(t, http.MethodGet, target, nil), target, http.StatusFound)
		if session(t, ua) {
			t.Error("the login session outlived the logout")
		}
	})
	t.Run("no id_token_hint: the user confirms", func(t *testing.T) {
		ua, _ := signIn(t)
		target := endSession(url.Values{"client_id": {client.ID}, "post_logout_redirect_uri": {loggedOut}, "state": {"s-1"}})
		p := ua.do(t, http.MethodGet, target, nil)
		confirm := p.location(t, target).String()
		if p.status != http.StatusFound || !strings.HasPrefix(confirm, disco.EndSession+"/confirm?") {
			t.Fatalf("no hint: %d to %s, want the confirmation page", p.status, confirm)
		}
		form := ua.do(t, http.MethodGet, confirm, nil)
		csrf := csrfField.FindStringSubmatch(form.body)
		if form.status != http.StatusOK || csrf == nil || !strings.Contains(form.body, `id="logout"`) || !session(t, ua) {
			t.Fatalf("confirmation page: %d %.500s", form.status, form.body)
		}
		// The same page in the browser's language (another browser, so as
		// not to touch this one's CSRF cookie).
		req, err := http.NewRequest(http.MethodGet, confirm, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept-Language", "de-DE,de;q=0.9")
		resp, err := newUserAgent(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		de, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{`<html lang="de">`, "<h1>Von Gatehouse abmelden?</h1>", "möchte Sie abmelden.", ">Angemeldet bleiben</button>"} {
			if !strings.Contains(string(de), want) || resp.Header.Get("Content-Language") != "de" {
				t.Errorf("confirmation page in German lacks %q: %.600s", want, de)
			}
		}
		fields := url.Values{"client_id": {client.ID}, "post_logout_redirect_uri": {loggedOut}, "state": {"s-1"}, "decision": {"logout"}}
		// Without the CSRF token (a cross-site form): refused, nothing ends.
		if p := ua.do(t, http.MethodPost, disco.EndSession+"/confirm", fields); p.status != http.StatusForbidden || p.header.Get("Location") != "" || !session(t, ua) {
			t.Fatalf("confirmation without CSRF token: %d %q, session kept %v", p.status, p.header.Get("Location"), session(t, ua))
		}
		// Staying changes nothing.
		if p := ua.do(t, http.MethodPost, disco.EndSession+"/confirm", url.Values{"_csrf": {csrf[1]}, "decision": {"stay"}}); p.status != http.StatusOK ||
			p.header.Get("Location") != "" || !session(t, ua) {
			t.Fatalf("stay: %d %q", p.status, p.header.Get("Location"))
		}
		fields.Set("_csrf", csrf[1])
		wantReturn(t, ua.do(t, http.MethodPost, disco.EndSession+"/confirm", fields), disco.EndSession, http.StatusSeeOther)
		if session(t, ua) {
			t.Error("the login session outlived the confirmed logout")
		}
	})
	t.Run("another user's id_token_hint: the user confirms", func(t *testing.T) {
		ua, _ := signIn(t)
		// Signed by this server for the client, but not this browser's user.
		hint, err := l.Server.Issuer().IDToken(context.Background(), token.IDRequest{ClientID: client.ID, Subject: "user:default/mallory"})
		if err != nil {
			t.Fatal(err)
		}
		target := endSession(url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {loggedOut}, "state": {"s-1"}})
		p := ua.do(t, http.MethodGet, target, nil)
		if p.status != http.StatusFound || !strings.HasPrefix(p.location(t, target).String(), disco.EndSession+"/confirm?") || !session(t, ua) {
			t.Fatalf("hint for another user: %d to %s, want the confirmation page", p.status, p.header.Get("Location"))
		}
	})
	t.Run("no redirect URI: a signed-out page", func(t *testing.T) {
		ua, idToken := signIn(t)
		p := ua.do(t, http.MethodGet, endSession(url.Values{"id_token_hint": {idToken}}), nil)
		if p.status != http.StatusOK || p.header.Get("Location") != "" || !strings.Contains(p.body, `id="signed-out"`) || session(t, ua) {
			t.Fatalf("logout without a redirect URI: %d %q %.300s", p.status, p.header.Get("Location"), p.body)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		ua, idToken := signIn(t)
		parts := strings.Split(idToken, ".")
		tampered := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
		accessLike, err := l.Server.Keys().Sign(token.TypeAccess, []byte(`{"iss":"`+l.Issuer+`","sub":"x","aud":"`+client.ID+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			q    url.Values
		}{
			{"unregistered post_logout_redirect_uri", url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {"https://evil.example/x"}}},
			{"post_logout_redirect_uri of another client", url.Values{"client_id": {other.ID}, "id_token_hint": {idToken}, "post_logout_redirect_uri": {loggedOut}}},
			{"post_logout_redirect_uri not exactly registered", url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {"http://127.0.0.1:9/logged-out"}}},
			{"post_logout_redirect_uri without a client", url.Values{"post_logout_redirect_uri": {loggedOut}}},
			{"garbage id_token_hint", url.Values{"id_token_hint": {"not.a.jwt"}, "post_logout_redirect_uri": {loggedOut}}},
			{"tampered id_token_hint", url.Values{"id_token_hint": {tampered}, "post_logout_redirect_uri": {loggedOut}}},
			{"access token as id_token_hint", url.Values{"id_token_hint": {accessLike}, "post_logout_redirect_uri": {loggedOut}}},
			{"mismatched client_id", url.Values{"client_id": {other.ID}, "id_token_hint": {idToken}}},
			{"unknown client_id", url.Values{"client_id": {"nobody"}, "post_logout_redirect_uri": {loggedOut}}},
			{"state too long", url.Values{"id_token_hint": {idToken}, "state": {strings.Repeat("s", 4096)}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := ua.do(t, http.MethodGet, endSession(tc.q), nil)
				if p.status != http.StatusBadRequest || p.header.Get("Location") != "" || !strings.Contains(p.body, ">invalid_request<") ||
					!strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
					t.Errorf("%d Location %q: %.300s; want the 400 error page", p.status, p.header.Get("Location"), p.body)
				}
				if !session(t, ua) {
					t.Fatal("a refused logout ended the session")
				}
			})
		}
	})
}
