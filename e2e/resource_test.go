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

// TestResourcePerClient: beyond tokens.resources, what a client may name
// depends on the client. tokens.registered_resources are offered only to
// clients registered with an operator's token, never to a self-registered
// one (at registration, at the token endpoint, at the authorization
// endpoint); and a client that registered its own `resources` may name
// only those, so a token it obtains can never be aimed elsewhere.
func TestResourcePerClient(t *testing.T) {
	t.Parallel()
	const (
		mcp      = "https://tools.example.com/mcp"
		api      = "https://api.example.com"
		payments = "https://payments.example.com"
		admin    = "operator-token"
	)
	l := startLive(t, func(c *config.Config) {
		c.Registration.Open = true
		c.Admin.Token = admin
		c.Tokens.Resources = []string{api, "https://*.example.com/mcp"}
		c.Tokens.RegisteredResources = []string{payments}
	})
	ctx := context.Background()
	register := func(bearer string, resources ...string) answer {
		t.Helper()
		body := `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic"`
		if resources != nil {
			body += `,"resources":["` + strings.Join(resources, `","`) + `"]`
		}
		h := http.Header{"Content-Type": {"application/json"}}
		if bearer != "" {
			h.Set("Authorization", "Bearer "+bearer)
		}
		return l.do(t, request{method: http.MethodPost, path: "/v1/register", header: h, body: body + "}"})
	}
	token := func(reg answer, resources ...string) answer {
		t.Helper()
		return l.do(t, form("/v1/token", url.Values{"grant_type": {"client_credentials"}, "resource": resources},
			reg.str("client_id"), reg.str("client_secret")))
	}
	aud := func(a answer) []string {
		t.Helper()
		claims, err := l.srv.Issuer().VerifyAccessToken(ctx, a.str("access_token"))
		if err != nil {
			t.Fatalf("access token: %v", err)
		}
		return claims.Audience
	}
	refused := func(what string, a answer, status int, code, says string) {
		t.Helper()
		if a.status != status || a.str("error") != code || !strings.Contains(a.str("error_description"), says) {
			t.Errorf("%s: %d %s, want %d %s saying %q", what, a.status, a.raw, status, code, says)
		}
	}

	// Registered-only resources: not for a self-registered client.
	before := l.snapshot(t)
	refused("self-registration naming a registered-only resource", register("", payments), 400, "invalid_client_metadata", "payments.example.com")
	refused("registration naming an unlisted resource", register(admin, "https://evil.example.net"), 400, "invalid_client_metadata", "evil.example.net")
	refused("registration naming a malformed resource", register(admin, "/relative"), 400, "invalid_client_metadata", "absolute URI")
	unchanged(t, before, l.snapshot(t))

	open := register("")
	if open.status != http.StatusCreated {
		t.Fatalf("open registration: %d %s", open.status, open.raw)
	}
	refused("self-registered client asking for a registered-only resource", token(open, payments), 400, "invalid_target", "initial access token")
	if a := token(open, mcp); a.status != http.StatusOK || !slices.Equal(aud(a), []string{mcp}) {
		t.Errorf("self-registered client asking for a listed resource: %d %s", a.status, a.raw)
	}
	vetted := register(admin)
	if a := token(vetted, payments); a.status != http.StatusOK || !slices.Equal(aud(a), []string{payments}) {
		t.Errorf("registered client asking for a registered-only resource: %d %s", a.status, a.raw)
	}

	// A client's own list narrows what it may name; the issuer stays.
	narrow := register("", mcp)
	if narrow.status != http.StatusCreated || !strings.Contains(string(narrow.raw), `"resources":["`+mcp+`"]`) {
		t.Fatalf("registration with resources: %d %s", narrow.status, narrow.raw)
	}
	refused("client asking for a resource outside its own list", token(narrow, api), 400, "invalid_target", "the client registered")
	for _, r := range [][]string{{mcp}, {l.cfg.Issuer()}} {
		if a := token(narrow, r...); a.status != http.StatusOK || !slices.Equal(aud(a), r) {
			t.Errorf("client asking for %v within its list: %d %s", r, a.status, a.raw)
		}
	}

	// The authorization endpoint applies the same list before any consent
	// session exists.
	web := l.do(t, request{method: http.MethodPost, path: "/v1/register", header: http.Header{"Content-Type": {"application/json"}},
		body: `{"redirect_uris":["` + liveRedirect + `"],"token_endpoint_auth_method":"none","scope":"openid","resources":["` + mcp + `"]}`})
	if web.status != http.StatusCreated {
		t.Fatalf("registering a web client: %d %s", web.status, web.raw)
	}
	authorize := func(resource string) answer {
		q := url.Values{"client_id": {web.str("client_id")}, "response_type": {"code"}, "redirect_uri": {liveRedirect}, "scope": {"openid"},
			"code_challenge": {strings.Repeat("A", 43)}, "code_challenge_method": {"S256"}, "resource": {resource}}
		return l.do(t, request{method: http.MethodGet, path: "/v1/authorize?" + q.Encode()})
	}
	before = l.snapshot(t)
	if a := authorize(api); a.status != http.StatusBadRequest || !strings.Contains(string(a.raw), ">invalid_target<") {
		t.Errorf("authorize for a resource outside the client's list: %d %.300s, want the invalid_target error page", a.status, a.raw)
	}
	unchanged(t, before, l.snapshot(t))
	if a := authorize(mcp); a.status >= 400 {
		t.Errorf("authorize for the client's own resource: %d %.300s", a.status, a.raw)
	}
	// RFC 7592 update cannot widen a self-registered client to a
	// registered-only resource either.
	h := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + narrow.str("registration_access_token")}}
	body := `{"client_id":"` + narrow.str("client_id") + `","grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic","resources":["` + payments + `"]}`
	refused("update to a registered-only resource", l.do(t, request{method: http.MethodPut, path: "/v1/register/" + narrow.str("client_id"), header: h, body: body}),
		400, "invalid_client_metadata", "payments.example.com")
}
