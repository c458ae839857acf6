package ciba_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// jwksServer serves a JWK Set on loopback and counts the fetches.
type jwksServer struct {
	URL     string
	mu      sync.Mutex
	set     jose.JSONWebKeySet
	fetches int
}

func newJWKSServer(tb testing.TB, keys ...jose.JSONWebKey) *jwksServer {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &jwksServer{URL: "http://" + ln.Addr().String() + "/jwks.json"}
	s.serve(keys...)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		s.fetches++
		raw, _ := json.Marshal(s.set)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(raw)
	})}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *jwksServer) serve(keys ...jose.JSONWebKey) {
	s.mu.Lock()
	s.set = jose.JSONWebKeySet{Keys: keys}
	s.mu.Unlock()
}

func (s *jwksServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// TestSignedRequestJWKSURI: a client registered with jwks_uri signs its
// authentication requests with the keys published there (CIBA Core
// §7.1.1): they are fetched once and cached, fetched again once when a
// request names a kid the cached set lacks (a rotation), and a kid still
// unknown after that is refused.
func TestSignedRequestJWKSURI(t *testing.T) {
	e := start(t, options{})
	newKey := func(kid string) (*ecdsa.PrivateKey, jose.JSONWebKey) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}
	}
	k1, pub1 := newKey("k1")
	k2, pub2 := newKey("k2")
	k3, _ := newKey("k3")
	keys := newJWKSServer(t, pub1)
	cl := e.client(t, "poll", "", map[string]any{
		"backchannel_authentication_request_signing_alg": "ES256",
		"jwks_uri": keys.URL,
	})
	sign := func(k *ecdsa.PrivateKey, kid string) url.Values {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().Unix()
		payload, _ := json.Marshal(map[string]any{
			"iss": cl.ID, "aud": e.issuer, "exp": now + 300, "iat": now, "nbf": now,
			"jti": testclient.RandomVerifier(), "scope": "openid", "login_hint": "guest",
		})
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return url.Values{"request": {raw}}
	}
	steps := []struct {
		name    string
		form    url.Values
		rotate  []jose.JSONWebKey // served from this step on, when set
		ok      bool
		fetches int // total after the step
	}{
		{"first request fetches", sign(k1, "k1"), nil, true, 1},
		{"second request uses the cache", sign(k1, "k1"), nil, true, 1},
		{"known kid, wrong key: no refetch", sign(k2, "k1"), nil, false, 1},
		{"rotated key: refetched once", sign(k2, "k2"), []jose.JSONWebKey{pub2}, true, 2},
		{"the old key is gone from the new set", sign(k1, "k1"), nil, false, 3},
		{"unknown kid: refetched once, refused", sign(k3, "k3"), nil, false, 4},
		{"rotated key again from the cache", sign(k2, "k2"), nil, true, 4},
	}
	for _, st := range steps {
		if st.rotate != nil {
			keys.serve(st.rotate...)
		}
		status, body := e.authorize(t, cl, st.form)
		if st.ok && (status != 200 || body["auth_req_id"] == nil) {
			t.Errorf("%s: %d %v, want accepted", st.name, status, body)
		}
		if !st.ok && (status != 400 || body["error"] != "invalid_request") {
			t.Errorf("%s: %d %v, want invalid_request", st.name, status, body)
		}
		if n := keys.count(); n != st.fetches {
			t.Errorf("%s: %d fetches in all, want %d", st.name, n, st.fetches)
		}
	}
}
