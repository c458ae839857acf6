package client

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
)

// FuzzParseRegistration: any body either registers metadata that is a
// fixed point — answered back (as RFC 7592 read does) and sent again (as an
// update does) it parses to the same thing — or is refused with a 400 and
// one of the RFC 7591 §3.2.2 errors. It never panics.
func FuzzParseRegistration(f *testing.F) {
	for _, s := range []string{
		`{"redirect_uris":["https://app.example/cb"],"client_name":"App","scope":"openid profile"}`,
		`{"redirect_uris":["http://127.0.0.1:7007/cb","http://[::1]/cb"],"token_endpoint_auth_method":"none"}`,
		`{"grant_types":["client_credentials"],"scope":"catalog.read catalog.read"}`,
		`{"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"redirect_uris":["com.example.app:/cb"]}`,
		`{"redirect_uris":["https://app.example/cb"],"contacts":["a@example.com",""],"logo_uri":"https://app.example/logo.png"}`,
		`{"redirect_uris":["https://app.example/cb"],"jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}}`,
		`{"redirect_uris":["https://app.example/cb"],"jwks_uri":"https://app.example/jwks","jwks":{"keys":[]}}`,
		`{"redirect_uris":["https://app.example/cb#frag"]}`,
		`{"redirect_uris":["javascript:alert(1)"]}`,
		`{"software_statement":"a.b.c"}`,
		`{"client_name":"a","client_name":"b"}`,
		`{"client_id":"x","client_secret":"y","redirect_uris":["https://app.example/cb"]}`,
		`{"redirect_uris":null,"grant_types":[null]}`,
		`{"application_type":"native","redirect_uris":["http://localhost/cb"]}`,
		`[1,2]`, `{}`, ``, `{"a":` + "[[[[" + `}`, "{\"client_name\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	p := newPolicy(nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := parseRegistration(body, p)
		if err != nil {
			codes := []string{"invalid_client_metadata", "invalid_redirect_uri", "invalid_software_statement", "invalid_request"}
			if err.Status != 400 || !slices.Contains(codes, err.Code) {
				t.Fatalf("%q refused with %d %s", body, err.Status, err.Code)
			}
			return
		}
		// What the server stores and answers...
		answered, merr := json.Marshal(r.meta)
		if merr != nil {
			t.Fatalf("metadata of %q does not encode: %v", body, merr)
		}
		// ...registers again unchanged.
		again, err := parseRegistration(answered, p)
		if err != nil {
			t.Fatalf("%q registered as %s, which is then refused: %v", body, answered, err)
		}
		if !reflect.DeepEqual(again.meta, r.meta) {
			t.Fatalf("%q registered as %s, which registers as %+v", body, answered, again.meta)
		}
		for _, u := range r.meta.RedirectURIs {
			if reason := checkRedirectURI(u); reason != "" {
				t.Fatalf("%q registered redirect URI %q, which %s", body, u, reason)
			}
		}
	})
}
