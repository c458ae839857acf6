package e2e_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/config"
)

// TestScopePolicy: a client registers only scope values the server offers
// (discovery's scopes_supported and registration.custom_scopes), so a
// self-registered client can no longer grant itself "admin payments:write"
// and get a client_credentials token for it; an offered custom scope still
// registers and is granted. client_credentials never grants openid or
// offline_access.
func TestScopePolicy(t *testing.T) {
	t.Parallel()
	l := startLive(t, func(c *config.Config) { c.Registration.CustomScopes = []string{"catalog.read"} })
	register := func(body string) answer {
		t.Helper()
		return l.do(t, request{method: http.MethodPost, path: "/v1/register",
			header: http.Header{"Content-Type": {"application/json"}}, body: body})
	}

	a := register(`{"client_name":"grabber","grant_types":["client_credentials"],"scope":"admin payments:write"}`)
	if a.status != http.StatusBadRequest || a.str("error") != "invalid_client_metadata" || !strings.Contains(a.str("error_description"), `"admin"`) {
		t.Fatalf("registration with scope admin: %d %s, want 400 invalid_client_metadata naming admin", a.status, a.raw)
	}

	a = register(`{"client_name":"machine","grant_types":["client_credentials"],"scope":"catalog.read openid offline_access"}`)
	if a.status != http.StatusCreated {
		t.Fatalf("registration with offered scopes: %d %s", a.status, a.raw)
	}
	id, secret := a.str("client_id"), a.str("client_secret")
	cc := url.Values{"grant_type": {"client_credentials"}}
	if tok := l.do(t, form("/v1/token", cc, id, secret)); tok.status != http.StatusOK || tok.str("scope") != "catalog.read" {
		t.Errorf("client_credentials: %d %s, want the registered scope but openid and offline_access", tok.status, tok.raw)
	}
	// openid and offline_access are for a user (RFC 6749 §4.4.3): named
	// explicitly, they are an invalid scope for client_credentials.
	for _, v := range []string{"openid", "offline_access", "catalog.read openid"} {
		cc.Set("scope", v)
		if tok := l.do(t, form("/v1/token", cc, id, secret)); tok.status != http.StatusBadRequest || tok.str("error") != "invalid_scope" || tok.str("refresh_token") != "" {
			t.Errorf("client_credentials for %q: %d %s, want 400 invalid_scope", v, tok.status, tok.raw)
		}
	}
	cc.Set("scope", "catalog.read admin")
	if tok := l.do(t, form("/v1/token", cc, id, secret)); tok.status != http.StatusBadRequest || tok.str("error") != "invalid_scope" {
		t.Errorf("client_credentials for admin: %d %s, want 400 invalid_scope", tok.status, tok.raw)
	}

	// A code-flow client that registered no scope may ask for what the
	// server offers, and nothing else.
	a = register(`{"client_name":"app","redirect_uris":["` + liveRedirect + `"]}`)
	if a.status != http.StatusCreated {
		t.Fatalf("registration: %d %s", a.status, a.raw)
	}
	authorize := func(scope string) answer {
		return l.do(t, request{method: http.MethodGet, path: "/v1/authorize?" + url.Values{
			"client_id": {a.str("client_id")}, "response_type": {"code"}, "redirect_uri": {liveRedirect}, "scope": {scope},
			"code_challenge": {strings.Repeat("A", 43)}, "code_challenge_method": {"S256"}}.Encode()})
	}
	// (The client follows the redirect to the consent page.)
	if got := authorize("openid catalog.read"); got.status != http.StatusOK || strings.Contains(string(got.raw), "invalid_scope") {
		t.Errorf("authorize with offered scopes: %d %s, want the consent page", got.status, got.raw)
	}
	if got := authorize("openid admin"); got.status != http.StatusBadRequest || !strings.Contains(string(got.raw), ">invalid_scope<") {
		t.Errorf("authorize for admin: %d %s, want the invalid_scope error page", got.status, got.raw)
	}
}
