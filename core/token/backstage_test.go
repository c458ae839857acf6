package token_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/keyset"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

// TestUserIdentityProof rebuilds the limited user token from a user token
// as Backstage's backend does (header {typ, alg, kid}, payload {sub, iat,
// exp}, signature uip) and checks it against the issuer's keys, for the
// identity token of a sign-in and the access token of the Backstage
// profile, with every signing algorithm.
func TestUserIdentityProof(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Load(gatehouse.DefaultConfig, "")
			if err != nil {
				t.Fatal(err)
			}
			cfg.Storage.Backend, cfg.Keys.Algorithm = "memory", alg
			st := store.New(memory.New())
			ks, err := keyset.Open(context.Background(), cfg, st)
			if err != nil {
				t.Fatal(err)
			}
			iss := token.NewIssuer(cfg, ks, st)
			identity, _, err := iss.IdentityToken(context.Background(), token.Identity{Subject: "user:default/a&b<c>", Ownership: []string{"group:default/x"}})
			if err != nil {
				t.Fatal(err)
			}
			access, err := iss.AccessToken(context.Background(), token.AccessRequest{ClientID: "web", Subject: "user:default/alice", Scope: "openid"})
			if err != nil {
				t.Fatal(err)
			}
			for name, raw := range map[string]string{"identity token": identity, "access token": access.Token} {
				header, claims := decodeJWT(t, raw)
				if header["typ"] != token.TypeIdentity || claims["aud"] != token.BackstageAudience {
					t.Fatalf("%s: header %v, aud %v: not a Backstage user token", name, header, claims["aud"])
				}
				uip, _ := claims["uip"].(string)
				if uip == "" {
					t.Fatalf("%s: no uip in %v", name, claims)
				}
				// As JSON.stringify writes them, in Backstage's order.
				h := `{"typ":"vnd.backstage.limited-user","alg":"` + header["alg"].(string) + `","kid":"` + header["kid"].(string) + `"}`
				p, _ := json.Marshal(claims["sub"])
				payload := `{"sub":` + strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(string(p), `\u0026`, "&"), `\u003c`, "<"), `\u003e`, ">") +
					`,"iat":` + jsonNumber(claims["iat"]) + `,"exp":` + jsonNumber(claims["exp"]) + `}`
				limited := b64(h) + "." + b64(payload) + "." + uip
				jws, err := jose.ParseSignedCompact(limited, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA})
				if err != nil {
					t.Fatal(err)
				}
				jwks := ks.JWKS()
				keys := jwks.Key(header["kid"].(string))
				if len(keys) != 1 {
					t.Fatalf("%s: kid %v not in the JWKS", name, header["kid"])
				}
				if _, err := jws.Verify(keys[0].Public()); err != nil {
					t.Errorf("%s: the limited user token does not verify: %v", name, err)
				}
			}
		})
	}
}

// TestAccessTokenProfile: the audience picks the profile. With
// tokens.default_audience backstage, a user's token with no resource is a
// Backstage user token, one with a resource is RFC 9068 for it, and a
// client's own token is RFC 9068 for the issuer; an empty default is the
// issuer, another default that audience.
func TestAccessTokenProfile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, def string
		req       token.AccessRequest
		typ       string
		aud       []string // nil: the issuer
	}{
		{"user, backstage default", "backstage", token.AccessRequest{Subject: "user:default/alice"}, token.TypeIdentity, []string{"backstage"}},
		{"user with a resource", "backstage", token.AccessRequest{Subject: "user:default/alice", Audience: []string{"https://api.example.com/"}}, token.TypeAccess, []string{"https://api.example.com/"}},
		{"client_credentials, backstage default", "backstage", token.AccessRequest{Subject: "machine", ForClient: true}, token.TypeAccess, nil},
		{"user, empty default", "", token.AccessRequest{Subject: "user:default/alice"}, token.TypeAccess, nil},
		{"user, URI default", "https://api.example.com/", token.AccessRequest{Subject: "user:default/alice"}, token.TypeAccess, []string{"https://api.example.com/"}},
		{"client_credentials, URI default", "https://api.example.com/", token.AccessRequest{Subject: "machine", ForClient: true}, token.TypeAccess, []string{"https://api.example.com/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			iss, cfg, _ := newIssuer(t, "ES256")
			cfg.Tokens.DefaultAudience = tc.def
			tc.req.ClientID = "web"
			access, err := iss.AccessToken(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			header, claims := decodeJWT(t, access.Token)
			want := tc.aud
			if want == nil {
				want = []string{cfg.Issuer()}
			}
			if header["typ"] != tc.typ || claims["aud"] != want[0] {
				t.Errorf("typ %v aud %v, want %s %v", header["typ"], claims["aud"], tc.typ, want)
			}
			// Every profile verifies here (userinfo, introspection, revocation).
			v, err := iss.VerifyAccessToken(context.Background(), access.Token)
			if err != nil || v.Subject != tc.req.Subject || !slices.Equal(v.Audience, want) {
				t.Errorf("verify: %+v %v", v, err)
			}
			// A client's access token never passes for the user's identity.
			if _, err := iss.VerifyIdentityToken(context.Background(), access.Token); err == nil {
				t.Error("an access token verified as an identity token")
			}
		})
	}
}

func decodeJWT(t *testing.T, raw string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", raw)
	}
	for i, v := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.UseNumber()
		if err := d.Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

func jsonNumber(v any) string { return string(v.(json.Number)) }

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
