package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/server"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/badger"
	"github.com/gatehouse-auth/gatehouse/core/store/postgres"
	"github.com/gatehouse-auth/gatehouse/core/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

// liveServer is a real Gatehouse on a loopback port, on a Badger or a
// PostgreSQL store.
type liveServer struct {
	issuer string
	cfg    *config.Config
	srv    *server.Server
	st     *store.Store
}

func TestMain(m *testing.M) { pgtest.Main(m) }

// startServer starts a server on Badger, the embedded configuration's
// backend.
func startServer(t *testing.T, basePath string) *liveServer {
	t.Helper()
	return startServerOn(t, basePath, "badger")
}

// startServerOn starts a server on backend: badger in a temporary
// directory, or postgres on a database of its own.
func startServerOn(t *testing.T, basePath, backend string) *liveServer {
	t.Helper()
	dsn := ""
	if backend == "postgres" {
		dsn = pgtest.NewDatabase(t)
	}
	return startServerDSN(t, basePath, backend, dsn)
}

// startServerDSN is startServerOn with the postgres backend's database.
func startServerDSN(t *testing.T, basePath, backend, dsn string) *liveServer {
	t.Helper()
	l := servertest.StartWith(t, func(cfg *config.Config) {
		cfg.Server.BasePath = basePath
		cfg.Registration.CustomScopes = []string{"catalog.read", "catalog.write"}
		cfg.Tokens.Resources = append(cfg.Tokens.Resources, "https://*.example.test/**")
		cfg.Storage.Backend = backend
		cfg.Storage.Dir = filepath.Join(t.TempDir(), "data")
		cfg.Storage.Postgres.DSN = dsn
		cfg.Admin.Token = flowAdminToken
	}, servertest.Options{Store: func(tb testing.TB, cfg *config.Config) *store.Store {
		var kv store.KV
		var err error
		if cfg.Storage.Backend == "postgres" {
			kv, err = postgres.Open(context.Background(), cfg.Storage.Postgres.DSN, postgres.Options{CacheEntries: cfg.Storage.Postgres.CacheEntries})
		} else {
			kv, err = badger.Open(cfg.Storage.Dir, badger.Options{})
		}
		if err != nil {
			tb.Fatal(err)
		}
		st := store.New(kv)
		// Registered before the server's cleanup, so it runs after the
		// server has stopped.
		tb.Cleanup(func() {
			if err := st.Close(); err != nil {
				tb.Errorf("close store: %v", err)
			}
		})
		return st
	}})
	return &liveServer{issuer: l.Issuer, cfg: l.Cfg, srv: l.Server, st: l.Store}
}

func (s *liveServer) register(t *testing.T, metadata map[string]any) testclient.Client {
	t.Helper()
	return testclient.Must(testclient.Register(s.issuer, metadata))(t)
}

func (s *liveServer) approve(t *testing.T, authURL string) *url.URL {
	t.Helper()
	return testclient.Must(testclient.Approve(s.issuer, s.cfg.AppURL(), authURL))(t)
}

func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	status, body, err := testclient.GetJSON(url)
	if err != nil {
		t.Fatal(err)
	}
	return status, body
}

func postJSON(t *testing.T, url string, body any) (int, map[string]any) {
	t.Helper()
	status, out, err := testclient.PostJSON(url, "", body)
	if err != nil {
		t.Fatal(err)
	}
	return status, out
}

// TestOIDCFlowWithRealClients drives discovery, registration, the
// authorization-code flow with PKCE, ID token verification, userinfo,
// refresh rotation, introspection and revocation with golang.org/x/oauth2
// and github.com/coreos/go-oidc/v3.
func TestOIDCFlowWithRealClients(t *testing.T) {
	for _, tc := range []struct{ backend, basePath string }{
		{"badger", ""}, {"badger", "/api/auth"}, {"postgres", ""},
	} {
		t.Run(tc.backend+"/base="+tc.basePath, func(t *testing.T) {
			s := startServerOn(t, tc.basePath, tc.backend)
			ctx := oidc.ClientContext(context.Background(), &http.Client{Timeout: 10 * time.Second})

			provider, err := oidc.NewProvider(ctx, s.issuer)
			if err != nil {
				t.Fatalf("discovery: %v", err)
			}
			const redirectURI = "http://127.0.0.1:9/callback"
			client := s.register(t, map[string]any{
				"client_name":   "flow test",
				"redirect_uris": []string{redirectURI},
				"grant_types":   []string{"authorization_code", "refresh_token"},
				"scope":         "openid profile email offline_access",
			})
			conf := oauth2.Config{
				ClientID: client.ID, ClientSecret: client.Secret, RedirectURL: redirectURI,
				Endpoint: provider.Endpoint(),
				Scopes:   []string{oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess},
			}
			verifier := oauth2.GenerateVerifier()
			state, nonce := "state-"+oauth2.GenerateVerifier()[:8], "nonce-"+oauth2.GenerateVerifier()[:8]
			redirect := s.approve(t, conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)))

			q := redirect.Query()
			if got := redirect.Scheme + "://" + redirect.Host + redirect.Path; got != redirectURI {
				t.Fatalf("redirected to %q, want %q", got, redirectURI)
			}
			if q.Get("state") != state || q.Get("iss") != s.issuer || q.Get("code") == "" {
				t.Fatalf("redirect query %v: want state %q, iss %q and a code", q, state, s.issuer)
			}
			tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			rawID, _ := tok.Extra("id_token").(string)
			// RS256 only, as relying parties that follow OIDC Core §15.1
			// and Registration §2 expect by default.
			idToken, err := provider.Verifier(&oidc.Config{ClientID: client.ID, SupportedSigningAlgs: []string{oidc.RS256}}).Verify(ctx, rawID)
			if err != nil {
				t.Fatalf("verify ID token: %v", err)
			}
			if idToken.Nonce != nonce {
				t.Errorf("nonce %q, want %q", idToken.Nonce, nonce)
			}
			if idToken.Subject != s.cfg.Guest.UserEntityRef {
				t.Errorf("sub %q, want %q", idToken.Subject, s.cfg.Guest.UserEntityRef)
			}
			if err := idToken.VerifyAccessToken(tok.AccessToken); err != nil {
				t.Errorf("at_hash: %v", err)
			}
			var claims struct {
				Ent []string `json:"ent"`
			}
			if err := idToken.Claims(&claims); err != nil || len(claims.Ent) == 0 {
				t.Errorf("ID token ent claim: %v %v", claims.Ent, err)
			}

			info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			if err != nil || info.Subject != idToken.Subject {
				t.Fatalf("userinfo: %v %+v", err, info)
			}

			// Refresh rotates: the new refresh token differs and the old one,
			// used again, revokes the whole family.
			refreshed, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if refreshed.RefreshToken == "" || refreshed.RefreshToken == tok.RefreshToken {
				t.Fatalf("refresh token not rotated: %q", refreshed.RefreshToken)
			}
			_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			assertOAuthError(t, err, "invalid_grant")
			_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshed.RefreshToken}).Token()
			assertOAuthError(t, err, "invalid_grant")
			if active := introspect(t, s, client, refreshed.AccessToken); active {
				t.Errorf("access token still active after its family was revoked")
			}
		})
	}
}

// TestIDTokenSigningAlg: a client that registers no
// id_token_signed_response_alg is told RS256 and gets RS256 ID tokens (OIDC
// Registration §2); one that registers ES256 gets ES256, verifiable with
// the JWKS; refreshed ID tokens keep the client's algorithm.
func TestIDTokenSigningAlg(t *testing.T) {
	s := startServer(t, "")
	ctx := oidc.ClientContext(context.Background(), &http.Client{Timeout: 10 * time.Second})
	provider, err := oidc.NewProvider(ctx, s.issuer)
	if err != nil {
		t.Fatal(err)
	}
	var disco struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := provider.Claims(&disco); err != nil || !slices.Equal(disco.Algs, []string{"ES256", "RS256"}) {
		t.Fatalf("id_token_signing_alg_values_supported %v (%v), want exactly the algorithms signed with: ES256, RS256", disco.Algs, err)
	}
	const redirectURI = "http://127.0.0.1:9/callback"
	for _, tc := range []struct{ registered, want string }{{"", "RS256"}, {"ES256", "ES256"}, {"RS256", "RS256"}} {
		t.Run("registered="+tc.registered, func(t *testing.T) {
			meta := map[string]any{
				"redirect_uris": []string{redirectURI},
				"grant_types":   []string{"authorization_code", "refresh_token"},
			}
			if tc.registered != "" {
				meta["id_token_signed_response_alg"] = tc.registered
			}
			status, reg := postJSON(t, s.issuer+"/v1/register", meta)
			if status != http.StatusCreated || reg["id_token_signed_response_alg"] != tc.want {
				t.Fatalf("register: %d, id_token_signed_response_alg %v, want %s", status, reg["id_token_signed_response_alg"], tc.want)
			}
			client := testclient.Client{ID: reg["client_id"].(string), Secret: reg["client_secret"].(string),
				RegistrationToken: reg["registration_access_token"].(string), RegistrationURI: reg["registration_client_uri"].(string)}
			// RFC 7592 §2.1: the stored value reads back.
			req, _ := http.NewRequest(http.MethodGet, client.RegistrationURI, nil)
			req.Header.Set("Authorization", "Bearer "+client.RegistrationToken)
			if status, read, err := testclient.Do(req); err != nil || status != http.StatusOK || read["id_token_signed_response_alg"] != tc.want {
				t.Fatalf("read registration: %d %v %v", status, read["id_token_signed_response_alg"], err)
			}
			conf := oauth2.Config{ClientID: client.ID, ClientSecret: client.Secret, RedirectURL: redirectURI,
				Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess}}
			verifier := oauth2.GenerateVerifier()
			redirect := s.approve(t, conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
			tok, err := conf.Exchange(ctx, redirect.Query().Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			refreshed, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			if err != nil {
				t.Fatal(err)
			}
			only := provider.Verifier(&oidc.Config{ClientID: client.ID, SupportedSigningAlgs: []string{tc.want}})
			for name, tk := range map[string]*oauth2.Token{"code": tok, "refresh": refreshed} {
				raw, _ := tk.Extra("id_token").(string)
				idt, err := only.Verify(ctx, raw)
				if err != nil {
					t.Fatalf("%s ID token with only %s accepted: %v", name, tc.want, err)
				}
				if err := idt.VerifyAccessToken(tk.AccessToken); err != nil {
					t.Errorf("%s at_hash: %v", name, err)
				}
			}
		})
	}
}

// TestCodeReplayRevokesTokens: a second redemption of a code fails and
// revokes what the first one issued (RFC 6749 §4.1.2).
func TestCodeReplayRevokesTokens(t *testing.T) {
	for _, backend := range []string{"badger", "postgres"} {
		t.Run(backend, func(t *testing.T) { testCodeReplayRevokesTokens(t, backend) })
	}
}

func testCodeReplayRevokesTokens(t *testing.T, backend string) {
	s := startServerOn(t, "", backend)
	ctx := context.Background()
	const redirectURI = "http://127.0.0.1:9/cb"
	client := s.register(t, map[string]any{
		"redirect_uris": []string{redirectURI}, "grant_types": []string{"authorization_code", "refresh_token"},
	})
	conf := oauth2.Config{ClientID: client.ID, ClientSecret: client.Secret, RedirectURL: redirectURI,
		Endpoint: oauth2.Endpoint{AuthURL: s.issuer + "/v1/authorize", TokenURL: s.issuer + "/v1/token"},
		Scopes:   []string{"openid"}}
	verifier := oauth2.GenerateVerifier()
	redirect := s.approve(t, conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
	code := redirect.Query().Get("code")
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if !introspect(t, s, client, tok.AccessToken) {
		t.Fatal("access token inactive right after issue")
	}
	_, err = conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	assertOAuthError(t, err, "invalid_grant")
	if introspect(t, s, client, tok.AccessToken) {
		t.Error("access token from the first redemption still active after the replay")
	}
	_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	assertOAuthError(t, err, "invalid_grant")
}

func TestClientCredentialsWithRealClient(t *testing.T) {
	s := startServer(t, "/api/auth")
	client := s.register(t, map[string]any{
		"grant_types": []string{"client_credentials"}, "scope": "catalog.read catalog.write",
	})
	conf := clientcredentials.Config{ClientID: client.ID, ClientSecret: client.Secret,
		TokenURL: s.issuer + "/v1/token", Scopes: []string{"catalog.read"}}
	tok, err := conf.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || tok.AccessToken == "" || tok.Expiry.IsZero() {
		t.Fatalf("token %+v", tok)
	}
	if !introspect(t, s, client, tok.AccessToken) {
		t.Error("client credentials token inactive")
	}
	conf.ClientSecret = "wrong"
	_, err = conf.Token(context.Background())
	assertOAuthError(t, err, "invalid_client")
	conf.ClientSecret, conf.Scopes = client.Secret, []string{"admin"}
	_, err = conf.Token(context.Background())
	assertOAuthError(t, err, "invalid_scope")
}

// TestClientCredentialsWithoutScope: a client that registered no scope and
// asks for none is granted none, and the response leaves scope out rather
// than answering "scope": "" (RFC 6749 §5.1).
func TestClientCredentialsWithoutScope(t *testing.T) {
	s := startServer(t, "")
	client := s.register(t, map[string]any{"grant_types": []string{"client_credentials"}})
	status, body, err := testclient.PostForm(s.issuer+"/v1/token", client.ID, client.Secret, url.Values{"grant_type": {"client_credentials"}})
	if err != nil || status != http.StatusOK || body["access_token"] == nil {
		t.Fatalf("token: %d %v %v", status, body, err)
	}
	if scope, ok := body["scope"]; ok {
		t.Errorf("scope %q in the response, want it left out", scope)
	}
}

// audienceOf reads the aud claim of a JWT access token (a string or a list).
func audienceOf(t *testing.T, jwt string) []string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Aud any `json:"aud"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	switch aud := c.Aud.(type) {
	case string:
		return []string{aud}
	case []any:
		var out []string
		for _, a := range aud {
			out = append(out, fmt.Sprint(a))
		}
		return out
	}
	t.Fatalf("aud %v", c.Aud)
	return nil
}

// TestResourceIndicatorsAtTokenEndpoint: RFC 8707 at the token endpoint.
// client_credentials mints its token for the resources named (one or
// several: the parameter repeats, §2); a code redemption and a refresh
// narrow the resources authorized, and naming any other is invalid_target.
func TestResourceIndicatorsAtTokenEndpoint(t *testing.T) {
	s := startServer(t, "")
	const mcp, api, other = "https://mcp.example.test/mcp", "https://api.example.test/", "https://other.example.test/"

	machine := s.register(t, map[string]any{"grant_types": []string{"client_credentials"}})
	for name, resources := range map[string][]string{"one": {mcp}, "two": {mcp, api}} {
		t.Run("client_credentials/"+name, func(t *testing.T) {
			status, body, err := testclient.PostForm(s.issuer+"/v1/token", machine.ID, machine.Secret,
				url.Values{"grant_type": {"client_credentials"}, "resource": resources})
			if err != nil || status != http.StatusOK {
				t.Fatalf("token: %d %v %v", status, body, err)
			}
			if aud := audienceOf(t, body["access_token"].(string)); !slices.Equal(aud, resources) {
				t.Errorf("aud %v, want %v", aud, resources)
			}
		})
	}
	t.Run("client_credentials/relative resource", func(t *testing.T) {
		status, body, _ := testclient.PostForm(s.issuer+"/v1/token", machine.ID, machine.Secret,
			url.Values{"grant_type": {"client_credentials"}, "resource": {"/mcp"}})
		if status != http.StatusBadRequest || body["error"] != "invalid_target" {
			t.Errorf("got %d %v, want invalid_target", status, body)
		}
	})

	const redirectURI = "http://127.0.0.1:9/cb"
	web := s.register(t, map[string]any{"redirect_uris": []string{redirectURI}, "grant_types": []string{"authorization_code", "refresh_token"}})
	verifier := oauth2.GenerateVerifier()
	authURL := s.issuer + "/v1/authorize?" + url.Values{
		"response_type": {"code"}, "client_id": {web.ID}, "redirect_uri": {redirectURI}, "scope": {"openid offline_access"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
		"resource": {mcp, api},
	}.Encode()
	code := s.approve(t, authURL).Query().Get("code")
	token := func(form url.Values) (int, map[string]any) {
		t.Helper()
		status, body, err := testclient.PostForm(s.issuer+"/v1/token", web.ID, web.Secret, form)
		if err != nil {
			t.Fatal(err)
		}
		return status, body
	}
	status, body := token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
		"code_verifier": {verifier}, "resource": {mcp}})
	if status != http.StatusOK {
		t.Fatalf("redeem: %d %v", status, body)
	}
	if aud := audienceOf(t, body["access_token"].(string)); !slices.Equal(aud, []string{mcp}) {
		t.Errorf("code redeemed for %s: aud %v", mcp, aud)
	}
	rt := body["refresh_token"].(string)
	status, body = token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "resource": {other}})
	if status != http.StatusBadRequest || body["error"] != "invalid_target" {
		t.Fatalf("refresh for a resource outside the grant: %d %v, want invalid_target", status, body)
	}
	// The refused refresh changed nothing: the token still works, for
	// another of the granted resources or for all of them.
	status, body = token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "resource": {api}})
	if status != http.StatusOK {
		t.Fatalf("refresh for %s: %d %v", api, status, body)
	}
	if aud := audienceOf(t, body["access_token"].(string)); !slices.Equal(aud, []string{api}) {
		t.Errorf("refreshed for %s: aud %v", api, aud)
	}
	status, body = token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}})
	if status != http.StatusOK {
		t.Fatalf("refresh: %d %v", status, body)
	}
	if aud := audienceOf(t, body["access_token"].(string)); !slices.Equal(aud, []string{mcp, api}) {
		t.Errorf("refreshed without resource: aud %v, want the grant's %v", aud, []string{mcp, api})
	}
}

// TestApprovalEnforcesReauthentication: prompt=login and max_age hold for
// an approval through the session API (OIDC Core §3.1.2.1): an identity
// token from a sign-in older than the request is refused with
// login_required and the session stays pending; a fresh one approves, and
// the ID token's auth_time is that sign-in's, not the approval's.
func TestApprovalEnforcesReauthentication(t *testing.T) {
	s := startServer(t, "")
	ctx := context.Background()
	const redirectURI = "http://127.0.0.1:9/cb"
	client := s.register(t, map[string]any{"redirect_uris": []string{redirectURI}})
	signedIn := func(at time.Time) string {
		t.Helper()
		tok, _, err := s.srv.Issuer().IdentityToken(ctx, token.Identity{Subject: s.cfg.Guest.UserEntityRef, AuthTime: at})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, tc := range []struct{ name, params string }{
		{"prompt=login", "prompt=login"},
		{"max_age=60", "max_age=60"},
		{"max_age=1&prompt=login", "max_age=1&prompt=login"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			verifier := oauth2.GenerateVerifier()
			authURL := s.issuer + "/v1/authorize?" + url.Values{
				"response_type": {"code"}, "client_id": {client.ID}, "redirect_uri": {redirectURI}, "scope": {"openid"},
				"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
			}.Encode() + "&" + tc.params
			resp, err := testclient.NoRedirect.Get(authURL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			session := resp.Header.Get("Location")
			session = session[strings.LastIndex(session, "/")+1:]
			approve := s.issuer + "/v1/sessions/" + session + "/approve"

			stale := signedIn(time.Now().Add(-2 * time.Hour))
			status, body, err := testclient.PostJSON(approve, stale, nil)
			if err != nil || status != http.StatusUnauthorized || body["error"] != "login_required" {
				t.Fatalf("approve with a sign-in two hours old: %d %v %v, want 401 login_required", status, body, err)
			}
			authTime := time.Now().Truncate(time.Second)
			status, body, err = testclient.PostJSON(approve, signedIn(authTime), nil)
			if err != nil || status != http.StatusOK {
				t.Fatalf("approve with a fresh sign-in: %d %v %v", status, body, err)
			}
			redirect, _ := url.Parse(body["redirectUrl"].(string))
			status, tokens, err := testclient.PostForm(s.issuer+"/v1/token", client.ID, client.Secret, url.Values{
				"grant_type": {"authorization_code"}, "code": {redirect.Query().Get("code")},
				"redirect_uri": {redirectURI}, "code_verifier": {verifier}})
			if err != nil || status != http.StatusOK {
				t.Fatalf("redeem: %d %v %v", status, tokens, err)
			}
			parts := strings.Split(tokens["id_token"].(string), ".")
			raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
			var claims struct {
				AuthTime int64 `json:"auth_time"`
			}
			if err := json.Unmarshal(raw, &claims); err != nil || claims.AuthTime != authTime.Unix() {
				t.Errorf("auth_time %d (%v), want the sign-in's %d", claims.AuthTime, err, authTime.Unix())
			}
		})
	}
}

// TestBackstageFlow follows Backstage's auth backend flow under /api/auth
// with JSON bodies: discovery → register → authorize → approve by API with
// a guest token → token exchange → refresh → revoke.
func TestBackstageFlow(t *testing.T) {
	s := startServer(t, "/api/auth")
	status, disco := getJSON(t, s.issuer+"/.well-known/openid-configuration")
	if status != http.StatusOK || disco["registration_endpoint"] != s.issuer+"/v1/register" {
		t.Fatalf("discovery: %d %v", status, disco)
	}
	const redirectURI = "http://127.0.0.1:8976/callback"
	client := s.register(t, map[string]any{
		"client_name": "backstage-cli", "redirect_uris": []string{redirectURI},
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"},
		"response_types": []string{"code"}, "scope": "openid offline_access",
	})
	if client.Secret != "" {
		t.Fatalf("public client got a secret")
	}
	verifier := oauth2.GenerateVerifier()
	authURL := fmt.Sprintf("%s?%s", disco["authorization_endpoint"], url.Values{
		"response_type": {"code"}, "client_id": {client.ID}, "redirect_uri": {redirectURI},
		"scope": {"openid offline_access"}, "state": {"bs-state"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}.Encode())
	redirect := s.approve(t, authURL)
	status, tokens := postJSON(t, disco["token_endpoint"].(string), map[string]any{
		"grant_type": "authorization_code", "code": redirect.Query().Get("code"),
		"redirect_uri": redirectURI, "client_id": client.ID, "code_verifier": verifier,
	})
	if status != http.StatusOK || tokens["access_token"] == nil || tokens["refresh_token"] == nil {
		t.Fatalf("token exchange: %d %v", status, tokens)
	}
	status, refreshed := postJSON(t, disco["token_endpoint"].(string), map[string]any{
		"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": client.ID,
	})
	if status != http.StatusOK || refreshed["refresh_token"] == tokens["refresh_token"] {
		t.Fatalf("refresh: %d %v", status, refreshed)
	}
	form := url.Values{"token": {refreshed["refresh_token"].(string)}, "client_id": {client.ID}}
	if status, body, err := testclient.PostForm(s.issuer+"/v1/revoke", "", "", form); err != nil || status != http.StatusOK {
		t.Fatalf("revoke: %d %v %v", status, body, err)
	}
	status, body := postJSON(t, disco["token_endpoint"].(string), map[string]any{
		"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"], "client_id": client.ID,
	})
	if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("refresh after revoke: %d %v", status, body)
	}
}

// flowAdminToken is the admin.token of startServer's servers, with which
// the tests register resource servers.
const flowAdminToken = "flow-test-admin-token"

// introspect asks the server whether token is active, authenticating as a
// resource server (RFC 7662 §2.1), which the operator registered with the
// admin token.
func introspect(t *testing.T, s *liveServer, _ testclient.Client, token string) bool {
	t.Helper()
	rs := testclient.Must(testclient.RegisterWith(s.issuer, flowAdminToken, map[string]any{
		"client_name": "resource server", "grant_types": []string{"client_credentials"}, "resource_server": true}))(t)
	status, body, err := testclient.PostForm(s.issuer+"/v1/introspect", rs.ID, rs.Secret, url.Values{"token": {token}})
	if err != nil || status != http.StatusOK {
		t.Fatalf("introspect: %d %v %v", status, body, err)
	}
	active, _ := body["active"].(bool)
	return active
}

func assertOAuthError(t *testing.T, err error, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want OAuth error %s", err, code)
	}
	if re.ErrorCode != code {
		t.Fatalf("got error %q (%s), want %q", re.ErrorCode, re.ErrorDescription, code)
	}
	if cc := re.Response.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("error response Cache-Control %q, want no-store", cc)
	}
}
