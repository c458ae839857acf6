package oauth_test

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// clients is a one-client ClientGetter, so that the benchmark measures
// authentication and not a store.
type clients map[string]store.Client

func (m clients) Get(_ context.Context, id string) (store.Client, error) {
	if c, ok := m[id]; ok {
		return c, nil
	}
	return store.Client{}, store.ErrNotFound
}

// BenchmarkClientAuthentication is RFC 6749 §2.3.1 on every token request:
// read the Basic header or the form credentials, find the client, compare
// the secret's hash in constant time.
func BenchmarkClientAuthentication(b *testing.B) {
	const secret = "a-high-entropy-client-secret-0123456789"
	registered := clients{"machine": {ID: "machine", SecretHash: oauth.HashSecret(secret),
		ClientMetadata: store.ClientMetadata{TokenEndpointAuthMethod: oauth.AuthBasic}}}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("machine:"+secret))
	ctx := context.Background()
	for _, tc := range []struct{ name, header, body string }{
		{"basic", basic, "grant_type=client_credentials"},
		{"wrong secret", "Basic " + base64.StdEncoding.EncodeToString([]byte("machine:nope")), "grant_type=client_credentials"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				withCtx(fiber.MethodPost, fiber.MIMEApplicationForm, "", []byte(tc.body), func(c *fiber.Ctx) {
					c.Request().Header.Set(fiber.HeaderAuthorization, tc.header)
					p, err := oauth.ParseBody(c)
					if err != nil {
						b.Fatal(err)
					}
					cred, err := oauth.ReadCredentials(c, p)
					if err != nil {
						b.Fatal(err)
					}
					_, err = oauth.Authenticate(ctx, registered, cred)
					if (err == nil) != (tc.name == "basic") {
						b.Fatalf("authenticate: %v", err)
					}
				})
			}
		})
	}
}
