package oauth_test

import (
	"encoding/base64"
	"errors"
	"net/url"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// TestClientAuthenticationMethods is RFC 6749 §2.3.1 as Backstage, Keycloak
// and Dex apply it: a client with a secret may present it in the header or
// in the body whatever it registered, or both ways when both say the same;
// a public client, or one registered for another method, gets no secret
// method instead.
func TestClientAuthenticationMethods(t *testing.T) {
	t.Parallel()
	const secret = "a-high-entropy-client-secret-0123456789"
	registered := clients{
		"basic":  {ID: "basic", SecretHash: oauth.HashSecret(secret), ClientMetadata: store.ClientMetadata{TokenEndpointAuthMethod: oauth.AuthBasic}},
		"post":   {ID: "post", SecretHash: oauth.HashSecret(secret), ClientMetadata: store.ClientMetadata{TokenEndpointAuthMethod: oauth.AuthPost}},
		"public": {ID: "public", ClientMetadata: store.ClientMetadata{TokenEndpointAuthMethod: oauth.AuthNone}},
		"jwt":    {ID: "jwt", SecretHash: oauth.HashSecret(secret), ClientMetadata: store.ClientMetadata{TokenEndpointAuthMethod: "private_key_jwt"}},
	}
	basic := func(id, s string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(s)))
	}
	form := func(kv ...string) string {
		v := url.Values{"grant_type": {"authorization_code"}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	for _, tc := range []struct {
		name, header, body string
		wantID             string // "" expects a refusal
		wantCode           string
		wantStatus         int
	}{
		{name: "basic client, header", header: basic("basic", secret), body: form(), wantID: "basic"},
		{name: "basic client, body", body: form("client_id", "basic", "client_secret", secret), wantID: "basic"},
		{name: "basic client, both the same", header: basic("basic", secret), body: form("client_id", "basic", "client_secret", secret), wantID: "basic"},
		{name: "basic client, header and body secret only", header: basic("basic", secret), body: form("client_secret", secret), wantID: "basic"},
		{name: "post client, body", body: form("client_id", "post", "client_secret", secret), wantID: "post"},
		{name: "post client, header", header: basic("post", secret), body: form(), wantID: "post"},
		{name: "public client, id only", body: form("client_id", "public"), wantID: "public"},

		{name: "both, secrets differ", header: basic("basic", secret), body: form("client_id", "basic", "client_secret", "other"), wantCode: "invalid_request", wantStatus: 400},
		{name: "both, ids differ", header: basic("basic", secret), body: form("client_id", "post", "client_secret", secret), wantCode: "invalid_request", wantStatus: 400},
		{name: "basic client, wrong secret in body", body: form("client_id", "basic", "client_secret", "nope"), wantCode: "invalid_client", wantStatus: 401},
		{name: "basic client, wrong secret in header", header: basic("basic", "nope"), body: form(), wantCode: "invalid_client", wantStatus: 401},
		{name: "basic client, no secret", body: form("client_id", "basic"), wantCode: "invalid_client", wantStatus: 401},
		{name: "public client with a secret", body: form("client_id", "public", "client_secret", secret), wantCode: "invalid_client", wantStatus: 401},
		{name: "public client with a header", header: basic("public", secret), body: form(), wantCode: "invalid_client", wantStatus: 401},
		{name: "private_key_jwt client with its secret in the body", body: form("client_id", "jwt", "client_secret", secret), wantCode: "invalid_client", wantStatus: 401},
		{name: "private_key_jwt client with its secret in the header", header: basic("jwt", secret), body: form(), wantCode: "invalid_client", wantStatus: 401},
		{name: "unknown client", body: form("client_id", "nobody", "client_secret", secret), wantCode: "invalid_client", wantStatus: 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got store.Client
			var err error
			withCtx(fiber.MethodPost, fiber.MIMEApplicationForm, "", []byte(tc.body), func(c *fiber.Ctx) {
				if tc.header != "" {
					c.Request().Header.Set(fiber.HeaderAuthorization, tc.header)
				}
				p, perr := oauth.ParseBody(c)
				if perr != nil {
					t.Fatal(perr)
				}
				got, _, err = oauth.AuthenticateRequest(c, p, registered)
			})
			if tc.wantID != "" {
				if err != nil || got.ID != tc.wantID {
					t.Fatalf("got client %q, error %v; want %q", got.ID, err, tc.wantID)
				}
				return
			}
			var oe *oauth.Error
			if !errors.As(err, &oe) {
				t.Fatalf("got client %q, error %v; want %s", got.ID, err, tc.wantCode)
			}
			if oe.Code != tc.wantCode || oe.Status != tc.wantStatus {
				t.Fatalf("got %s (%d) %q; want %s (%d)", oe.Code, oe.Status, oe.Description, tc.wantCode, tc.wantStatus)
			}
		})
	}
}

var _ oauth.ClientGetter = clients(nil)
