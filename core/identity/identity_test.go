package identity_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/identity"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
	"github.com/gatehouse-auth/gatehouse/core/store/storetest"
)

func testConfig(t *testing.T, basePath string) *config.Config {
	t.Helper()
	cfg, err := config.Load(gatehouse.DefaultConfig, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server.PublicURL = "http://127.0.0.1:7007"
	cfg.Server.BasePath = basePath
	cfg.Storage.Backend = "memory"
	return cfg
}

func TestLocalReturnTo(t *testing.T) {
	cfg := testConfig(t, "/api/auth")
	root := testConfig(t, "")
	tests := []struct {
		cfg  *config.Config
		raw  string
		want bool
	}{
		{cfg, "/api/auth/oauth2/authorize/abc", true},
		{cfg, "/api/auth/oauth2/authorize/abc?x=1&y=%2F", true},
		{cfg, "/api/auth", true},
		{root, "/oauth2/authorize/abc", true},
		{root, "/", true},
		{cfg, "", false},
		{cfg, "api/auth/x", false},
		{cfg, "/api/authx", false},
		{cfg, "/elsewhere", false},
		{cfg, "https://evil.example/api/auth/x", false},
		{cfg, "//evil.example/api/auth/x", false},
		{cfg, `/\evil.example`, false},
		{cfg, `/api/auth\..\x`, false},
		{cfg, "/api/auth/../x", false},
		{cfg, "/api/auth/%2e%2e/x", false},
		{cfg, "/api/auth/./x", false},
		{cfg, "/api/auth/x\ty", false},
		{cfg, "/api/auth/x\r\nLocation: //evil", false},
		{cfg, "/api/auth/x\x7f", false},
		{root, "javascript:alert(1)", false},
		{root, "/" + strings.Repeat("a", 1100), false},
	}
	for _, tt := range tests {
		got, ok := identity.LocalReturnTo(tt.cfg, tt.raw)
		if ok != tt.want || (ok && got != tt.raw) {
			t.Errorf("LocalReturnTo(base %q, %q) = %q, %v; want ok %v", tt.cfg.Server.BasePath, tt.raw, got, ok, tt.want)
		}
	}
}

func TestFormActionSource(t *testing.T) {
	tests := []struct {
		raw, want string
		ok        bool
	}{
		{"http://127.0.0.1:9/callback", "http://127.0.0.1:9", true},
		{"https://app.example.com/cb?x=1", "https://app.example.com", true},
		{"HTTPS://App.Example.com/cb", "https://App.Example.com", true},
		{"http://[::1]:8080/cb", "http://[::1]:8080", true},
		{"com.example.app:/oauth2redirect", "com.example.app:", true},
		{"cursor://anysphere.cursor-retrieval/callback", "cursor:", true},
		{"", "", false},
		{"/relative", "", false},
		{"https://a.example;script-src *", "", false},
		{"https://a b.example/", "", false},
		{"https://user@a.example'/", "", false},
	}
	for _, tt := range tests {
		got, ok := identity.FormActionSource(tt.raw)
		if got != tt.want || ok != tt.ok {
			t.Errorf("FormActionSource(%q) = %q, %v; want %q, %v", tt.raw, got, ok, tt.want, tt.ok)
		}
	}
}

type method struct{ id string }

func (m method) ID() string          { return m.id }
func (m method) DisplayName() string { return "Sign in with " + m.id }
func (m method) LoginForm(returnTo string) identity.Form {
	return identity.Form{Method: "GET", Action: "/" + m.id + "/start", Fields: []identity.Field{{Name: "returnTo", Value: returnTo}}}
}

func TestRegistry(t *testing.T) {
	r, err := identity.NewRegistry(method{"github"}, method{"guest"})
	if err != nil {
		t.Fatal(err)
	}
	if ms := r.Methods(); len(ms) != 2 || ms[0].ID() != "github" || ms[1].ID() != "guest" {
		t.Errorf("methods out of order: %v", ms)
	}
	if m, ok := r.Lookup("guest"); !ok || m.ID() != "guest" {
		t.Errorf("lookup guest: %v %v", m, ok)
	}
	if _, ok := r.Lookup("oidc"); ok {
		t.Error("lookup of an unknown method succeeded")
	}
	if _, err := identity.NewRegistry(method{"a"}, method{"a"}); err == nil {
		t.Error("duplicate IDs accepted")
	}
	if _, err := identity.NewRegistry(method{""}); err == nil {
		t.Error("empty ID accepted")
	}
	if r, err := identity.NewRegistry(); err != nil || len(r.Methods()) != 0 {
		t.Errorf("empty registry: %v %v", r, err)
	}
}

// pagesApp is a small app with the CSRF middleware and login sessions,
// as the real pages use them.
func pagesApp(t *testing.T, cfg *config.Config, st *store.Store, now *time.Time) (*fiber.App, *identity.Sessions) {
	t.Helper()
	sessions := identity.NewSessions(cfg, st)
	identity.SetClock(sessions, func() time.Time { return *now })
	csrf := identity.CSRF(cfg, st)
	page, err := identity.ParsePage(cfg, fstest.MapFS{"p.html": {Data: []byte(
		`{{define "title"}}T{{end}}{{define "content"}}<form><input name="_csrf" value="{{.CSRF}}"></form>{{.Data}}{{end}}`)}}, "p.html")
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New()
	identity.RegisterAssets(app.Group(cfg.Server.BasePath))
	app.Get("/page", csrf, func(c *fiber.Ctx) error {
		u, ok, err := sessions.Current(c)
		if err != nil {
			return err
		}
		name := "nobody"
		if ok {
			name = u.Name()
		}
		return page.Render(c, http.StatusOK, name, "https://client.example")
	})
	app.Post("/login", csrf, func(c *fiber.Ctx) error {
		_, err := sessions.Start(c, identity.User{Subject: "user:default/alice", Profile: store.Profile{DisplayName: "Alice"}, Provider: "test"})
		if err != nil {
			return err
		}
		return c.SendString("signed in")
	})
	app.Post("/logout", csrf, func(c *fiber.Ctx) error {
		if err := sessions.End(c); err != nil {
			return err
		}
		return c.SendString("signed out")
	})
	return app, sessions
}

type client struct {
	t       *testing.T
	app     *fiber.App
	cookies map[string]string
}

func (c *client) do(method, path string, form url.Values) (int, string, http.Header) {
	c.t.Helper()
	req := httptest.NewRequest(method, "http://127.0.0.1:7007"+path, strings.NewReader(form.Encode()))
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range c.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	resp, err := c.app.Test(req, -1)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Value == "" || (!ck.Expires.IsZero() && ck.Expires.Before(time.Now())) {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck.Value
		}
	}
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func csrfIn(body string) string {
	_, rest, _ := strings.Cut(body, `name="_csrf" value="`)
	tok, _, _ := strings.Cut(rest, `"`)
	return tok
}

// TestSessionsAndCSRF: a page issues a CSRF token; forms without it (or
// with another) are refused with 403 before the handler runs; a sign-in
// sets an HttpOnly session cookie the page then recognises, until it
// expires or the user signs out.
func TestSessionsAndCSRF(t *testing.T) {
	cfg := testConfig(t, "/api/auth")
	st := store.New(memory.New())
	now := time.Now()
	app, _ := pagesApp(t, cfg, st, &now)
	c := &client{t: t, app: app, cookies: map[string]string{}}

	status, body, header := c.do(http.MethodGet, "/page", nil)
	if status != http.StatusOK || !strings.Contains(body, "nobody") {
		t.Fatalf("page: %d %s", status, body)
	}
	if csp := header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://client.example") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if !strings.Contains(body, `href="/api/auth/oauth2/static/gatehouse.css?v=`) {
		t.Errorf("stylesheet link missing: %s", body)
	}
	_, rest, _ := strings.Cut(body, `href="`)
	href, _, _ := strings.Cut(rest, `"`)
	if status, css, h := c.do(http.MethodGet, strings.ReplaceAll(href, "&amp;", "&"), nil); status != http.StatusOK ||
		!strings.HasPrefix(h.Get("Content-Type"), "text/css") || !strings.Contains(h.Get("Cache-Control"), "immutable") || !strings.Contains(css, "a.button") {
		t.Errorf("stylesheet %s: %d %q %q", href, status, h.Get("Content-Type"), h.Get("Cache-Control"))
	}
	token := csrfIn(body)
	if token == "" || c.cookies[identity.CSRFCookie] != token {
		t.Fatalf("CSRF token %q, cookie %q", token, c.cookies[identity.CSRFCookie])
	}

	for name, form := range map[string]url.Values{
		"no token":      {},
		"wrong token":   {"_csrf": {"nope"}},
		"foreign token": {"_csrf": {strings.Repeat("A", 43)}},
	} {
		if status, _, _ := c.do(http.MethodPost, "/login", form); status != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, status)
		}
		if c.cookies[identity.SessionCookie] != "" {
			t.Fatalf("%s: signed in despite the refusal", name)
		}
	}
	// The token without its cookie is refused too.
	bare := &client{t: t, app: app, cookies: map[string]string{}}
	if status, _, _ := bare.do(http.MethodPost, "/login", url.Values{"_csrf": {token}}); status != http.StatusForbidden {
		t.Errorf("token without cookie: %d", status)
	}

	if status, body, _ := c.do(http.MethodPost, "/login", url.Values{"_csrf": {token}}); status != http.StatusOK {
		t.Fatalf("login: %d %s", status, body)
	}
	cookie := c.cookies[identity.SessionCookie]
	if cookie == "" {
		t.Fatal("no session cookie")
	}
	rec, err := st.LoginSessions.Get(context.Background(), store.HashID(cookie))
	if err != nil || rec.Subject != "user:default/alice" || !rec.ExpiresAt.Equal(now.Add(cfg.Tokens.LoginSessionTTL)) {
		t.Fatalf("stored session %+v %v (the cookie must be stored only hashed)", rec, err)
	}
	if _, body, _ := c.do(http.MethodGet, "/page", nil); !strings.Contains(body, "Alice") {
		t.Errorf("page does not know the user: %s", body)
	}

	// Past its lifetime the session is gone.
	now = now.Add(cfg.Tokens.LoginSessionTTL + time.Second)
	if _, body, _ := c.do(http.MethodGet, "/page", nil); !strings.Contains(body, "nobody") {
		t.Errorf("expired session still recognised")
	}
	now = now.Add(-cfg.Tokens.LoginSessionTTL)

	if status, _, _ := c.do(http.MethodPost, "/logout", url.Values{"_csrf": {token}}); status != http.StatusOK {
		t.Fatalf("logout: %d", status)
	}
	if _, err := st.LoginSessions.Get(context.Background(), store.HashID(cookie)); err == nil {
		t.Error("session still stored after logout")
	}
	c.cookies[identity.SessionCookie] = cookie // a copy of the old cookie is useless
	if _, body, _ := c.do(http.MethodGet, "/page", nil); !strings.Contains(body, "nobody") {
		t.Error("ended session still recognised")
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	for _, tt := range []struct {
		publicURL, basePath, path string
		secure                    bool
	}{
		{"http://127.0.0.1:7007", "", "/", false},
		{"https://auth.example.com", "/api/auth", "/api/auth", true},
	} {
		cfg := testConfig(t, tt.basePath)
		cfg.Server.PublicURL = tt.publicURL
		if got := identity.CookiePath(cfg); got != tt.path {
			t.Errorf("CookiePath = %q, want %q", got, tt.path)
		}
		if got := identity.Secure(cfg); got != tt.secure {
			t.Errorf("Secure(%s) = %v", tt.publicURL, got)
		}
	}
}

// TestCSRFResetPages: resetting the CSRF storage deletes more tokens than
// one page, reading them page by page (no scan of the whole space).
func TestCSRFResetPages(t *testing.T) {
	t.Parallel()
	kv := storetest.Paged(memory.New(), store.CSRFPrefix+"/")
	st := store.New(kv)
	csrf := identity.CSRFStorage(st)
	const n = 600 // more than two pages
	for i := range n {
		if err := csrf.Set(fmt.Sprintf("token-%d", i), []byte("v"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := csrf.Reset(); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if ids, _, err := st.CSRF.ListPage(context.Background(), store.Page{Limit: n}); err != nil || len(ids) != 0 {
		t.Fatalf("after Reset %d tokens are left (%v)", len(ids), err)
	}
	if v, err := csrf.Get("token-1"); err != nil || v != nil {
		t.Errorf("Get after Reset: %q %v", v, err)
	}
}
