package ciba_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// replicaPair starts two CIBA servers on one PostgreSQL database, each
// with its own connection pool, behind one public URL (as replicas behind
// a load balancer). Requests reach each at its own address: the issuer of
// the returned envs is where that server listens.
func replicaPair(t *testing.T) (a, b *env) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	stores := replicaStores()["postgres"](t, 2)
	a = start(t, options{store: stores[0]})
	b = start(t, options{store: stores[1], edit: func(c *config.Config) { c.Server.PublicURL = a.cfg.Server.PublicURL }})
	b.issuer = b.origin + b.cfg.Server.BasePath
	return a, b
}

// race runs n calls of fn at once, the i-th on servers[i%2], and returns
// their statuses and bodies.
func race(n int, servers [2]*env, fn func(e *env) (int, map[string]any)) (statuses []int, bodies []map[string]any) {
	statuses, bodies = make([]int, n), make([]map[string]any, n)
	var wg sync.WaitGroup
	startLine := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startLine
			statuses[i], bodies[i] = fn(servers[i%2])
		}()
	}
	close(startLine)
	wg.Wait()
	return statuses, bodies
}

// oneWinner fails the test unless exactly one status is 200 and every
// other answer is the RFC 6749 error want.
func oneWinner(t *testing.T, what string, statuses []int, bodies []map[string]any, want string) {
	t.Helper()
	wins := 0
	for i, s := range statuses {
		switch {
		case s == http.StatusOK:
			wins++
		case s != http.StatusBadRequest || bodies[i]["error"] != want:
			t.Errorf("%s %d: %d %v, want 200 once and %s otherwise", what, i, s, bodies[i], want)
		}
	}
	if wins != 1 {
		t.Fatalf("%s: %d winners across two replicas, want exactly 1 (%v)", what, wins, statuses)
	}
}

// TestRedemptionAcrossReplicas: concurrent redemptions of one approved
// CIBA request, and concurrent uses of one signed request object's jti,
// spread over two servers on one PostgreSQL database: exactly one wins,
// decided by the database, not by either process.
func TestRedemptionAcrossReplicas(t *testing.T) {
	a, b := replicaPair(t)
	pair := [2]*env{a, b}
	const n = 8

	t.Run("ciba single redemption", func(t *testing.T) {
		cl := a.client(t, "poll", "", nil)
		id := a.startRequest(t, cl, loginHint("guest"))
		if status, body := b.complete(t, b.guest(t), id, "approve"); status != http.StatusOK {
			t.Fatalf("approve on the second replica: %d %v", status, body)
		}
		statuses, bodies := race(n, pair, func(e *env) (int, map[string]any) { return e.poll(t, cl, id) })
		oneWinner(t, "poll", statuses, bodies, "invalid_grant")
	})

	t.Run("request object jti", func(t *testing.T) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub := jose.JSONWebKey{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}
		cl := a.client(t, "poll", "", map[string]any{
			"backchannel_authentication_request_signing_alg": "ES256",
			"jwks": jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}},
		})
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().Unix()
		payload, _ := json.Marshal(map[string]any{
			"iss": cl.ID, "aud": a.cfg.Issuer(), "exp": now + 300, "iat": now, "nbf": now,
			"jti": testclient.RandomVerifier(), "scope": "openid", "login_hint": "guest",
		})
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		object, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		statuses, bodies := race(n, pair, func(e *env) (int, map[string]any) {
			return e.authorize(t, cl, url.Values{"request": {object}})
		})
		oneWinner(t, "backchannel request", statuses, bodies, "invalid_request")
	})
}
