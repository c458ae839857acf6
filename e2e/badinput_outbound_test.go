package e2e_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/config"
)

// TestBadInputProduction: the refusals that only a production
// configuration makes (outbound.allow_private off) answer like the rest of
// the bad-input table: the RFC error as JSON, the right status, never a
// 500, and the store unchanged.
func TestBadInputProduction(t *testing.T) {
	t.Parallel()
	l := startLive(t, func(c *config.Config) { c.Outbound.AllowPrivate = false })
	register := func(body string) request {
		return request{method: http.MethodPost, path: "/v1/register",
			header: http.Header{"Content-Type": {"application/json"}}, body: body}
	}
	const ciba = `"grant_types":["urn:openid:params:grant-type:ciba"]`
	cases := []badCase{
		{name: "register/ping endpoint on loopback http", req: register(`{` + ciba + `,"backchannel_token_delivery_mode":"ping","backchannel_client_notification_endpoint":"http://127.0.0.1:9/cb"}`), status: 400, code: "invalid_client_metadata"},
		{name: "register/push endpoint on localhost http", req: register(`{` + ciba + `,"backchannel_token_delivery_mode":"push","backchannel_client_notification_endpoint":"http://localhost:9/cb"}`), status: 400, code: "invalid_client_metadata"},
		{name: "register/jwks_uri plain http", req: register(`{"redirect_uris":["` + liveRedirect + `"],"jwks_uri":"http://client.example/jwks.json"}`), status: 400, code: "invalid_client_metadata"},
		// draft-ietf-oauth-client-id-metadata-document §8.6: never fetched from a loopback address.
		{name: "authorize/client ID metadata document on loopback", req: request{method: http.MethodGet,
			path: "/v1/authorize?response_type=code&code_challenge_method=S256&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&client_id=" +
				url.QueryEscape("https://127.0.0.1:9/client.json")}, status: 400, code: "invalid_request"},
		{name: "token/client ID metadata document on a private address", req: form("/v1/token", url.Values{"grant_type": {"authorization_code"},
			"code": {"x"}, "client_id": {"https://10.0.0.1:9/client.json"}}, "", ""), status: 401, code: "invalid_client"},
		{name: "register/signed CIBA with loopback jwks_uri", req: register(`{` + ciba + `,"backchannel_token_delivery_mode":"poll","backchannel_authentication_request_signing_alg":"ES256","jwks_uri":"http://127.0.0.1:9/jwks.json"}`), status: 400, code: "invalid_client_metadata"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := l.snapshot(t)
			a := l.do(t, tc.req)
			if a.status >= 500 {
				t.Fatalf("server error %d: %s", a.status, a.raw)
			}
			if a.status != tc.status || a.str("error") != tc.code || a.str("error_description") == "" {
				t.Errorf("got %d %s, want %d %s", a.status, a.raw, tc.status, tc.code)
			}
			if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want JSON", ct)
			}
			if cc := a.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			unchanged(t, before, l.snapshot(t))
		})
	}
}
