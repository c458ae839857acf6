package upstream_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/identity"
	"github.com/gatehouse-auth/gatehouse/core/server"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

type env struct {
	cfg    *config.Config
	srv    *server.Server
	st     *store.Store
	issuer string
}

func start(t *testing.T, edit func(*config.Config)) *env {
	t.Helper()
	l := servertest.Start(t, edit)
	return &env{cfg: l.Cfg, srv: l.Server, st: l.Store, issuer: l.Issuer}
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("status %d, body is not JSON: %.300s", a.status, a.body)
	}
	return m
}

type browser struct{ *http.Client }

func newBrowser(t *testing.T) browser {
	t.Helper()
	return browser{testclient.UserAgent(t)}
}

func (b browser) do(t *testing.T, method, target, contentType, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, raw}
}

func (b browser) postForm(t *testing.T, target string, form url.Values) answer {
	t.Helper()
	return b.do(t, http.MethodPost, target, "application/x-www-form-urlencoded", form.Encode())
}

// csrfToken gets the browser a CSRF cookie from a page route and returns
// its token (Fiber's double-submit cookie holds the token itself).
func (b browser) csrfToken(t *testing.T, e *env) string {
	t.Helper()
	b.do(t, http.MethodGet, e.issuer+"/oauth2/authorize/none", "", "")
	u, _ := url.Parse(e.issuer + "/")
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == identity.CSRFCookie {
			return c.Value
		}
	}
	t.Fatal("no CSRF cookie")
	return ""
}

func (b browser) sessionCookie(t *testing.T, e *env) string {
	t.Helper()
	u, _ := url.Parse(e.issuer + "/")
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == identity.SessionCookie {
			return c.Value
		}
	}
	return ""
}

// TestGuestRefresh: /guest/refresh answers Backstage's identity response
// with a token this server verifies, by GET and POST (JSON or empty).
func TestGuestRefresh(t *testing.T) {
	e := start(t, func(c *config.Config) {
		c.Server.BasePath = "/api/auth"
		c.Guest.OwnershipEntityRefs = []string{"user:development/guest", "group:default/guests"}
	})
	b := newBrowser(t)
	for _, tt := range []struct{ method, contentType, body string }{
		{http.MethodGet, "", ""},
		{http.MethodPost, "", ""},
		{http.MethodPost, "application/json", "{}"},
	} {
		t.Run(tt.method+" "+tt.contentType, func(t *testing.T) {
			a := b.do(t, tt.method, e.issuer+"/guest/refresh?env=development", tt.contentType, tt.body)
			if a.status != http.StatusOK || a.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("got %d (Cache-Control %q): %s", a.status, a.header.Get("Cache-Control"), a.body)
			}
			var resp struct {
				BackstageIdentity struct {
					Token            string `json:"token"`
					ExpiresInSeconds int64  `json:"expiresInSeconds"`
					Identity         struct {
						Type                string   `json:"type"`
						UserEntityRef       string   `json:"userEntityRef"`
						OwnershipEntityRefs []string `json:"ownershipEntityRefs"`
					} `json:"identity"`
				} `json:"backstageIdentity"`
				Profile struct {
					DisplayName string `json:"displayName"`
				} `json:"profile"`
			}
			if err := json.Unmarshal(a.body, &resp); err != nil {
				t.Fatal(err)
			}
			bi := resp.BackstageIdentity
			if bi.Identity.Type != "user" || bi.Identity.UserEntityRef != "user:development/guest" ||
				strings.Join(bi.Identity.OwnershipEntityRefs, ",") != "user:development/guest,group:default/guests" ||
				resp.Profile.DisplayName != "Guest" || bi.ExpiresInSeconds != int64(e.cfg.Tokens.IdentityTokenTTL.Seconds()) {
				t.Errorf("response %s", a.body)
			}
			id, err := e.srv.Issuer().VerifyIdentityToken(context.Background(), bi.Token)
			if err != nil {
				t.Fatalf("identity token does not verify: %v", err)
			}
			if id.Subject != "user:development/guest" || len(id.Ownership) != 2 {
				t.Errorf("identity %+v", id)
			}
		})
	}
}

// TestGuestDisabled: with guest.enabled off, every guest route answers
// 404 JSON and nothing is signed in.
func TestGuestDisabled(t *testing.T) {
	e := start(t, func(c *config.Config) { c.Guest.Enabled = false })
	b := newBrowser(t)
	token := b.csrfToken(t, e)
	for _, tt := range []struct{ method, path string }{
		{http.MethodGet, "/guest/refresh"},
		{http.MethodPost, "/guest/refresh"},
		{http.MethodPost, "/guest/start"},
		{http.MethodPost, "/guest/logout"},
	} {
		a := b.postForm(t, e.issuer+tt.path, url.Values{"_csrf": {token}, "returnTo": {"/oauth2/authorize/x"}})
		if tt.method == http.MethodGet {
			a = b.do(t, http.MethodGet, e.issuer+tt.path, "", "")
		}
		if a.status != http.StatusNotFound || a.json(t)["error"] != "not_found" {
			t.Errorf("%s %s: %d %s", tt.method, tt.path, a.status, a.body)
		}
	}
	if b.sessionCookie(t, e) != "" {
		t.Error("a disabled guest signed the browser in")
	}
}

// TestGuestStart: the page sign-in needs the CSRF token, goes back only to
// a local path under the base path (no open redirect), and sets a fresh
// session cookie; logout ends the session.
func TestGuestStart(t *testing.T) {
	e := start(t, func(c *config.Config) { c.Server.BasePath = "/api/auth" })
	const back = "/api/auth/oauth2/authorize/abc"

	refused := []struct {
		name     string
		form     func(token string) url.Values
		status   int
		noCookie bool
	}{
		{"no CSRF token", func(string) url.Values { return url.Values{"returnTo": {back}} }, 403, true},
		{"wrong CSRF token", func(string) url.Values { return url.Values{"_csrf": {"x"}, "returnTo": {back}} }, 403, true},
		{"no returnTo", func(tok string) url.Values { return url.Values{"_csrf": {tok}} }, 400, true},
		{"absolute returnTo", returnTo("https://evil.example/api/auth/x"), 400, true},
		{"scheme-relative returnTo", returnTo("//evil.example/api/auth/x"), 400, true},
		{"backslash returnTo", returnTo(`/\evil.example/api/auth/x`), 400, true},
		{"javascript returnTo", returnTo("javascript:alert(1)"), 400, true},
		{"outside the base path", returnTo("/elsewhere"), 400, true},
		{"dot segments out of the base path", returnTo("/api/auth/../../elsewhere"), 400, true},
		{"encoded dot segments", returnTo("/api/auth/%2e%2e/elsewhere"), 400, true},
		{"control character", returnTo("/api/auth/x\r\nSet-Cookie: a=b"), 400, true},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			b := newBrowser(t)
			token := b.csrfToken(t, e)
			a := b.postForm(t, e.issuer+"/guest/start", tt.form(token))
			if a.status != tt.status || a.header.Get("Location") != "" {
				t.Fatalf("got %d Location %q, want %d", a.status, a.header.Get("Location"), tt.status)
			}
			if b.sessionCookie(t, e) != "" {
				t.Error("refused sign-in set a session cookie")
			}
		})
	}

	b := newBrowser(t)
	token := b.csrfToken(t, e)
	a := b.postForm(t, e.issuer+"/guest/start", url.Values{"_csrf": {token}, "returnTo": {back + "?x=1"}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != back+"?x=1" {
		t.Fatalf("start: %d Location %q %s", a.status, a.header.Get("Location"), a.body)
	}
	first := b.sessionCookie(t, e)
	if first == "" {
		t.Fatal("no session cookie")
	}
	sess, err := e.st.LoginSessions.Get(context.Background(), store.HashID(first))
	if err != nil || sess.Subject != e.cfg.Guest.UserEntityRef || sess.Provider != "guest" || sess.Profile.DisplayName != "Guest" {
		t.Fatalf("login session %+v %v", sess, err)
	}
	// Signing in again replaces the session (no fixation).
	b.postForm(t, e.issuer+"/guest/start", url.Values{"_csrf": {token}, "returnTo": {back}})
	second := b.sessionCookie(t, e)
	if second == "" || second == first {
		t.Errorf("second sign-in kept the cookie")
	}
	if _, err := e.st.LoginSessions.Get(context.Background(), store.HashID(first)); err == nil {
		t.Errorf("the replaced session is still stored")
	}

	// Logout needs the token too, then ends the session.
	if a := b.postForm(t, e.issuer+"/guest/logout", url.Values{"returnTo": {back}}); a.status != http.StatusForbidden {
		t.Errorf("logout without token: %d", a.status)
	}
	a = b.postForm(t, e.issuer+"/guest/logout", url.Values{"_csrf": {token}, "returnTo": {back}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != back {
		t.Fatalf("logout: %d %q", a.status, a.header.Get("Location"))
	}
	if b.sessionCookie(t, e) != "" {
		t.Error("cookie still set after logout")
	}
	if _, err := e.st.LoginSessions.Get(context.Background(), store.HashID(second)); err == nil {
		t.Error("session still stored after logout")
	}
}

func returnTo(path string) func(string) url.Values {
	return func(tok string) url.Values { return url.Values{"_csrf": {tok}, "returnTo": {path}} }
}
