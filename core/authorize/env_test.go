package authorize_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/server"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// env is a real Gatehouse on a loopback port, on the memory store.
type env struct {
	cfg    *config.Config
	srv    *server.Server
	st     *store.Store
	issuer string
}

// start runs a server; edit adjusts its configuration first.
func start(tb testing.TB, edit func(*config.Config)) *env {
	tb.Helper()
	l := servertest.Start(tb, func(c *config.Config) {
		// No hook is called here: no plugin to load.
		c.Plugins.Hooks = nil
		c.Tokens.Resources = append(c.Tokens.Resources, testResources...)
		if edit != nil {
			edit(c)
		}
	})
	return &env{cfg: l.Cfg, srv: l.Server, st: l.Store, issuer: l.Issuer}
}

// testResources are the RFC 8707 resources the tests' clients may name.
var testResources = []string{"https://api.example.com", "https://api.example.com/**", "urn:example:catalog"}

const (
	testRedirect = "http://127.0.0.1:9/callback"
	testSecret   = "a-high-entropy-client-secret-0123456789"
)

// client registers a client directly in the store, as the operator would
// with the initial access token (kind registered: its errors are
// redirected), with testRedirect unless meta names redirect URIs, and the
// code flow unless it names response types.
func (e *env) client(tb testing.TB, id string, meta store.ClientMetadata) store.Client {
	tb.Helper()
	if meta.TokenEndpointAuthMethod == "" {
		meta.TokenEndpointAuthMethod = oauth.AuthBasic
	}
	if meta.RedirectURIs == nil {
		meta.RedirectURIs = []string{testRedirect}
	}
	if meta.ResponseTypes == nil {
		meta.ResponseTypes = []string{"code"}
		meta.GrantTypes = []string{"authorization_code"}
	}
	c := store.Client{ClientMetadata: meta, ID: id, IssuedAt: time.Now(), AdmittedByToken: true}
	if meta.TokenEndpointAuthMethod != oauth.AuthNone {
		c.SecretHash = oauth.HashSecret(testSecret)
	}
	if err := e.st.Clients.Create(context.Background(), id, c); err != nil {
		tb.Fatal(err)
	}
	return c
}

// sessions lists the stored consent sessions.
func (e *env) sessions(tb testing.TB) []store.AuthRequest {
	tb.Helper()
	var out []store.AuthRequest
	err := e.st.AuthRequests.List(context.Background(), func(_ string, r store.AuthRequest) error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// session returns the stored consent session id.
func (e *env) session(tb testing.TB, id string) store.AuthRequest {
	tb.Helper()
	r, err := e.st.AuthRequests.Get(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// codes lists the stored authorization codes.
func (e *env) codes(tb testing.TB) map[string]store.AuthCode {
	tb.Helper()
	out := map[string]store.AuthCode{}
	err := e.st.Codes.List(context.Background(), func(id string, c store.AuthCode) error {
		out[id] = c
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

var challenge = servertest.Challenge

const testVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

// authParams is a valid authorization request for clientID.
func authParams(clientID string) url.Values {
	return url.Values{
		"response_type":         {"code"},
		"client_id":             {clientID},
		"redirect_uri":          {testRedirect},
		"scope":                 {"openid"},
		"state":                 {"st-123"},
		"nonce":                 {"n-0S6_WzA2Mj"},
		"code_challenge":        {challenge(testVerifier)},
		"code_challenge_method": {"S256"},
	}
}

// answer is an HTTP answer, read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		tb.Fatalf("status %d, body is not JSON: %.300s", a.status, a.body)
	}
	return m
}

func (a answer) location(tb testing.TB) *url.URL {
	tb.Helper()
	u, err := url.Parse(a.header.Get("Location"))
	if err != nil || a.header.Get("Location") == "" {
		tb.Fatalf("status %d, no usable Location (%q): %.300s", a.status, a.header.Get("Location"), a.body)
	}
	return u
}

// browser is an HTTP client with cookies that does not follow redirects.
type browser struct{ *http.Client }

func newBrowser(tb testing.TB) browser {
	tb.Helper()
	return browser{testclient.UserAgent(tb)}
}

func (b browser) do(tb testing.TB, method, target string, header http.Header, body string) answer {
	tb.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := b.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: raw}
}

func (b browser) get(tb testing.TB, target string) answer {
	tb.Helper()
	return b.do(tb, http.MethodGet, target, nil, "")
}

func (b browser) postForm(tb testing.TB, target string, form url.Values) answer {
	tb.Helper()
	return b.do(tb, http.MethodPost, target, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, form.Encode())
}

func bearer(tok string) http.Header {
	return http.Header{"Authorization": {"Bearer " + tok}, "Content-Type": {"application/json"}}
}

// authorize sends params to the authorization endpoint and returns the
// consent session id it created.
func (e *env) authorize(tb testing.TB, b browser, params url.Values) string {
	tb.Helper()
	a := b.get(tb, e.issuer+"/v1/authorize?"+params.Encode())
	if a.status != http.StatusFound {
		tb.Fatalf("authorize: %d %s", a.status, a.body)
	}
	loc := a.header.Get("Location")
	prefix := e.cfg.AppURL() + "/oauth2/authorize/"
	if !strings.HasPrefix(loc, prefix) {
		tb.Fatalf("authorize redirected to %q, want %s...", loc, prefix)
	}
	return strings.TrimPrefix(loc, prefix)
}

// guestToken is a Backstage identity token for the guest.
func (e *env) guestToken(tb testing.TB) string {
	tb.Helper()
	a := newBrowser(tb).do(tb, http.MethodPost, e.issuer+"/guest/refresh", nil, "")
	id, _ := a.json(tb)["backstageIdentity"].(map[string]any)
	tok, _ := id["token"].(string)
	if a.status != http.StatusOK || tok == "" {
		tb.Fatalf("guest refresh: %d %s", a.status, a.body)
	}
	return tok
}

// jwtClaims decodes a JWT's payload without checking it.
func jwtClaims(tb testing.TB, jwt string) map[string]any {
	tb.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		tb.Fatalf("not a JWS: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		tb.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		tb.Fatal(err)
	}
	return c
}
