package e2e_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/config"
)

// goldenIssuer is the public URL of the golden servers, so that the
// documents do not depend on the port the test happened to get.
const goldenIssuer = "https://auth.example.test"

// exchange is what a golden file records of one answer: the status, the
// headers a client relies on, and the body.
type exchange struct {
	Request string            `json:"request"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    any               `json:"body"`
}

// goldenHeaders are the response headers worth pinning.
var goldenHeaders = []string{"Content-Type", "Cache-Control", "Pragma", "WWW-Authenticate", "Retry-After", "Accept-Encoding", "Allow"}

func record(r request, a answer, body any) exchange {
	h := map[string]string{}
	for _, name := range goldenHeaders {
		if v := a.header.Get(name); v != "" {
			h[name] = v
		}
	}
	if body == nil && a.body != nil {
		body = a.body
	}
	return exchange{Request: r.String(), Status: a.status, Headers: h, Body: body}
}

// TestDiscoveryGolden pins the discovery document (RFC 8414 §3, OIDC
// Discovery §4) at both well-known paths, with and without Backstage's
// /api/auth base path; both paths must answer the same bytes.
func TestDiscoveryGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, basePath string }{
		{"discovery.json", ""},
		{"discovery_api_auth.json", "/api/auth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := startLive(t, func(c *config.Config) {
				c.Server.PublicURL = goldenIssuer
				c.Server.BasePath = tc.basePath
			})
			oidc := request{method: http.MethodGet, path: "/.well-known/openid-configuration"}
			rfc8414 := request{method: http.MethodGet, path: "/.well-known/oauth-authorization-server"}
			a, b := l.do(t, oidc), l.do(t, rfc8414)
			if a.status != http.StatusOK || string(a.raw) != string(b.raw) {
				t.Fatalf("%s: %d %s\n%s: %d %s", oidc, a.status, a.raw, rfc8414, b.status, b.raw)
			}
			if got, want := a.str("issuer"), goldenIssuer+tc.basePath; got != want {
				t.Errorf("issuer %q, want %q", got, want)
			}
			// RFC 8414 §3.1: for an issuer with a path, the well-known
			// suffix goes between host and path; OpenID clients try the
			// same placement. The same bytes answer there.
			if tc.basePath != "" {
				for _, wk := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
					root := l.root(t, request{method: http.MethodGet, path: wk + tc.basePath})
					if root.status != http.StatusOK || string(root.raw) != string(a.raw) {
						t.Errorf("GET %s%s: %d %.200s, want the metadata", wk, tc.basePath, root.status, root.raw)
					}
				}
			}
			// The raw body, so that the golden file pins the wire order too.
			golden(t, tc.name, record(oidc, a, json.RawMessage(a.raw)))
		})
	}
}

// TestJWKSGolden pins the JWKS's shape (RFC 7517 §5, RFC 7518 §6) for each
// keys.algorithm (with the RS256 key kept for ID tokens) and after a
// rotation, with key material and key ids
// masked by their decoded length.
func TestJWKSGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, alg string
		rotate    bool
	}{
		{"jwks_es256.json", "ES256", false},
		{"jwks_rs256.json", "RS256", false},
		{"jwks_eddsa.json", "EdDSA", false},
		{"jwks_es256_rotated.json", "ES256", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := startLive(t, func(c *config.Config) {
				c.Server.PublicURL = goldenIssuer
				c.Keys.Algorithm = tc.alg
			})
			if tc.rotate {
				if _, err := l.srv.Keys().Rotate(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			r := request{method: http.MethodGet, path: "/.well-known/jwks.json"}
			a := l.do(t, r)
			if a.status != http.StatusOK {
				t.Fatalf("%d %s", a.status, a.raw)
			}
			keys, _ := a.body["keys"].([]any)
			// One active key per algorithm in use (keys.algorithm and RS256).
			want := len(l.srv.Keys().Algorithms())
			if tc.rotate {
				want *= 2 // the retired keys stay until their tokens expire
			}
			if len(keys) != want {
				t.Fatalf("%d keys, want %d: %s", len(keys), want, a.raw)
			}
			kids := map[any]bool{}
			for _, k := range keys {
				jwk := k.(map[string]any)
				kids[jwk["kid"]] = true
				for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
					if _, ok := jwk[private]; ok {
						t.Errorf("the JWKS publishes private key member %q", private)
					}
				}
			}
			if len(kids) != len(keys) {
				t.Errorf("key ids repeat: %s", a.raw)
			}
			golden(t, tc.name, record(r, a, mask(a.body)))
		})
	}
}

// masked are the JWK members whose values differ on every run.
var masked = map[string]bool{"kid": true, "x": true, "y": true, "n": true}

// mask replaces the random members of a JWKS with a note of their decoded
// size, which is part of the shape (a P-256 coordinate is 32 bytes).
func mask(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			s, isString := e.(string)
			switch {
			case masked[k] && isString:
				b, err := base64.RawURLEncoding.DecodeString(s)
				if err != nil {
					out[k] = "<not base64url: " + s + ">"
				} else {
					out[k] = fmt.Sprintf("<base64url, %d bytes>", len(b))
				}
			default:
				out[k] = mask(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = mask(e)
		}
		return out
	}
	return v
}
