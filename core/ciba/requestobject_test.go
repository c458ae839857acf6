package ciba_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// TestSignedRequest: a client registered with
// backchannel_authentication_request_signing_alg must send its request as
// a JWT signed by its registered key (CIBA Core §7.1.1); a good one is
// accepted once, and every flaw is invalid_request.
func TestSignedRequest(t *testing.T) {
	e := start(t, options{})
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := jose.JSONWebKey{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}
	cl := e.client(t, "poll", "", map[string]any{
		"backchannel_authentication_request_signing_alg": "ES256",
		"jwks": jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}},
	})
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(k *ecdsa.PrivateKey, claims map[string]any) string {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(claims)
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	now := time.Now().Unix()
	claims := func(edit func(map[string]any)) map[string]any {
		c := map[string]any{
			"iss": cl.ID, "aud": e.issuer, "exp": now + 300, "iat": now, "nbf": now,
			"jti": testclient.RandomVerifier(), "scope": "openid", "login_hint": "guest",
			"binding_message": "signed", "requested_expiry": 300,
		}
		if edit != nil {
			edit(c)
		}
		return c
	}
	good := sign(key, claims(nil))
	if status, body := e.authorize(t, cl, url.Values{"request": {good}}); status != 200 || body["auth_req_id"] == nil {
		t.Fatalf("signed request: %d %v", status, body)
	}
	cases := []struct {
		name string
		form url.Values
	}{
		{"replayed jti", url.Values{"request": {good}}},
		{"unsigned parameters", loginHint("guest")},
		{"parameter beside the object", url.Values{"request": {sign(key, claims(nil))}, "login_hint": {"alice"}}},
		{"another key", url.Values{"request": {sign(other, claims(nil))}}},
		{"wrong audience", url.Values{"request": {sign(key, claims(func(c map[string]any) { c["aud"] = "https://elsewhere" }))}}},
		{"wrong issuer", url.Values{"request": {sign(key, claims(func(c map[string]any) { c["iss"] = "someone" }))}}},
		{"expired", url.Values{"request": {sign(key, claims(func(c map[string]any) { c["exp"] = now - 600 }))}}},
		{"no jti", url.Values{"request": {sign(key, claims(func(c map[string]any) { delete(c, "jti") }))}}},
		{"too long lived", url.Values{"request": {sign(key, claims(func(c map[string]any) { c["exp"] = now + 7200 }))}}},
		{"not a JWS", url.Values{"request": {"a.b.c"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if status, body := e.authorize(t, cl, tc.form); status != 400 || body["error"] != "invalid_request" {
				t.Fatalf("got %d %v, want invalid_request", status, body)
			}
		})
	}
	if n := e.requests(t); n != 1 {
		t.Errorf("%d stored requests, want 1", n)
	}
}
