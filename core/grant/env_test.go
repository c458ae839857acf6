package grant_test

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
)

// env is a real Gatehouse on a loopback port, on the memory store.
type env struct {
	cfg      *config.Config
	srv      *server.Server
	st       *store.Store
	tokenURL string
}

func start(tb testing.TB) *env {
	tb.Helper()
	// No hook is bound (the claims tests bring their own source): no plugin
	// to load.
	l := servertest.Start(tb, func(c *config.Config) {
		c.Plugins.Hooks = nil
		c.Tokens.Resources = append(c.Tokens.Resources, "https://api.example.com", "https://api.example.com/**", "urn:example:catalog")
	})
	return &env{cfg: l.Cfg, srv: l.Server, st: l.Store, tokenURL: l.Issuer + "/v1/token"}
}

const (
	testSecret   = "a-high-entropy-client-secret-0123456789"
	testRedirect = "http://127.0.0.1:9/callback"
	testSubject  = "user:default/alice"
)

// client registers a client directly in the store; a confidential one
// gets testSecret.
func (e *env) client(tb testing.TB, id string, meta store.ClientMetadata) store.Client {
	tb.Helper()
	return servertest.StoreClient(tb, e.st, id, meta, testSecret, testRedirect)
}

var challenge = servertest.Challenge

// code stores an authorization code as /v1/authorize would issue it for
// clientID, bound to verifier's challenge (none if verifier is empty),
// then applies edit, and returns the code.
func (e *env) code(tb testing.TB, clientID, scope, verifier string, edit func(*store.AuthCode)) string {
	tb.Helper()
	now := time.Now()
	c := store.AuthCode{
		ClientID:         clientID,
		RedirectURI:      testRedirect,
		RedirectURIGiven: true,
		Subject:          testSubject,
		Ownership:        []string{testSubject, "group:default/team-a"},
		Profile:          store.Profile{Email: "alice@example.com", DisplayName: "Alice"},
		Scope:            scope,
		Nonce:            "n-0S6_WzA2Mj",
		AuthTime:         now.Add(-time.Minute).Truncate(time.Second),
		GrantID:          oauth.RandomToken(16),
		ExpiresAt:        now.Add(e.cfg.Tokens.CodeTTL),
	}
	if verifier != "" {
		c.CodeChallenge = challenge(verifier)
	}
	if edit != nil {
		edit(&c)
	}
	return servertest.StoreCode(tb, e.st, c)
}

func (e *env) codeRecord(tb testing.TB, raw string) store.AuthCode {
	tb.Helper()
	c, err := e.st.Codes.Get(context.Background(), store.HashID(raw))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// auth is how a request authenticates its client.
type auth struct {
	method     string // oauth.AuthBasic, oauth.AuthPost, oauth.AuthNone, or "" for nothing
	id, secret string
}

func basic(id string) auth  { return auth{oauth.AuthBasic, id, testSecret} }
func post(id string) auth   { return auth{oauth.AuthPost, id, testSecret} }
func public(id string) auth { return auth{oauth.AuthNone, id, ""} }

// reply is a token endpoint answer.
type reply struct {
	status int
	header http.Header
	body   map[string]any
}

func (r reply) str(key string) string { s, _ := r.body[key].(string); return s }

// post sends form to the token endpoint.
func (e *env) post(tb testing.TB, form url.Values, a auth) reply {
	tb.Helper()
	form = cloneValues(form)
	header := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	switch a.method {
	case oauth.AuthBasic:
		header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString(
			[]byte(url.QueryEscape(a.id)+":"+url.QueryEscape(a.secret))))
	case oauth.AuthPost:
		form.Set("client_id", a.id)
		form.Set("client_secret", a.secret)
	case oauth.AuthNone:
		form.Set("client_id", a.id)
	}
	return e.send(tb, header, form.Encode())
}

// send posts a raw body with the given headers.
func (e *env) send(tb testing.TB, header http.Header, body string) reply {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, e.tokenURL, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		tb.Fatalf("status %d, body is not JSON: %.300s", resp.StatusCode, raw)
	}
	return r
}

func cloneValues(v url.Values) url.Values {
	c := url.Values{}
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// wantError checks an RFC 6749 §5.2 error answer.
func wantError(tb testing.TB, r reply, status int, code string) {
	tb.Helper()
	if r.status != status || r.str("error") != code {
		tb.Fatalf("got %d %v, want %d %s", r.status, r.body, status, code)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		tb.Errorf("Cache-Control %q, want no-store", r.header.Get("Cache-Control"))
	}
}

// wantTokens checks a successful token response's shape (RFC 6749 §5.1).
func wantTokens(tb testing.TB, r reply, scope string, refresh, id bool) {
	tb.Helper()
	if r.status != http.StatusOK {
		tb.Fatalf("got %d %v, want 200", r.status, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
		tb.Errorf("Cache-Control %q, Pragma %q: want no-store, no-cache", r.header.Get("Cache-Control"), r.header.Get("Pragma"))
	}
	if r.str("access_token") == "" || r.str("token_type") != "Bearer" {
		tb.Errorf("access_token/token_type: %v", r.body)
	}
	if exp, _ := r.body["expires_in"].(float64); exp <= 0 {
		tb.Errorf("expires_in %v", r.body["expires_in"])
	}
	// An empty scope is left out (RFC 6749 §5.1), never sent as "".
	if got, ok := r.body["scope"].(string); got != scope || ok == (scope == "") {
		tb.Errorf("scope %v, want %q", r.body["scope"], scope)
	}
	if (r.str("refresh_token") != "") != refresh {
		tb.Errorf("refresh_token %q, want present=%v", r.str("refresh_token"), refresh)
	}
	if (r.str("id_token") != "") != id {
		tb.Errorf("id_token present=%v, want %v", r.str("id_token") != "", id)
	}
}

// claims decodes a JWT's payload without checking it (the issuer's own
// tests do that); here only what the grant put in matters.
func claims(tb testing.TB, jwt string) map[string]any {
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
