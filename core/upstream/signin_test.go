package upstream_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/identity"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// repoRoot is the module root, for the built plugins.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// upstreamIdP is a second Gatehouse, on http://localhost:port (another
// cookie host than the 127.0.0.1 of the server under test), serving as
// the upstream OpenID provider.
type upstreamIdP struct {
	issuer string
	st     *store.Store
}

func startIdP(t *testing.T, edits ...func(*config.Config)) *upstreamIdP {
	t.Helper()
	l := servertest.Start(t, func(cfg *config.Config) {
		_, port, _ := net.SplitHostPort(cfg.Server.Addr)
		cfg.Server.PublicURL = "http://localhost:" + port
		cfg.Plugins.Dir, cfg.Plugins.Watch, cfg.Plugins.CacheDir = "", false, ""
		cfg.Plugins.Hooks = nil
		for _, edit := range edits {
			if edit != nil {
				edit(cfg)
			}
		}
	})
	return &upstreamIdP{issuer: l.Issuer, st: l.Store}
}

// register registers the server under test as a confidential client of
// the IdP with callback as its redirect URI.
func (p *upstreamIdP) register(t *testing.T, callback string) testclient.Client {
	t.Helper()
	return testclient.Must(testclient.Register(p.issuer, map[string]any{
		"client_name": "gatehouse downstream", "redirect_uris": []string{callback},
		"grant_types": []string{"authorization_code", "refresh_token"}, "token_endpoint_auth_method": "client_secret_basic",
		"scope": "openid profile email offline_access",
	}))(t)
}

// signInAt gives browser b a login session at the IdP for email, as if
// the person had signed in there.
func (p *upstreamIdP) signInAt(t *testing.T, b browser, email string) {
	t.Helper()
	value := oauth.RandomToken(32)
	local, _, _ := strings.Cut(email, "@")
	verified := true
	err := p.st.LoginSessions.Create(context.Background(), store.HashID(value), store.LoginSession{
		Subject: "user:upstream/" + local, Ownership: []string{"user:upstream/" + local},
		// The IdP vouches for the address: its ID token says email_verified
		// true, which signin-default's e-mail resolvers require.
		Profile:  store.Profile{Email: email, DisplayName: strings.ToUpper(local[:1]) + local[1:], EmailVerified: &verified},
		Provider: "guest", AuthTime: time.Now().Add(-time.Minute), ExpiresAt: time.Now().Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(p.issuer + "/")
	b.Jar.SetCookies(u, []*http.Cookie{{Name: identity.SessionCookie, Value: value, Path: "/"}})
}

// providerEnv is the server under test with provider "corp" on the IdP.
type providerEnv struct {
	*env
	idp    *upstreamIdP
	origin string
}

const appOrigin = "http://app.example.test:3000"

func startWithProvider(t *testing.T, edit func(*config.Config)) *providerEnv {
	t.Helper()
	idp := startIdP(t)
	e := start(t, func(c *config.Config) {
		c.Server.BasePath = "/api/auth"
		c.Server.AppURL = appOrigin
		callback := c.Issuer() + "/corp/handler/frame"
		cl := idp.register(t, callback)
		c.Providers = map[string]map[string]config.Provider{"corp": {"development": {
			Type: config.ProviderOIDC, DisplayName: "Sign in with Corp", ClientID: cl.ID, ClientSecret: cl.Secret,
			Issuer: idp.issuer, Scopes: []string{"profile", "email", "offline_access"},
		}}}
		c.Plugins.Dir = "" // the embedded first-party plugins
		c.Plugins.Watch = false
		if edit != nil {
			edit(c)
		}
	})
	return &providerEnv{env: e, idp: idp, origin: appOrigin}
}

// noEmailVerified tells signin-default that the upstream of a test sends
// no email_verified claim: an email without one may match
// (email_verified: if_present); false would still refuse.
func noEmailVerified(c *config.Config) {
	s := c.Plugins.Settings["signin-default"]
	s.Config = maps.Clone(s.Config)
	if s.Config == nil {
		s.Config = map[string]any{}
	}
	s.Config["email_verified"] = "if_present"
	if c.Plugins.Settings == nil {
		c.Plugins.Settings = map[string]config.PluginSettings{}
	}
	c.Plugins.Settings["signin-default"] = s
}

// follow follows redirects from target until a non-redirect answer or a
// location under stop, which it returns unfollowed.
func (b browser) follow(t *testing.T, target, stop string) (answer, string) {
	t.Helper()
	for range 10 {
		a := b.do(t, http.MethodGet, target, "", "")
		loc := a.header.Get("Location")
		if a.status/100 != 3 || loc == "" {
			return a, target
		}
		next, err := url.Parse(target)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := next.Parse(loc)
		if err != nil {
			t.Fatal(err)
		}
		target = ref.String()
		if stop != "" && strings.HasPrefix(target, stop) {
			return answer{}, target
		}
	}
	t.Fatalf("too many redirects from %s", target)
	return answer{}, ""
}

var csrfValue = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// approveAtIdP answers the IdP's consent page (the browser is signed in
// there) and returns the redirect back to the server under test.
func (b browser) approveAtIdP(t *testing.T, consentPage, stop string) string {
	t.Helper()
	page := b.do(t, http.MethodGet, consentPage, "", "")
	m := csrfValue.FindSubmatch(page.body)
	if page.status != http.StatusOK || m == nil || !strings.Contains(string(page.body), `id="approve"`) {
		t.Fatalf("IdP consent page %d: %.500s", page.status, page.body)
	}
	a := b.postForm(t, consentPage, url.Values{"_csrf": {string(m[1])}, "decision": {"approve"}})
	loc := a.header.Get("Location")
	if a.status != http.StatusSeeOther || !strings.HasPrefix(loc, stop) {
		t.Fatalf("approve at IdP: %d %q %.300s", a.status, loc, a.body)
	}
	return loc
}

// pageFlow is an authorization request of a newly registered client
// whose consent page a browser signed in to through corp.
type pageFlow struct {
	cl          testclient.Client
	redirectURI string
	verifier    string
	query       url.Values // the authorization request
	page        string     // the consent page's URL
}

// signInOnPage registers a client (metadata plus a loopback redirect URI),
// starts its authorization request for scope in b, follows the consent
// page's corp login through the IdP (where b is signed in) and back, and
// returns the flow and the consent page answer it landed on.
func (e *providerEnv) signInOnPage(t *testing.T, b browser, metadata map[string]any, scope string) (pageFlow, answer, string) {
	t.Helper()
	f := pageFlow{redirectURI: "http://127.0.0.1:9/callback", verifier: testclient.RandomVerifier()}
	metadata["redirect_uris"] = []string{f.redirectURI}
	f.cl = testclient.Must(testclient.Register(e.issuer, metadata))(t)
	f.query = url.Values{"response_type": {"code"}, "client_id": {f.cl.ID}, "redirect_uri": {f.redirectURI},
		"scope": {scope}, "state": {"s1"}, "code_challenge": {s256(f.verifier)}, "code_challenge_method": {"S256"}}
	var a answer
	a, f.page = b.follow(t, e.issuer+"/v1/authorize?"+f.query.Encode(), "")
	link := regexp.MustCompile(`id="login-corp" href="([^"]+)"`).FindSubmatch(a.body)
	if a.status != http.StatusOK || link == nil {
		t.Fatalf("consent page %s offers no corp login: %d %.800s", f.page, a.status, a.body)
	}
	start := e.cfg.Server.PublicURL + strings.ReplaceAll(string(link[1]), "&amp;", "&")
	_, consent := b.follow(t, start, e.idp.issuer+"/oauth2/authorize/")
	back := b.approveAtIdP(t, consent, e.issuer+"/corp/handler/frame")
	a, landed := b.follow(t, back, "")
	return f, a, landed
}

// redeem approves the consent page (answer a, signed in) and exchanges
// the code, returning the token response.
func (f pageFlow) redeem(t *testing.T, b browser, e *providerEnv, a answer) map[string]any {
	t.Helper()
	m := csrfValue.FindSubmatch(a.body)
	if m == nil {
		t.Fatalf("no consent form after sign-in: %.500s", a.body)
	}
	res := b.postForm(t, f.page, url.Values{"_csrf": {string(m[1])}, "decision": {"approve"}})
	loc, _ := url.Parse(res.header.Get("Location"))
	code := loc.Query().Get("code")
	if res.status != http.StatusSeeOther || code == "" {
		t.Fatalf("approve: %d %s", res.status, res.header.Get("Location"))
	}
	status, tok, err := testclient.PostForm(e.issuer+"/v1/token", f.cl.ID, f.cl.Secret, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {f.redirectURI}, "code_verifier": {f.verifier}})
	if err != nil || status != http.StatusOK {
		t.Fatalf("token: %d %v %v", status, tok, err)
	}
	return tok
}

// webMessage is the popup page's payload.
type webMessage struct {
	Type     string `json:"type"`
	Response *struct {
		ProviderInfo struct {
			AccessToken, IDToken, Scope string
			ExpiresInSeconds            int64
		} `json:"providerInfo"`
		Profile struct {
			Email, DisplayName string
		} `json:"profile"`
		BackstageIdentity struct {
			Token    string `json:"token"`
			Identity struct {
				Type                string   `json:"type"`
				UserEntityRef       string   `json:"userEntityRef"`
				OwnershipEntityRefs []string `json:"ownershipEntityRefs"`
			} `json:"identity"`
		} `json:"backstageIdentity"`
	} `json:"response"`
	Error *struct{ Name, Message string } `json:"error"`
}

var authResponse = regexp.MustCompile(`var authResponse = (.*);\nvar origin = (".*");`)

func parseFrame(t *testing.T, a answer) (webMessage, string) {
	t.Helper()
	m := authResponse.FindSubmatch(a.body)
	if a.status != http.StatusOK || m == nil {
		t.Fatalf("frame handler %d: %.500s", a.status, a.body)
	}
	if csp := a.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'sha256-") || a.header.Get("Cache-Control") != "no-store" {
		t.Errorf("frame headers: CSP %q, Cache-Control %q", csp, a.header.Get("Cache-Control"))
	}
	var msg webMessage
	var origin string
	if err := json.Unmarshal(m[1], &msg); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(m[2], &origin); err != nil {
		t.Fatal(err)
	}
	return msg, origin
}

// popupSignIn drives start → IdP consent → frame handler for email and
// returns the payload and its target origin.
func (e *providerEnv) popupSignIn(t *testing.T, b browser, email string) (webMessage, string) {
	t.Helper()
	e.idp.signInAt(t, b, email)
	_, consent := b.follow(t, e.issuer+"/corp/start?env=development&origin="+url.QueryEscape(e.origin), e.idp.issuer+"/oauth2/authorize/")
	back := b.approveAtIdP(t, consent, e.issuer+"/corp/handler/frame")
	a := b.do(t, http.MethodGet, back, "", "")
	return parseFrame(t, a)
}

func (b browser) xhr(t *testing.T, method, target string) answer {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Requested-With", "XMLHttpRequest")
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	a.status, a.header = resp.StatusCode, resp.Header
	a.body, _ = readAll(resp)
	return a
}

// TestProviderSignIn: the Backstage popup flow against a real upstream
// OpenID provider, then refresh (the upstream grant refreshed) and logout.
func TestProviderSignIn(t *testing.T) {
	e := startWithProvider(t, nil)
	b := newBrowser(t)
	msg, origin := e.popupSignIn(t, b, "alice@example.com")
	if origin != appOrigin || msg.Type != "authorization_response" || msg.Response == nil || msg.Error != nil {
		t.Fatalf("payload to %q: %+v", origin, msg)
	}
	r := msg.Response
	bi := r.BackstageIdentity
	if bi.Identity.Type != "user" || bi.Identity.UserEntityRef != "user:default/alice" ||
		!slices.Contains(bi.Identity.OwnershipEntityRefs, "user:default/alice") || r.Profile.Email != "alice@example.com" {
		t.Errorf("identity %+v profile %+v", bi.Identity, r.Profile)
	}
	if r.ProviderInfo.AccessToken == "" || r.ProviderInfo.IDToken == "" || !strings.Contains(r.ProviderInfo.Scope, "openid") {
		t.Errorf("providerInfo %+v", r.ProviderInfo)
	}
	id, err := e.srv.Issuer().VerifyIdentityToken(context.Background(), bi.Token)
	if err != nil || id.Subject != "user:default/alice" || !slices.Equal(id.Ownership, bi.Identity.OwnershipEntityRefs) {
		t.Fatalf("identity token: %+v %v", id, err)
	}

	t.Run("refresh", func(t *testing.T) {
		if a := b.do(t, http.MethodGet, e.issuer+"/corp/refresh?env=development", "", ""); a.status != http.StatusBadRequest {
			t.Errorf("refresh without X-Requested-With: %d %s", a.status, a.body)
		}
		a := b.xhr(t, http.MethodGet, e.issuer+"/corp/refresh?env=development")
		if a.status != http.StatusOK || a.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("refresh %d: %s", a.status, a.body)
		}
		var got struct {
			ProviderInfo struct {
				AccessToken string `json:"accessToken"`
			} `json:"providerInfo"`
			BackstageIdentity struct {
				Token    string `json:"token"`
				Identity struct {
					UserEntityRef string `json:"userEntityRef"`
				} `json:"identity"`
			} `json:"backstageIdentity"`
		}
		if err := json.Unmarshal(a.body, &got); err != nil {
			t.Fatal(err)
		}
		if got.BackstageIdentity.Identity.UserEntityRef != "user:default/alice" || got.BackstageIdentity.Token == "" {
			t.Errorf("refresh answer %s", a.body)
		}
		// The upstream grant had a refresh token: the access token is new.
		if got.ProviderInfo.AccessToken == "" || got.ProviderInfo.AccessToken == r.ProviderInfo.AccessToken {
			t.Errorf("upstream access token not refreshed")
		}
		if a := b.xhr(t, http.MethodGet, e.issuer+"/corp/refresh?env=production"); a.status != http.StatusUnauthorized {
			t.Errorf("refresh for another env: %d", a.status)
		}
		if a := newBrowser(t).xhr(t, http.MethodPost, e.issuer+"/corp/refresh?env=development"); a.status != http.StatusUnauthorized {
			t.Errorf("refresh without a session: %d %s", a.status, a.body)
		}
	})

	t.Run("logout", func(t *testing.T) {
		if a := b.xhr(t, http.MethodPost, e.issuer+"/corp/logout?env=development"); a.status != http.StatusOK {
			t.Fatalf("logout %d %s", a.status, a.body)
		}
		if a := b.xhr(t, http.MethodGet, e.issuer+"/corp/refresh?env=development"); a.status != http.StatusUnauthorized {
			t.Errorf("refresh after logout: %d %s", a.status, a.body)
		}
	})
}

// TestProviderRefused: the sign_in plugin refuses a domain; the popup gets
// the refusal's message and no identity, and nothing is signed in.
func TestProviderRefused(t *testing.T) {
	e := startWithProvider(t, nil)
	b := newBrowser(t)
	msg, origin := e.popupSignIn(t, b, "mallory@evil.test")
	if origin != appOrigin || msg.Response != nil || msg.Error == nil || msg.Error.Message != "email domain evil.test is not allowed" {
		t.Fatalf("payload %+v", msg)
	}
	if a := b.xhr(t, http.MethodGet, e.issuer+"/corp/refresh?env=development"); a.status != http.StatusUnauthorized {
		t.Errorf("refused sign-in left a session: %d %s", a.status, a.body)
	}
}

// TestProviderState: the frame handler refuses a missing, unknown or
// replayed state, and a state started in another browser.
func TestProviderState(t *testing.T) {
	e := startWithProvider(t, nil)
	b := newBrowser(t)
	e.idp.signInAt(t, b, "alice@example.com")
	_, consent := b.follow(t, e.issuer+"/corp/start?env=development", e.idp.issuer+"/oauth2/authorize/")
	back := b.approveAtIdP(t, consent, e.issuer+"/corp/handler/frame")

	other := newBrowser(t)
	if a := other.do(t, http.MethodGet, back, "", ""); a.status != http.StatusBadRequest || !strings.Contains(string(a.body), "another browser") {
		t.Errorf("state from another browser: %d %.200s", a.status, a.body)
	}
	// The refused attempt did not spend the state: its browser finishes.
	if msg, _ := parseFrame(t, b.do(t, http.MethodGet, back, "", "")); msg.Response == nil {
		t.Fatalf("sign-in after a foreign attempt: %+v", msg)
	}
	for name, target := range map[string]string{
		"replayed": back,
		"unknown":  e.issuer + "/corp/handler/frame?code=x&state=" + oauth.RandomToken(32),
		"missing":  e.issuer + "/corp/handler/frame?code=x",
	} {
		if a := b.do(t, http.MethodGet, target, "", ""); a.status != http.StatusBadRequest {
			t.Errorf("%s state: %d %.200s", name, a.status, a.body)
		}
	}
	for name, target := range map[string]string{
		"unknown env":      "/corp/start?env=staging",
		"foreign origin":   "/corp/start?env=development&origin=https://evil.example",
		"foreign return":   "/corp/start?env=development&returnTo=https://evil.example/",
		"foreign redirect": "/corp/start?env=development&flow=redirect&redirectUrl=https://evil.example/",
	} {
		if a := b.do(t, http.MethodGet, e.issuer+target, "", ""); a.status != http.StatusBadRequest {
			t.Errorf("%s: %d %.200s", name, a.status, a.body)
		}
	}
}

// TestProviderHotReload: the sign_in resolver is swapped on disk and
// reloaded between two sign-ins; the second uses the new one.
func TestProviderHotReload(t *testing.T) {
	dir := t.TempDir()
	root := repoRoot(t)
	install := func(src string) {
		t.Helper()
		raw, err := os.ReadFile(src)
		if err != nil {
			if testing.Short() {
				t.Skipf("-short needs no toolchain, and make plugins builds %s", src)
			}
			t.Fatalf("built plugin missing (make plugins): %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "resolver.wasm"), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	install(filepath.Join(root, "plugins", "signin-default", "signin-default.wasm")) // the embedded one
	e := startWithProvider(t, func(c *config.Config) {
		c.Plugins.Dir = dir
		c.Plugins.Hooks = map[string]any{"sign_in": map[string]any{"corp": "resolver"}}
		// One config both resolvers read: signin-default looks the email
		// up in users; the example maps the local part.
		c.Plugins.Settings = map[string]config.PluginSettings{"resolver": {Config: map[string]any{
			"resolver": "email", "namespace": "default", "allowed_domains": []any{"example.com"}, "email_verified": "if_present",
			"users": []any{map[string]any{"email": "alice@example.com", "ref": "user:default/alice.smith",
				"groups": []any{"group:default/staff"}}},
		}}}
	})
	want := func(msg webMessage, sub string, ent ...string) {
		t.Helper()
		if msg.Response == nil {
			t.Fatalf("sign-in refused: %+v", msg.Error)
		}
		id := msg.Response.BackstageIdentity.Identity
		if id.UserEntityRef != sub || !slices.Equal(id.OwnershipEntityRefs, ent) {
			t.Fatalf("identity %+v, want %s %v", id, sub, ent)
		}
	}
	msg, _ := e.popupSignIn(t, newBrowser(t), "alice@example.com")
	want(msg, "user:default/alice.smith", "user:default/alice.smith", "group:default/staff")
	install(filepath.Join(root, "examples", "plugins", "bin", "signin-example-wat.wasm"))
	if err := e.srv.Plugins().Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	msg, _ = e.popupSignIn(t, newBrowser(t), "alice@example.com")
	want(msg, "user:default/alice", "user:default/alice")
}

// TestProviderPageLogin: the consent page's login step offers the
// provider; signing in there makes the upstream's person the user of the
// consent session, whose ID and access tokens carry sub and ent.
func TestProviderPageLogin(t *testing.T) {
	e := startWithProvider(t, func(c *config.Config) { c.Server.AppURL = "" })
	b := newBrowser(t)
	e.idp.signInAt(t, b, "alice@example.com")
	f, a, landed := e.signInOnPage(t, b, map[string]any{"client_name": "page app", "scope": "openid profile email"}, "openid email")
	page := f.page
	if landed != page || !strings.Contains(string(a.body), `id="approve"`) {
		t.Fatalf("after sign-in landed on %s (want %s): %.500s", landed, page, a.body)
	}
	if !strings.Contains(string(a.body), `action="/api/auth/corp/signout"`) || !strings.Contains(string(a.body), `id="logout"`) {
		t.Errorf("consent step offers no sign-out through corp: %.800s", a.body)
	}
	tok := f.redeem(t, b, e, a)
	access, err := e.srv.Issuer().VerifyAccessToken(context.Background(), tok["access_token"].(string))
	if err != nil || access.Subject != "user:default/alice" || !slices.Contains(access.Ownership, "user:default/alice") {
		t.Errorf("access token %+v %v", access, err)
	}
	claims := jwtClaims(t, tok["id_token"].(string))
	if claims["sub"] != "user:default/alice" || claims["email"] != "alice@example.com" || claims["ent"] == nil {
		t.Errorf("ID token claims %v", claims)
	}

	// "Not you?": the sign-out form ends the login and provider sessions.
	a, page = b.follow(t, e.issuer+"/v1/authorize?"+f.query.Encode(), "")
	m := csrfValue.FindSubmatch(a.body)
	if m == nil || !strings.Contains(string(a.body), `id="approve"`) {
		t.Fatalf("second request: %.500s", a.body)
	}
	if res := b.postForm(t, e.issuer+"/corp/signout", url.Values{"returnTo": {"/api/auth/x"}}); res.status != http.StatusForbidden {
		t.Errorf("sign-out without CSRF token: %d", res.status)
	}
	out := b.postForm(t, e.issuer+"/corp/signout", url.Values{"_csrf": {string(m[1])}, "returnTo": {strings.TrimPrefix(page, e.cfg.Server.PublicURL)}})
	if out.status != http.StatusSeeOther || b.sessionCookie(t, e.env) != "" {
		t.Fatalf("sign-out: %d %s", out.status, out.body)
	}
	if a := b.do(t, http.MethodGet, page, "", ""); !strings.Contains(string(a.body), `id="login-corp"`) {
		t.Errorf("after sign-out the page does not ask to sign in: %.500s", a.body)
	}
	if a := b.xhr(t, http.MethodGet, e.issuer+"/corp/refresh?env=development"); a.status != http.StatusUnauthorized {
		t.Errorf("provider session survived sign-out: %d", a.status)
	}
}

func readAll(resp *http.Response) ([]byte, error) {
	var buf strings.Builder
	_, err := io.Copy(&buf, resp.Body)
	return []byte(buf.String()), err
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// jwtClaims reads a JWT's payload (its signature is checked elsewhere).
func jwtClaims(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", raw)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestProviderRefreshConcurrent: concurrent refreshes of one provider
// session, spread over two servers on one store (replicas on one
// database). The upstream rotates refresh tokens and revokes the grant on
// reuse, so two refreshes with one refresh token would end the session:
// the refresh is claimed in the store, exactly one request at a time
// refreshes upstream, the others answer with its result, and every
// request succeeds with a token the upstream accepts.
func TestProviderRefreshConcurrent(t *testing.T) {
	e := startWithProvider(t, nil)
	other := servertest.StartWith(t, func(c *config.Config) {
		c.Server.BasePath, c.Server.AppURL, c.Providers = e.cfg.Server.BasePath, e.cfg.Server.AppURL, e.cfg.Providers
		c.Plugins.Dir, c.Plugins.Watch = "", false
	}, servertest.Options{Store: func(testing.TB, *config.Config) *store.Store { return e.st }})
	b := newBrowser(t)
	if msg, _ := e.popupSignIn(t, b, "alice@example.com"); msg.Response == nil {
		t.Fatalf("sign-in: %+v", msg)
	}
	issuers := []string{e.issuer, other.Issuer}
	refresh := func(issuer string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, issuer+"/corp/refresh?env=development", nil)
		req.Header.Set("X-Requested-With", "XMLHttpRequest")
		resp, err := b.Do(req)
		if err != nil {
			return -1, err.Error()
		}
		defer resp.Body.Close()
		var got struct {
			ProviderInfo struct {
				AccessToken string `json:"accessToken"`
			} `json:"providerInfo"`
		}
		body, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(body, &got); err != nil || got.ProviderInfo.AccessToken == "" {
			return resp.StatusCode, string(body)
		}
		return resp.StatusCode, got.ProviderInfo.AccessToken
	}
	const workers, calls = 4, 3
	type outcome struct {
		status int
		body   string
	}
	outcomes := make(chan outcome, workers*calls)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				status, body := refresh(issuers[(w+i)%2])
				outcomes <- outcome{status, body}
			}
		}()
	}
	wg.Wait()
	close(outcomes)
	for o := range outcomes {
		if o.status != http.StatusOK {
			t.Fatalf("a concurrent refresh failed: %d %s", o.status, o.body)
		}
	}
	for _, issuer := range issuers {
		status, tok := refresh(issuer)
		if status != http.StatusOK {
			t.Fatalf("refresh at %s after the concurrent ones: %d %s", issuer, status, tok)
		}
		if sub := upstreamUser(t, e.idp, tok); sub != "user:upstream/alice" {
			t.Errorf("the refreshed upstream token is for %q", sub)
		}
	}
	rec, err := e.st.UpstreamSessions.Get(context.Background(), sessionID(t, b, e.issuer))
	if err != nil || !rec.RefreshingUntil.IsZero() {
		t.Fatalf("after the refreshes the session's claim is %v (%v), want given back", rec.RefreshingUntil, err)
	}
}

// sessionID is the store id of the provider session of b's refresh cookie.
func sessionID(t *testing.T, b browser, issuer string) string {
	t.Helper()
	u, _ := url.Parse(issuer + "/corp/refresh")
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == "gatehouse_corp_refresh" {
			return store.HashID(c.Value)
		}
	}
	t.Fatal("no refresh cookie")
	return ""
}
