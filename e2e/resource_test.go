package e2e_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// TestResourceAllowList: a client gets access tokens only for the RFC 8707
// resources on tokens.resources (plus the issuer): any other resource,
// which used to become the token's aud, is invalid_target at the
// authorization endpoint and at the token endpoint for client_credentials,
// a code and a refresh; a grant made for a resource the list no longer
// has mints nothing more for it.
func TestResourceAllowList(t *testing.T) {
	t.Parallel()
	const api = "https://api.example.com"
	l := startLive(t, func(c *config.Config) { c.Tokens.Resources = []string{api, "https://*.example.com/mcp"} })
	ctx := context.Background()
	l.client(t, "machine", store.ClientMetadata{GrantTypes: []string{"client_credentials"}})
	l.client(t, "web", store.ClientMetadata{Scope: "openid offline_access", ResponseTypes: []string{"code"}})
	cc := func(resources ...string) answer {
		return l.do(t, form("/v1/token", url.Values{"grant_type": {"client_credentials"}, "resource": resources}, "machine", liveSecret))
	}
	aud := func(a answer) []string {
		t.Helper()
		claims, err := l.srv.Issuer().VerifyAccessToken(ctx, a.str("access_token"))
		if err != nil {
			t.Fatalf("access token: %v", err)
		}
		return claims.Audience
	}

	for _, r := range []string{"https://payments.example.net", "https://api.example.com/other", "https://a.b.example.com/mcp"} {
		if a := cc(r); a.status != http.StatusBadRequest || a.str("error") != "invalid_target" {
			t.Errorf("client_credentials for %s: %d %s, want 400 invalid_target", r, a.status, a.raw)
		}
	}
	if a := cc(api, "https://tools.example.com/mcp"); a.status != http.StatusOK || !slices.Equal(aud(a), []string{api, "https://tools.example.com/mcp"}) {
		t.Errorf("client_credentials for listed resources: %d %s", a.status, a.raw)
	}
	if a := cc(l.cfg.Issuer()); a.status != http.StatusOK {
		t.Errorf("client_credentials for the issuer: %d %s", a.status, a.raw)
	}

	// Authorization endpoint: refused before any consent session exists.
	q := url.Values{"client_id": {"web"}, "response_type": {"code"}, "redirect_uri": {liveRedirect}, "scope": {"openid"},
		"code_challenge": {strings.Repeat("A", 43)}, "code_challenge_method": {"S256"}, "resource": {"https://payments.example.net"}}
	before := l.snapshot(t)
	if a := l.do(t, request{method: http.MethodGet, path: "/v1/authorize?" + q.Encode()}); a.status != http.StatusBadRequest || !strings.Contains(string(a.raw), ">invalid_target<") {
		t.Errorf("authorize for an unlisted resource: %d %.300s, want the invalid_target error page", a.status, a.raw)
	}
	unchanged(t, before, l.snapshot(t))

	// A code and a refresh token for a resource since dropped from the
	// list (or stored before the list existed).
	verifier := oauth2.GenerateVerifier()
	redeem := func(code string) answer {
		return l.do(t, form("/v1/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {liveRedirect}, "code_verifier": {verifier}}, "web", liveSecret))
	}
	stale := l.code(t, "web", "openid", verifier, func(c *store.AuthCode) { c.Resource = []string{"https://payments.example.net"} })
	if a := redeem(stale); a.status != http.StatusBadRequest || a.str("error") != "invalid_target" {
		t.Errorf("code for an unlisted resource: %d %s, want 400 invalid_target", a.status, a.raw)
	}
	good := redeem(l.code(t, "web", "openid offline_access", verifier, func(c *store.AuthCode) { c.Resource = []string{api} }))
	if good.status != http.StatusOK || !slices.Equal(aud(good), []string{api}) {
		t.Fatalf("code for a listed resource: %d %s", good.status, good.raw)
	}
	grantID := mustGrantOf(t, l, good.str("access_token"))
	if _, err := l.st.Grants.Update(ctx, grantID, func(g store.Grant) (store.Grant, error) {
		g.Resource = []string{"https://payments.example.net"}
		return g, nil
	}); err != nil {
		t.Fatal(err)
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {good.str("refresh_token")}}
	if a := l.do(t, form("/v1/token", refresh, "web", liveSecret)); a.status != http.StatusBadRequest || a.str("error") != "invalid_target" {
		t.Errorf("refresh of a grant for an unlisted resource: %d %s, want 400 invalid_target", a.status, a.raw)
	}
}

func mustGrantOf(t *testing.T, l *live, access string) string {
	t.Helper()
	claims, err := l.srv.Issuer().VerifyAccessToken(context.Background(), access)
	if err != nil {
		t.Fatal(err)
	}
	return claims.GrantID
}
