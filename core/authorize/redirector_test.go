package authorize_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// attackerRedirect is a redirect URI anyone may register through open
// registration: redirecting errors to it would make the server an open
// redirector (RFC 9700 §4.11.2, issue 12 "Open redirector").
const attackerRedirect = "https://evil.example/landing"

var returnLink = regexp.MustCompile(`<a class="button" id="return" href="([^"]*)">`)

// TestAuthorizeNoOpenRedirect: a client that registered itself through
// open registration never gets the browser sent to its redirect URI by a
// request refused before any user interaction: the user sees an error page
// naming the error and where the application would return, with a link
// there carrying error, state and iss. A client admitted by the initial
// access token (the operator's) still gets the RFC 6749 §4.1.2.1 redirect,
// and authorization.redirect_errors can trust self-registered clients too.
func TestAuthorizeNoOpenRedirect(t *testing.T) {
	e := start(t, nil)
	b := newBrowser(t)
	self := testclient.Must(testclient.Register(e.issuer, map[string]any{
		"client_name": "Self <registered>", "redirect_uris": []string{attackerRedirect},
	}))(t)
	params := func(edit func(url.Values)) string {
		p := authParams(self.ID)
		p.Set("redirect_uri", attackerRedirect)
		edit(p)
		return e.issuer + "/v1/authorize?" + p.Encode()
	}
	tests := []struct {
		name string
		edit func(url.Values)
		code string
	}{
		{"unsupported response_type", func(v url.Values) { v.Set("response_type", "token") }, "unsupported_response_type"},
		{"missing PKCE", func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") }, "invalid_request"},
		{"bad scope", func(v url.Values) { v.Set("scope", `openid "x"`) }, "invalid_scope"},
		{"prompt none", func(v url.Values) { v.Set("prompt", "none") }, "login_required"},
		{"repeated parameter", func(v url.Values) { v.Add("nonce", "again") }, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := b.get(t, params(tt.edit))
			if a.status != http.StatusBadRequest || a.header.Get("Location") != "" {
				t.Fatalf("got %d Location %q, want 400 and no redirect", a.status, a.header.Get("Location"))
			}
			if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type %q, want the error page", ct)
			}
			if a.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", a.header.Get("Cache-Control"))
			}
			body := string(a.body)
			for _, want := range []string{`<code id="error-code">` + tt.code + `</code>`, "Self &lt;registered&gt;", "<code>evil.example</code>"} {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %q:\n%s", want, body)
				}
			}
			m := returnLink.FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("no return link:\n%s", body)
			}
			back, err := url.Parse(html.UnescapeString(m[1]))
			if err != nil {
				t.Fatal(err)
			}
			q := back.Query()
			if back.Scheme+"://"+back.Host+back.Path != attackerRedirect || q.Get("error") != tt.code || q.Get("state") != "st-123" || q.Get("iss") != e.issuer || q.Has("code") {
				t.Errorf("return link %s", back)
			}
		})
	}
	if n := len(e.sessions(t)); n != 0 {
		t.Errorf("%d consent sessions stored by refused requests", n)
	}

	// The operator's clients: registered with the initial access token.
	const iat = "initial-access-token-0123456789abcdef"
	vetted := start(t, func(c *config.Config) { c.Registration.InitialAccessToken = iat })
	status, body, err := testclient.PostJSON(vetted.issuer+"/v1/register", iat, map[string]any{"redirect_uris": []string{testRedirect}})
	if err != nil || status != http.StatusCreated {
		t.Fatalf("register with the initial access token: %d %v %v", status, body, err)
	}
	p := authParams(body["client_id"].(string))
	p.Set("response_type", "token")
	loc := b.get(t, vetted.issuer+"/v1/authorize?"+p.Encode()).location(t)
	if loc.Scheme+"://"+loc.Host+loc.Path != testRedirect || loc.Query().Get("error") != "unsupported_response_type" || loc.Query().Get("state") != "st-123" {
		t.Errorf("registered client: redirected to %s, want its redirect URI with the error and state", loc)
	}

	// Configurable per kind: trusting self-registered clients brings the
	// redirect back; trusting nobody sends everyone to the page.
	open := start(t, func(c *config.Config) {
		c.Authorization.RedirectErrors = []string{store.ClientRegistered, store.ClientDynamic}
	})
	openClient := testclient.Must(testclient.Register(open.issuer, map[string]any{"redirect_uris": []string{attackerRedirect}}))(t)
	p = authParams(openClient.ID)
	p.Set("redirect_uri", attackerRedirect)
	p.Set("scope", `"`)
	if loc := b.get(t, open.issuer+"/v1/authorize?"+p.Encode()).location(t); loc.Query().Get("error") != "invalid_scope" {
		t.Errorf("redirect_errors with dynamic: %s", loc)
	}
	none := start(t, func(c *config.Config) { c.Authorization.RedirectErrors = nil })
	none.client(t, "app", store.ClientMetadata{})
	p = authParams("app")
	p.Set("response_type", "token")
	if a := b.get(t, none.issuer+"/v1/authorize?"+p.Encode()); a.status != http.StatusBadRequest || a.header.Get("Location") != "" {
		t.Errorf("redirect_errors empty: %d Location %q, want the page", a.status, a.header.Get("Location"))
	}
}
