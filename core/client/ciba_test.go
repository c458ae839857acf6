package client

import (
	"testing"
)

// TestCIBAMetadata: CIBA Core §4 registration parameters are checked at
// registration (and so at update, which parses the same way).
func TestCIBAMetadata(t *testing.T) {
	const grant = `"grant_types":["urn:openid:params:grant-type:ciba"]`
	const jwks = `"jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`
	cases := []struct {
		name string
		body string
		want string // error code, "" when accepted
	}{
		{"poll", `{` + grant + `,"backchannel_token_delivery_mode":"poll"}`, ""},
		{"ping https", `{` + grant + `,"backchannel_token_delivery_mode":"ping","backchannel_client_notification_endpoint":"https://client.example/cb"}`, ""},
		{"push loopback http", `{` + grant + `,"backchannel_token_delivery_mode":"push","backchannel_client_notification_endpoint":"http://127.0.0.1:8080/cb"}`, ""},
		{"push ipv6 loopback", `{` + grant + `,"backchannel_token_delivery_mode":"push","backchannel_client_notification_endpoint":"http://[::1]:8080/cb"}`, ""},
		{"user code param", `{` + grant + `,"backchannel_token_delivery_mode":"poll","backchannel_user_code_parameter":true}`, ""},
		{"signed requests", `{` + grant + `,"backchannel_token_delivery_mode":"poll","backchannel_authentication_request_signing_alg":"ES256",` + jwks + `}`, ""},
		{"mode missing", `{` + grant + `}`, "invalid_client_metadata"},
		{"mode unknown", `{` + grant + `,"backchannel_token_delivery_mode":"carrier-pigeon"}`, "invalid_client_metadata"},
		{"mode not string", `{` + grant + `,"backchannel_token_delivery_mode":1}`, "invalid_client_metadata"},
		{"ping without endpoint", `{` + grant + `,"backchannel_token_delivery_mode":"ping"}`, "invalid_client_metadata"},
		{"push without endpoint", `{` + grant + `,"backchannel_token_delivery_mode":"push"}`, "invalid_client_metadata"},
		{"endpoint plain http", `{` + grant + `,"backchannel_token_delivery_mode":"ping","backchannel_client_notification_endpoint":"http://client.example/cb"}`, "invalid_client_metadata"},
		{"endpoint fragment", `{` + grant + `,"backchannel_token_delivery_mode":"ping","backchannel_client_notification_endpoint":"https://client.example/cb#x"}`, "invalid_client_metadata"},
		{"endpoint relative", `{` + grant + `,"backchannel_token_delivery_mode":"ping","backchannel_client_notification_endpoint":"/cb"}`, "invalid_client_metadata"},
		{"endpoint other scheme", `{` + grant + `,"backchannel_token_delivery_mode":"ping","backchannel_client_notification_endpoint":"ftp://client.example/cb"}`, "invalid_client_metadata"},
		{"alg none", `{` + grant + `,"backchannel_token_delivery_mode":"poll","backchannel_authentication_request_signing_alg":"none",` + jwks + `}`, "invalid_client_metadata"},
		{"signed requests, keys by reference", `{` + grant + `,"backchannel_token_delivery_mode":"poll","backchannel_authentication_request_signing_alg":"ES256","jwks_uri":"https://client.example/jwks.json"}`, ""},
		{"signed requests, loopback jwks_uri", `{` + grant + `,"backchannel_token_delivery_mode":"poll","backchannel_authentication_request_signing_alg":"ES256","jwks_uri":"http://127.0.0.1:9/jwks.json"}`, ""},
		{"jwks_uri plain http", `{` + grant + `,"backchannel_token_delivery_mode":"poll","backchannel_authentication_request_signing_alg":"ES256","jwks_uri":"http://client.example/jwks.json"}`, "invalid_client_metadata"},
		{"jwks_uri and jwks", `{` + grant + `,"backchannel_token_delivery_mode":"poll","backchannel_authentication_request_signing_alg":"ES256","jwks_uri":"https://client.example/jwks.json",` + jwks + `}`, "invalid_client_metadata"},
		{"alg without keys", `{` + grant + `,"backchannel_token_delivery_mode":"poll","backchannel_authentication_request_signing_alg":"ES256"}`, "invalid_client_metadata"},
		{"user code not bool", `{` + grant + `,"backchannel_token_delivery_mode":"poll","backchannel_user_code_parameter":"yes"}`, "invalid_client_metadata"},
		{"public client", `{` + grant + `,"backchannel_token_delivery_mode":"poll","token_endpoint_auth_method":"none"}`, "invalid_client_metadata"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPolicy(nil)
			p.allowPrivate = true
			r, err := parseRegistration([]byte(tc.body), p)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if r.meta.BackchannelTokenDeliveryMode == "" {
					t.Errorf("delivery mode lost: %+v", r.meta)
				}
				if len(r.meta.ResponseTypes) != 0 || len(r.meta.RedirectURIs) != 0 {
					t.Errorf("a CIBA-only client needs no redirect: %+v", r.meta)
				}
				return
			}
			if err == nil || err.Code != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
		})
	}
}

// TestCIBAMetadataProduction: without the development setting
// outbound.allow_private, the URIs the server calls must be https: plain
// http is refused on a loopback host too, and for jwks_uri whatever the
// grant.
func TestCIBAMetadataProduction(t *testing.T) {
	const grant = `"grant_types":["urn:openid:params:grant-type:ciba"]`
	cases := []struct{ name, body, want string }{
		{"ping https", `{` + grant + `,"backchannel_token_delivery_mode":"ping","backchannel_client_notification_endpoint":"https://client.example/cb"}`, ""},
		{"push loopback http", `{` + grant + `,"backchannel_token_delivery_mode":"push","backchannel_client_notification_endpoint":"http://127.0.0.1:8080/cb"}`, "invalid_client_metadata"},
		{"push localhost http", `{` + grant + `,"backchannel_token_delivery_mode":"push","backchannel_client_notification_endpoint":"http://localhost:8080/cb"}`, "invalid_client_metadata"},
		{"loopback jwks_uri", `{` + grant + `,"backchannel_token_delivery_mode":"poll","backchannel_authentication_request_signing_alg":"ES256","jwks_uri":"http://127.0.0.1:9/jwks.json"}`, "invalid_client_metadata"},
		{"jwks_uri plain http without CIBA signing", `{` + grant + `,"backchannel_token_delivery_mode":"poll","jwks_uri":"http://client.example/jwks.json"}`, "invalid_client_metadata"},
		{"jwks_uri https", `{` + grant + `,"backchannel_token_delivery_mode":"poll","backchannel_authentication_request_signing_alg":"ES256","jwks_uri":"https://client.example/jwks.json"}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseRegistration([]byte(tc.body), newPolicy(nil))
			if tc.want == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tc.want != "" && (err == nil || err.Code != tc.want) {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
		})
	}
}
