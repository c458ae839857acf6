package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse/core/outbound"
)

// TestKeySetsFetch: a jwks_uri answer is used only when it is a 200 JWK Set
// within the size cap, from the registered URI (no redirect), within the
// deadline; only public keys are kept; the cache lasts jwksTTL.
func TestKeySetsFetch(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv, KeyID: "k1", Algorithm: "ES256"}}})
	var hits atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/good":
			_, _ = w.Write(good)
		case "/big":
			_, _ = w.Write([]byte(`{"keys":[],"pad":"` + strings.Repeat("x", jwksMaxBytes) + `"}`))
		case "/redirect":
			http.Redirect(w, r, "/good", http.StatusFound)
		case "/notfound":
			http.NotFound(w, r)
		case "/empty":
			_, _ = w.Write([]byte(`{"keys":[]}`))
		case "/html":
			_, _ = w.Write([]byte(`<html>`))
		case "/slow":
			<-release
		}
	}))
	defer srv.Close()
	defer close(release)

	c := NewKeySets(outbound.New(outbound.Options{AllowPrivate: true})) // a loopback server
	now := time.Unix(1_800_000_000, 0)
	c.now = func() time.Time { return now }
	ctx := context.Background()
	keys, err := c.Keys(ctx, srv.URL+"/good", false)
	if err != nil || len(keys) != 1 || keys[0].KeyID != "k1" || !keys[0].IsPublic() {
		t.Fatalf("good: %+v, %v", keys, err)
	}
	for _, path := range []string{"/big", "/redirect", "/notfound", "/empty", "/html"} {
		if keys, err := c.Keys(ctx, srv.URL+path, false); err == nil {
			t.Errorf("%s: accepted %+v", path, keys)
		}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := c.Keys(short, srv.URL+"/slow", false); err == nil {
		t.Error("/slow: accepted")
	}

	// Cached for jwksTTL, then fetched again; refresh always fetches.
	hits.Store(0)
	_, _ = c.Keys(ctx, srv.URL+"/good", false)
	now = now.Add(jwksTTL - time.Second)
	_, _ = c.Keys(ctx, srv.URL+"/good", false)
	if n := hits.Load(); n != 0 {
		t.Errorf("%d fetches within the TTL", n)
	}
	_, _ = c.Keys(ctx, srv.URL+"/good", true)
	if n := hits.Load(); n != 1 {
		t.Errorf("%d fetches on refresh, want 1", n)
	}
	now = now.Add(jwksTTL)
	_, _ = c.Keys(ctx, srv.URL+"/good", false)
	if n := hits.Load(); n != 2 {
		t.Errorf("%d fetches after the TTL, want 2", n)
	}
}
