package authorize_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// csrfOf is the CSRF token in a page's forms.
func csrfOf(tb testing.TB, a answer) string {
	tb.Helper()
	m := csrfField.FindSubmatch(a.body)
	if m == nil {
		tb.Fatalf("no CSRF token in the page (%d): %.500s", a.status, a.body)
	}
	return string(m[1])
}

func (e *env) pageURL(id string) string { return e.issuer + "/oauth2/authorize/" + id }

// TestConsentPage walks the built-in page without a browser: the login
// step, guest sign-in, the consent step and approval, checking what the
// pages show and the headers they carry.
func TestConsentPage(t *testing.T) {
	e := start(t, func(c *config.Config) {
		c.Server.BasePath = "/api/auth"
		c.Registration.CustomScopes = []string{"catalog.read"}
	})
	e.client(t, "app", store.ClientMetadata{ClientName: "Catalog <CLI>", Scope: "openid profile offline_access catalog.read"})
	b := newBrowser(t)
	p := authParams("app")
	p.Set("scope", "openid profile catalog.read")
	p["resource"] = []string{"https://api.example.com/", "urn:example:catalog"}
	id := e.authorize(t, b, p)

	login := b.get(t, e.pageURL(id))
	if login.status != http.StatusOK {
		t.Fatalf("page: %d %s", login.status, login.body)
	}
	html := string(login.body)
	for _, want := range []string{"Sign in to continue to Catalog &lt;CLI&gt;", "Continue as guest", `action="/api/auth/guest/start"`,
		`name="returnTo" value="/api/auth/oauth2/authorize/` + id + `"`, "127.0.0.1:9", `id="deny"`} {
		if !strings.Contains(html, want) {
			t.Errorf("login step lacks %q", want)
		}
	}
	if strings.Contains(html, `id="approve"`) {
		t.Errorf("login step offers Approve before anyone signed in")
	}
	csp := login.header.Get("Content-Security-Policy")
	for _, want := range []string{"frame-ancestors 'none'", "form-action 'self' http://127.0.0.1:9", "default-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if login.header.Get("X-Frame-Options") != "DENY" || login.header.Get("Cache-Control") != "no-store" {
		t.Errorf("X-Frame-Options %q, Cache-Control %q", login.header.Get("X-Frame-Options"), login.header.Get("Cache-Control"))
	}
	token := csrfOf(t, login)

	// Sign in as the guest: back to the page, now the consent step.
	a := b.postForm(t, e.issuer+"/guest/start", url.Values{"_csrf": {token}, "returnTo": {"/api/auth/oauth2/authorize/" + id}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/api/auth/oauth2/authorize/"+id {
		t.Fatalf("guest start: %d Location %q %s", a.status, a.header.Get("Location"), a.body)
	}
	consent := b.get(t, e.pageURL(id))
	html = string(consent.body)
	for _, want := range []string{"Catalog &lt;CLI&gt; wants to access your account", "Guest", e.cfg.Guest.UserEntityRef,
		"Confirm who you are", "See your name and picture", "<code>catalog.read</code>", `id="approve"`, `id="logout"`,
		`<ul id="resources"><li><code>https://api.example.com/</code></li><li><code>urn:example:catalog</code></li></ul>`} {
		if !strings.Contains(html, want) {
			t.Errorf("consent step lacks %q", want)
		}
	}
	if strings.Contains(html, "Continue as guest") {
		t.Errorf("consent step still offers sign-in")
	}

	a = b.postForm(t, e.pageURL(id), url.Values{"_csrf": {csrfOf(t, consent)}, "decision": {"approve"}})
	if a.status != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", a.status, a.body)
	}
	loc := a.location(t)
	if q := loc.Query(); !strings.HasPrefix(loc.String(), testRedirect+"?") || q.Get("code") == "" || q.Get("state") != "st-123" || q.Get("iss") != e.issuer {
		t.Fatalf("approve redirected to %s", loc)
	}
	code, err := e.st.Codes.Get(context.Background(), store.HashID(loc.Query().Get("code")))
	if err != nil {
		t.Fatal(err)
	}
	if code.Subject != e.cfg.Guest.UserEntityRef || code.Profile.DisplayName != "Guest" || code.AuthTime.IsZero() {
		t.Errorf("code %+v", code)
	}

	// The page of a decided session says so, and cannot decide again.
	again := b.get(t, e.pageURL(id))
	if again.status != http.StatusConflict || !strings.Contains(string(again.body), "Already answered") {
		t.Errorf("decided page: %d", again.status)
	}
	if a := b.get(t, e.pageURL("nope")); a.status != http.StatusNotFound {
		t.Errorf("unknown page: %d", a.status)
	}

	// Signed in, a new request goes straight to consent; prompt=login asks
	// for a sign-in again.
	e.ageLoginSessions(t, time.Minute)
	if page := b.get(t, e.pageURL(e.authorize(t, b, authParams("app")))); !strings.Contains(string(page.body), `id="approve"`) {
		t.Errorf("signed-in user asked to sign in again without prompt=login")
	}
	p = authParams("app")
	p.Set("prompt", "login")
	id = e.authorize(t, b, p)
	page := b.get(t, e.pageURL(id))
	if !strings.Contains(string(page.body), "Continue as guest") || !strings.Contains(string(page.body), "asks you to sign in again") {
		t.Errorf("prompt=login did not ask for a sign-in")
	}
	// Approving without the fresh sign-in is sent back to the page.
	a = b.postForm(t, e.pageURL(id), url.Values{"_csrf": {csrfOf(t, page)}, "decision": {"approve"}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/api/auth/oauth2/authorize/"+id || e.session(t, id).Decision != "" {
		t.Errorf("stale approve: %d Location %q decision %q", a.status, a.header.Get("Location"), e.session(t, id).Decision)
	}

	// max_age: a sign-in a minute old is too old for 30 s, fine for an hour.
	for maxAge, wantLogin := range map[string]bool{"30": true, "3600": false} {
		p := authParams("app")
		p.Set("max_age", maxAge)
		page := b.get(t, e.pageURL(e.authorize(t, b, p)))
		if got := strings.Contains(string(page.body), "Continue as guest"); got != wantLogin {
			t.Errorf("max_age=%s: login step shown %v, want %v", maxAge, got, wantLogin)
		}
	}

	// Deny works from the login step too, without signing in.
	b2 := newBrowser(t)
	id = e.authorize(t, b2, authParams("app"))
	page = b2.get(t, e.pageURL(id))
	a = b2.postForm(t, e.pageURL(id), url.Values{"_csrf": {csrfOf(t, page)}, "decision": {"deny"}})
	if loc := a.location(t); a.status != http.StatusSeeOther || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "st-123" {
		t.Errorf("deny: %d %s", a.status, loc)
	}
}

// TestConsentFormCSRF: a decision posted without the page's CSRF token
// (or with another browser's) is refused with 403 and decides nothing.
func TestConsentFormCSRF(t *testing.T) {
	e := start(t, nil)
	e.client(t, "app", store.ClientMetadata{})
	victim, attacker := newBrowser(t), newBrowser(t)
	id := e.authorize(t, victim, authParams("app"))
	page := victim.get(t, e.pageURL(id))
	token := csrfOf(t, page)
	victim.postForm(t, e.issuer+"/guest/start", url.Values{"_csrf": {token}, "returnTo": {e.cfg.Server.BasePath + "/oauth2/authorize/" + id}})
	attackerToken := csrfOf(t, attacker.get(t, e.pageURL(id)))

	tests := []struct {
		name string
		b    browser
		form url.Values
	}{
		{"no token", victim, url.Values{"decision": {"approve"}}},
		{"empty token", victim, url.Values{"_csrf": {""}, "decision": {"approve"}}},
		{"invented token", victim, url.Values{"_csrf": {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, "decision": {"approve"}}},
		{"another browser's token", victim, url.Values{"_csrf": {attackerToken}, "decision": {"approve"}}},
		{"token without its cookie", newBrowser(t), url.Values{"_csrf": {token}, "decision": {"deny"}}},
		{"deny without token", victim, url.Values{"decision": {"deny"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.b.postForm(t, e.pageURL(id), tt.form)
			if a.status != http.StatusForbidden || a.header.Get("Location") != "" {
				t.Fatalf("got %d Location %q, want 403", a.status, a.header.Get("Location"))
			}
			if r := e.session(t, id); r.Decision != "" {
				t.Fatalf("session decided %q by a refused form", r.Decision)
			}
		})
	}
	if n := len(e.codes(t)); n != 0 {
		t.Errorf("%d codes issued by refused forms", n)
	}
	// The same form with the right token goes through.
	a := victim.postForm(t, e.pageURL(id), url.Values{"_csrf": {token}, "decision": {"approve"}})
	if a.status != http.StatusSeeOther || a.location(t).Query().Get("code") == "" {
		t.Fatalf("approve with the token: %d %s", a.status, a.body)
	}
	// An answer that is neither approve nor deny is refused.
	id = e.authorize(t, victim, authParams("app"))
	if a := victim.postForm(t, e.pageURL(id), url.Values{"_csrf": {token}, "decision": {"maybe"}}); a.status != http.StatusBadRequest || e.session(t, id).Decision != "" {
		t.Errorf("decision=maybe: %d", a.status)
	}
}

// TestConsentPageWithoutLoginMethods: with the guest off and no provider,
// the login step says so instead of offering nothing.
func TestConsentPageWithoutLoginMethods(t *testing.T) {
	e := start(t, func(c *config.Config) { c.Guest.Enabled = false })
	e.client(t, "app", store.ClientMetadata{})
	b := newBrowser(t)
	page := b.get(t, e.pageURL(e.authorize(t, b, authParams("app"))))
	if page.status != http.StatusOK || !strings.Contains(string(page.body), "No sign-in method is configured") ||
		strings.Contains(string(page.body), "guest/start") {
		t.Errorf("page: %d %s", page.status, page.body)
	}
}

// ageLoginSessions moves every login session's sign-in back by d, as if
// the user had signed in that long ago.
func (e *env) ageLoginSessions(tb testing.TB, d time.Duration) {
	tb.Helper()
	ctx := context.Background()
	var ids []string
	err := e.st.LoginSessions.List(ctx, func(id string, _ store.LoginSession) error {
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	for _, id := range ids {
		_, err := e.st.LoginSessions.Update(ctx, id, func(s store.LoginSession) (store.LoginSession, error) {
			s.AuthTime = s.AuthTime.Add(-d)
			return s, nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
}
