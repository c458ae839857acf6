package grant_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/grant"
	"github.com/gatehouse-auth/gatehouse/core/keyset"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/plugin"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
	"github.com/gatehouse-auth/gatehouse/core/token"
	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// claimsFunc is the token_claims hook for tests.
type claimsFunc func(clientID, subject, scope, grantType string) (map[string]any, error)

// claimsHooks serves claimsFunc as the only hook the grant package asks.
type claimsHooks struct {
	plugin.Hooks
	f claimsFunc
}

func (h claimsHooks) TokenClaims(_ context.Context, in hook.TokenClaimsInput) (hook.TokenClaimsResult, error) {
	claims, err := h.f(in.ClientID, in.Sub, in.Scope, in.GrantType)
	return hook.TokenClaimsResult{Claims: claims}, err
}

// claimsApp is the token endpoint alone, on the memory store, with src as
// its token_claims hook.
func claimsApp(t *testing.T, src claimsFunc) (*fiber.App, *config.Config, *store.Store) {
	t.Helper()
	cfg := servertest.Config(t, "127.0.0.1:9")
	cfg.Registration.CustomScopes = []string{"read", "write"}
	st := store.New(memory.New())
	keys, err := keyset.Open(context.Background(), cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New(fiber.Config{ErrorHandler: func(c *fiber.Ctx, err error) error { return oauth.WriteError(c, err) }})
	grant.New(cfg, st, token.NewIssuer(cfg, keys, st)).WithClaims(claimsHooks{f: src}).Register(app)
	return app, cfg, st
}

// postToken posts form to app's token endpoint: the status, the body and
// the JSON object it must be.
func postToken(t *testing.T, app *fiber.App, form url.Values) (int, []byte, map[string]any) {
	t.Helper()
	req := httptest.NewRequest("POST", "/v1/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("body is not JSON: %s", raw)
	}
	return resp.StatusCode, raw, body
}

// TestTokenClaimsHook mints client_credentials tokens through a handler
// whose claims source adds claims, tries to override registered ones, or
// fails.
func TestTokenClaimsHook(t *testing.T) {
	type call struct{ clientID, subject, scope, grantType string }
	tests := []struct {
		name       string
		claims     map[string]any
		err        error
		wantStatus int
		wantClaims map[string]any
	}{
		{
			name:       "extra claims merged",
			claims:     map[string]any{"tenant": "acme", "roles": []any{"reader"}},
			wantStatus: 200,
			wantClaims: map[string]any{"tenant": "acme", "roles": []any{"reader"}, "client_id": "svc", "sub": "svc"},
		},
		{
			name: "registered claims are not overridden",
			claims: map[string]any{"iss": "https://evil.example", "sub": "root", "aud": "everyone", "exp": 1e12,
				"scope": "admin", "client_id": "other", "tenant": "acme"},
			wantStatus: 200,
			wantClaims: map[string]any{"sub": "svc", "client_id": "svc", "scope": "read", "tenant": "acme"},
		},
		{
			name:       "no claims",
			wantStatus: 200,
			wantClaims: map[string]any{"sub": "svc"},
		},
		{
			name:       "failing plugin fails the request closed",
			err:        errors.New("plugin claims failed token_claims: trap"),
			wantStatus: 500,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			var got []call
			app, cfg, st := claimsApp(t, claimsFunc(func(clientID, subject, scope, grantType string) (map[string]any, error) {
				got = append(got, call{clientID, subject, scope, grantType})
				return tt.claims, tt.err
			}))
			c := store.Client{ID: "svc", SecretHash: oauth.HashSecret(testSecret), IssuedAt: time.Now(),
				ClientMetadata: store.ClientMetadata{
					TokenEndpointAuthMethod: oauth.AuthPost, GrantTypes: []string{grant.TypeClientCredentials}, Scope: "read write",
				}}
			if err := st.Clients.Create(ctx, c.ID, c); err != nil {
				t.Fatal(err)
			}
			form := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}, "client_id": {"svc"}, "client_secret": {testSecret}}
			status, raw, body := postToken(t, app, form)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", status, tt.wantStatus, raw)
			}
			if len(got) != 1 || got[0] != (call{"svc", "svc", "read", grant.TypeClientCredentials}) {
				t.Errorf("claims source called with %+v", got)
			}
			if tt.err != nil {
				if body["error"] != "server_error" || body["error_description"] != "plugin failed" {
					t.Errorf("body %s, want server_error / plugin failed", raw)
				}
				if strings.Contains(string(raw), "trap") {
					t.Errorf("the plugin's error reached the client: %s", raw)
				}
				return
			}
			claims := jwtClaims(t, body["access_token"].(string))
			if claims["iss"] != cfg.Issuer() {
				t.Errorf("iss %v, want %s", claims["iss"], cfg.Issuer())
			}
			if exp, _ := claims["exp"].(float64); exp > float64(time.Now().Add(time.Hour).Unix()) {
				t.Errorf("exp %v was overridden", claims["exp"])
			}
			for k, want := range tt.wantClaims {
				if g, _ := json.Marshal(claims[k]); string(g) != string(mustMarshal(want)) {
					t.Errorf("claim %s = %s, want %s", k, g, mustMarshal(want))
				}
			}
		})
	}
}

// jwtClaims decodes a JWT's claims without verifying it (the issuer's tests
// verify signatures).
func jwtClaims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestFailedMintChangesNothing: when minting fails (here the token_claims
// hook), the code is not spent, no grant or refresh token is recorded,
// and a refresh token is not rotated: everything a response stands for
// commits in one write with it, so a retry succeeds as if the failure had
// not happened.
func TestFailedMintChangesNothing(t *testing.T) {
	ctx := context.Background()
	failing := true
	app, _, st := claimsApp(t, claimsFunc(func(string, string, string, string) (map[string]any, error) {
		if failing {
			return nil, errors.New("plugin claims failed token_claims: trap")
		}
		return nil, nil
	}))
	servertest.StoreClient(t, st, "web", store.ClientMetadata{
		TokenEndpointAuthMethod: oauth.AuthPost,
		GrantTypes:              []string{grant.TypeAuthorizationCode, grant.TypeRefreshToken},
		Scope:                   "openid offline_access",
	}, testSecret, testRedirect)
	grantID := oauth.RandomToken(16)
	code := servertest.StoreCode(t, st, store.AuthCode{
		ClientID: "web", RedirectURI: testRedirect, Subject: testSubject, Scope: "openid offline_access",
		AuthTime: time.Now().Truncate(time.Second), GrantID: grantID, ExpiresAt: time.Now().Add(time.Minute),
	})
	send := func(form url.Values) (int, map[string]any) {
		t.Helper()
		form.Set("client_id", "web")
		form.Set("client_secret", testSecret)
		status, _, body := postToken(t, app, form)
		return status, body
	}
	refreshTokens := func() (n int) {
		t.Helper()
		if err := st.RefreshTokens.List(ctx, func(string, store.RefreshToken) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}}

	if status, body := send(exchange); status != 500 || body["error"] != "server_error" {
		t.Fatalf("exchange with a failing hook: %d %v, want 500 server_error", status, body)
	}
	if c, err := st.Codes.Get(ctx, store.HashID(code)); err != nil || c.Used {
		t.Fatalf("code after a failed exchange: %+v, %v; want it unspent", c, err)
	}
	if _, err := st.Grants.Get(ctx, grantID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("grant after a failed exchange: %v, want none", err)
	}
	if n := refreshTokens(); n != 0 {
		t.Fatalf("%d refresh tokens recorded by a failed exchange", n)
	}

	failing = false
	status, body := send(exchange)
	rt, _ := body["refresh_token"].(string)
	if status != 200 || rt == "" {
		t.Fatalf("retried exchange: %d %v", status, body)
	}

	failing = true
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	if status, body := send(refresh); status != 500 || body["error"] != "server_error" {
		t.Fatalf("refresh with a failing hook: %d %v, want 500 server_error", status, body)
	}
	if r, err := st.RefreshTokens.Get(ctx, store.HashID(rt)); err != nil || r.Used {
		t.Fatalf("refresh token after a failed refresh: %+v, %v; want it unused", r, err)
	}
	if n := refreshTokens(); n != 1 {
		t.Fatalf("%d refresh tokens after a failed refresh, want 1", n)
	}
	failing = false
	if status, body := send(refresh); status != 200 || body["refresh_token"] == nil {
		t.Fatalf("retried refresh: %d %v", status, body)
	}
	if g, err := st.Grants.Get(ctx, grantID); err != nil || g.Revoked {
		t.Fatalf("grant after the retries: %+v, %v; want it live (no reuse was seen)", g, err)
	}
}

// TestRefreshDropsScopeNoLongerOffered: a scope value the operator removes
// from registration.custom_scopes is not granted again by a refresh, as it
// is not by any other grant (config.yaml says so); the rest of the scope
// is.
func TestRefreshDropsScopeNoLongerOffered(t *testing.T) {
	app, cfg, st := claimsApp(t, claimsFunc(func(string, string, string, string) (map[string]any, error) { return nil, nil }))
	servertest.StoreClient(t, st, "web", store.ClientMetadata{
		TokenEndpointAuthMethod: oauth.AuthPost,
		GrantTypes:              []string{grant.TypeAuthorizationCode, grant.TypeRefreshToken},
		Scope:                   "openid write offline_access",
	}, testSecret, testRedirect)
	code := servertest.StoreCode(t, st, store.AuthCode{
		ClientID: "web", RedirectURI: testRedirect, Subject: testSubject, Scope: "openid write offline_access",
		AuthTime: time.Now().Truncate(time.Second), GrantID: oauth.RandomToken(16), ExpiresAt: time.Now().Add(time.Minute),
	})
	send := func(form url.Values) map[string]any {
		t.Helper()
		form.Set("client_id", "web")
		form.Set("client_secret", testSecret)
		status, raw, body := postToken(t, app, form)
		if status != 200 {
			t.Fatalf("token: %d %s", status, raw)
		}
		return body
	}
	body := send(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}})
	if body["scope"] != "openid write offline_access" {
		t.Fatalf("exchange scope %v", body["scope"])
	}
	// The operator stops offering write (a restart with it removed).
	cfg.Registration.CustomScopes = []string{"read"}
	body = send(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}})
	if body["scope"] != "openid offline_access" {
		t.Errorf("refresh scope %v, want write dropped", body["scope"])
	}
}
