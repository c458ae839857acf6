package authorize_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// TestAuthorizeRefusesWithoutRedirect: until the client and its redirect
// URI are verified, errors are answered as 400 JSON and the browser is
// never sent anywhere (RFC 6749 §4.1.2.1), and nothing is stored.
func TestAuthorizeRefusesWithoutRedirect(t *testing.T) {
	e := start(t, nil)
	e.client(t, "app", store.ClientMetadata{})
	e.client(t, "two-uris", store.ClientMetadata{RedirectURIs: []string{testRedirect, "http://127.0.0.1:9/other"}})
	e.client(t, "no-uris", store.ClientMetadata{RedirectURIs: []string{}, ResponseTypes: []string{}, GrantTypes: []string{"client_credentials"}})
	b := newBrowser(t)

	tests := []struct {
		name   string
		query  func(url.Values) string
		status int
		code   string
	}{
		{"no client_id", del("client_id"), 400, "invalid_request"},
		{"unknown client", set("client_id", "nobody"), 400, "invalid_request"},
		{"repeated client_id", func(v url.Values) string { return v.Encode() + "&client_id=app" }, 400, "invalid_request"},
		{"unregistered redirect", set("redirect_uri", "https://evil.example/cb"), 400, "invalid_request"},
		{"redirect differs by a slash", set("redirect_uri", testRedirect+"/"), 400, "invalid_request"},
		{"redirect differs by query", set("redirect_uri", testRedirect+"?x=1"), 400, "invalid_request"},
		{"redirect differs by case", set("redirect_uri", strings.ToUpper(testRedirect)), 400, "invalid_request"},
		{"repeated redirect_uri", func(v url.Values) string { return v.Encode() + "&redirect_uri=" + url.QueryEscape(testRedirect) }, 400, "invalid_request"},
		{"redirect omitted, several registered", func(v url.Values) string {
			v.Set("client_id", "two-uris")
			v.Del("redirect_uri")
			return v.Encode()
		}, 400, "invalid_request"},
		{"client without redirect URIs", func(v url.Values) string {
			v.Set("client_id", "no-uris")
			v.Del("redirect_uri")
			return v.Encode()
		}, 400, "unauthorized_client"},
		{"malformed query", func(v url.Values) string { return v.Encode() + "&%zz=1" }, 400, "invalid_request"},
		{"oversized query", set("state", strings.Repeat("s", 9000)), 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := b.get(t, e.issuer+"/v1/authorize?"+tt.query(authParams("app")))
			if a.status != tt.status || a.header.Get("Location") != "" {
				t.Fatalf("got %d Location %q, want %d and no redirect: %s", a.status, a.header.Get("Location"), tt.status, a.body)
			}
			if got := a.json(t)["error"]; got != tt.code {
				t.Errorf("error %v, want %s", got, tt.code)
			}
			if a.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", a.header.Get("Cache-Control"))
			}
		})
	}

	// A query larger than the server's read buffer never reaches the
	// endpoint: still no redirect and no server error.
	a := b.get(t, e.issuer+"/v1/authorize?"+set("state", strings.Repeat("s", 40<<10))(authParams("app")))
	if a.status < 400 || a.status >= 500 || a.header.Get("Location") != "" {
		t.Errorf("40 KiB query: got %d Location %q, want a 4xx without redirect", a.status, a.header.Get("Location"))
	}
	// POST must be a form (OIDC Core §3.1.2.1).
	a = b.do(t, http.MethodPost, e.issuer+"/v1/authorize", http.Header{"Content-Type": {"application/json"}}, `{"client_id":"app"}`)
	if a.status != http.StatusUnsupportedMediaType || a.header.Get("Location") != "" {
		t.Errorf("JSON POST: got %d Location %q, want 415", a.status, a.header.Get("Location"))
	}
	if n := len(e.sessions(t)); n != 0 {
		t.Errorf("%d consent sessions stored by refused requests", n)
	}
}

// TestAuthorizeRedirectsErrors: once the redirect URI is verified, errors
// go back to the client with error, error_description, state and iss
// (RFC 6749 §4.1.2.1, RFC 9207), and nothing is stored.
func TestAuthorizeRedirectsErrors(t *testing.T) {
	e := start(t, nil)
	e.client(t, "app", store.ClientMetadata{Scope: "openid profile offline_access"})
	e.client(t, "public", store.ClientMetadata{TokenEndpointAuthMethod: oauth.AuthNone})
	e.client(t, "cc-only", store.ClientMetadata{ResponseTypes: []string{}, GrantTypes: []string{"client_credentials"}})
	e.client(t, "with-query", store.ClientMetadata{RedirectURIs: []string{"http://127.0.0.1:9/cb?tenant=a"}})
	b := newBrowser(t)

	tests := []struct {
		name   string
		client string
		query  func(url.Values) string
		code   string
		state  string
	}{
		{"missing response_type", "app", del("response_type"), "invalid_request", "st-123"},
		{"token response_type", "app", set("response_type", "token"), "unsupported_response_type", "st-123"},
		{"hybrid response_type", "app", set("response_type", "code id_token"), "unsupported_response_type", "st-123"},
		{"client not registered for code", "cc-only", nop, "unauthorized_client", "st-123"},
		{"plain PKCE", "app", func(v url.Values) string {
			v.Set("code_challenge", testVerifier)
			v.Set("code_challenge_method", "plain")
			return v.Encode()
		}, "invalid_request", "st-123"},
		{"challenge without method means plain", "app", del("code_challenge_method"), "invalid_request", "st-123"},
		{"unknown challenge method", "app", set("code_challenge_method", "S512"), "invalid_request", "st-123"},
		{"method without challenge", "app", del("code_challenge"), "invalid_request", "st-123"},
		{"challenge of the wrong length", "app", set("code_challenge", "abc"), "invalid_request", "st-123"},
		{"challenge with bad characters", "app", set("code_challenge", strings.Repeat("+", 43)), "invalid_request", "st-123"},
		{"public client without PKCE", "public", func(v url.Values) string {
			v.Del("code_challenge")
			v.Del("code_challenge_method")
			return v.Encode()
		}, "invalid_request", "st-123"},
		{"confidential client without PKCE when required", "app", func(v url.Values) string {
			v.Del("code_challenge")
			v.Del("code_challenge_method")
			return v.Encode()
		}, "invalid_request", "st-123"},
		{"scope not registered", "app", set("scope", "openid admin"), "invalid_scope", "st-123"},
		{"scope with a quote", "app", set("scope", `openid "x"`), "invalid_scope", "st-123"},
		{"repeated scope", "app", func(v url.Values) string { return v.Encode() + "&scope=profile" }, "invalid_request", "st-123"},
		{"repeated state is not echoed", "app", func(v url.Values) string { return v.Encode() + "&state=other" }, "invalid_request", ""},
		{"state too long is not echoed", "app", set("state", strings.Repeat("s", 2000)), "invalid_request", ""},
		{"nonce too long", "app", set("nonce", strings.Repeat("n", 600)), "invalid_request", "st-123"},
		{"fragment response mode", "app", set("response_mode", "fragment"), "invalid_request", "st-123"},
		{"unknown prompt", "app", set("prompt", "maybe"), "invalid_request", "st-123"},
		{"prompt none with login", "app", set("prompt", "none login"), "invalid_request", "st-123"},
		{"prompt none without a session", "app", set("prompt", "none"), "login_required", "st-123"},
		{"negative max_age", "app", set("max_age", "-1"), "invalid_request", "st-123"},
		{"max_age not a number", "app", set("max_age", "soon"), "invalid_request", "st-123"},
		{"relative resource", "app", set("resource", "/api"), "invalid_target", "st-123"},
		{"resource with fragment", "app", set("resource", "https://api.example.com/#x"), "invalid_target", "st-123"},
		{"resource not on the allow-list", "app", set("resource", "https://payments.example.net/"), "invalid_target", "st-123"},
		{"too many resources", "app", func(v url.Values) string {
			for i := range 11 {
				v.Add("resource", "https://api.example.com/"+string(rune('a'+i)))
			}
			return v.Encode()
		}, "invalid_target", "st-123"},
		{"request object", "app", set("request", "eyJhbGciOiJub25lIn0.e30."), "invalid_request", "st-123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := b.get(t, e.issuer+"/v1/authorize?"+tt.query(authParams(tt.client)))
			if a.status != http.StatusFound {
				t.Fatalf("got %d, want 302: %s", a.status, a.body)
			}
			loc := a.location(t)
			if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testRedirect {
				t.Fatalf("redirected to %q, want %q", got, testRedirect)
			}
			q := loc.Query()
			if q.Get("error") != tt.code || q.Get("error_description") == "" || q.Get("iss") != e.issuer || q.Get("state") != tt.state {
				t.Errorf("redirect query %v: want error %s, a description, iss %s, state %q", q, tt.code, e.issuer, tt.state)
			}
			if q.Has("code") {
				t.Errorf("error redirect carries a code")
			}
			for _, c := range q.Get("error_description") {
				if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
					t.Errorf("error_description has %q, outside RFC 6749's character set", c)
				}
			}
		})
	}
	t.Run("registered query kept", func(t *testing.T) {
		p := authParams("with-query")
		p.Set("redirect_uri", "http://127.0.0.1:9/cb?tenant=a")
		p.Set("response_type", "token")
		loc := b.get(t, e.issuer+"/v1/authorize?"+p.Encode()).location(t)
		if loc.Query().Get("tenant") != "a" || loc.Query().Get("error") != "unsupported_response_type" {
			t.Errorf("redirect %s: want tenant=a kept and the error added", loc)
		}
	})
	if n := len(e.sessions(t)); n != 0 {
		t.Errorf("%d consent sessions stored by refused requests", n)
	}
}

// TestAuthorizeCreatesSession: a valid request (GET or form POST) stores a
// consent session with what the code will need and redirects to the
// consent page under app_url.
func TestAuthorizeCreatesSession(t *testing.T) {
	e := start(t, nil)
	e.client(t, "app", store.ClientMetadata{Scope: "openid profile offline_access"})
	e.client(t, "public", store.ClientMetadata{TokenEndpointAuthMethod: oauth.AuthNone})
	b := newBrowser(t)

	t.Run("GET with resources", func(t *testing.T) {
		p := authParams("app")
		p.Set("scope", "openid profile openid")
		p["resource"] = []string{"https://api.example.com/", "urn:example:catalog", "https://api.example.com/"}
		p.Set("max_age", "300")
		before := time.Now()
		id := e.authorize(t, b, p)
		r := e.session(t, id)
		if r.ID != id || r.ClientID != "app" || r.RedirectURI != testRedirect || !r.RedirectURIGiven ||
			r.ResponseType != "code" || r.Scope != "openid profile" || r.State != "st-123" || r.Nonce != "n-0S6_WzA2Mj" ||
			r.CodeChallenge != challenge(testVerifier) || r.CodeChallengeMethod != "S256" || r.MaxAge != 300 || r.Decision != "" {
			t.Errorf("session %+v", r)
		}
		if len(r.Resource) != 2 || r.Resource[0] != "https://api.example.com/" || r.Resource[1] != "urn:example:catalog" {
			t.Errorf("resources %v", r.Resource)
		}
		if ttl := r.ExpiresAt.Sub(r.CreatedAt); ttl != e.cfg.Tokens.ConsentSessionTTL || r.CreatedAt.Before(before.Add(-time.Second)) {
			t.Errorf("created %v, lives %v: want now and %v", r.CreatedAt, ttl, e.cfg.Tokens.ConsentSessionTTL)
		}
	})
	t.Run("POST form, redirect omitted, registered scope by default", func(t *testing.T) {
		p := authParams("app")
		p.Del("redirect_uri")
		p.Del("scope")
		a := b.postForm(t, e.issuer+"/v1/authorize", p)
		if a.status != http.StatusFound {
			t.Fatalf("got %d: %s", a.status, a.body)
		}
		id := strings.TrimPrefix(a.header.Get("Location"), e.cfg.AppURL()+"/oauth2/authorize/")
		r := e.session(t, id)
		if r.RedirectURI != testRedirect || r.RedirectURIGiven || r.Scope != "openid profile offline_access" {
			t.Errorf("session %+v", r)
		}
	})
	t.Run("max_age=0 asks for a fresh sign-in", func(t *testing.T) {
		p := authParams("public")
		p.Set("max_age", "0")
		if r := e.session(t, e.authorize(t, b, p)); r.Prompt != "login" {
			t.Errorf("prompt %q, want login", r.Prompt)
		}
	})
	t.Run("PKCE optional for confidential clients when not required", func(t *testing.T) {
		e := start(t, func(c *config.Config) { c.Authorization.RequirePKCE = false })
		e.client(t, "app", store.ClientMetadata{})
		e.client(t, "public", store.ClientMetadata{TokenEndpointAuthMethod: oauth.AuthNone})
		p := authParams("app")
		p.Del("code_challenge")
		p.Del("code_challenge_method")
		if r := e.session(t, e.authorize(t, b, p)); r.CodeChallenge != "" {
			t.Errorf("challenge %q", r.CodeChallenge)
		}
		p.Set("client_id", "public")
		loc := b.get(t, e.issuer+"/v1/authorize?"+p.Encode()).location(t)
		if loc.Query().Get("error") != "invalid_request" {
			t.Errorf("public client without PKCE: %s", loc)
		}
	})
	t.Run("app_url elsewhere", func(t *testing.T) {
		e := start(t, func(c *config.Config) {
			c.Server.BasePath = "/api/auth"
			c.Server.AppURL = "http://localhost:3000"
		})
		e.client(t, "app", store.ClientMetadata{})
		a := b.get(t, e.issuer+"/v1/authorize?"+authParams("app").Encode())
		if !strings.HasPrefix(a.header.Get("Location"), "http://localhost:3000/oauth2/authorize/") {
			t.Errorf("Location %q", a.header.Get("Location"))
		}
	})
}

func set(name, value string) func(url.Values) string {
	return func(v url.Values) string { v.Set(name, value); return v.Encode() }
}

func del(name string) func(url.Values) string {
	return func(v url.Values) string { v.Del(name); return v.Encode() }
}

func nop(v url.Values) string { return v.Encode() }
