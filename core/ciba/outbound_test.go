package ciba_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// tlsPeer is an https server on loopback that counts the connections it
// is offered, so that a test can tell that nothing reached it.
func tlsPeer(t *testing.T) (port string, conns *atomic.Int64) {
	t.Helper()
	conns = new(atomic.Int64)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ = net.SplitHostPort(strings.TrimPrefix(srv.URL, "https://"))
	return port, conns
}

// TestCallbacksRefuseLocalPeers: with outbound.allow_private off (the
// production setting), the server calls no loopback address for a CIBA
// client: plain http endpoints are refused at registration; https ones
// naming loopback, by address, as IPv4-mapped IPv6 or by a name resolving
// to 127.0.0.1, pass registration (what a name resolves to may change) but
// are refused at the dial: the ping is never sent, the delivery is dead
// at its first attempt (no retries), and a signed request whose jwks_uri
// is on loopback is refused without a fetch.
func TestCallbacksRefuseLocalPeers(t *testing.T) {
	e := start(t, options{edit: func(cfg *config.Config) { cfg.Outbound.AllowPrivate = false }})
	port, conns := tlsPeer(t)

	// Registration: plain http, loopback or not, is refused.
	for _, meta := range []map[string]any{
		{"backchannel_token_delivery_mode": "ping", "backchannel_client_notification_endpoint": "http://127.0.0.1:" + port + "/cb"},
		{"backchannel_token_delivery_mode": "push", "backchannel_client_notification_endpoint": "http://localhost:" + port + "/cb"},
		{"backchannel_token_delivery_mode": "poll", "backchannel_authentication_request_signing_alg": "ES256", "jwks_uri": "http://127.0.0.1:" + port + "/jwks.json"},
	} {
		meta["grant_types"] = []string{"urn:openid:params:grant-type:ciba"}
		status, body, err := testclient.PostJSON(e.issuer+"/v1/register", "", meta)
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusBadRequest || body["error"] != "invalid_client_metadata" {
			t.Errorf("register %v: %d %v, want invalid_client_metadata", meta, status, body)
		}
	}

	// Ping callbacks to loopback over https: never connected.
	for i, host := range []string{"127.0.0.1", "[::ffff:127.0.0.1]", "localhost"} {
		endpoint := "https://" + host + ":" + port + "/cb"
		cl := e.client(t, "ping", endpoint, nil)
		id := e.startRequest(t, cl, loginHint("guest", "client_notification_token", fmt.Sprintf("tok-%d", i)))
		if status, body := e.complete(t, e.guest(t), id, "approve"); status != 200 {
			t.Fatalf("complete: %d %v", status, body)
		}
		d := deadDelivery(t, e, endpoint)
		if d.Attempts != 1 {
			t.Errorf("%s: given up after %d attempts, want 1", endpoint, d.Attempts)
		}
		if !strings.Contains(d.LastError, "refused to connect") {
			t.Errorf("%s: last error %q, want a refused connection", endpoint, d.LastError)
		}
	}

	// A signed request whose keys are on loopback: refused, not fetched.
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cl := e.client(t, "poll", "", map[string]any{
		"backchannel_authentication_request_signing_alg": "ES256",
		"jwks_uri": "https://localhost:" + port + "/jwks.json",
	})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	payload, _ := json.Marshal(map[string]any{"iss": cl.ID, "aud": e.issuer, "exp": now + 300, "iat": now, "nbf": now,
		"jti": testclient.RandomVerifier(), "scope": "openid", "login_hint": "guest"})
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := jws.CompactSerialize()
	if status, body := e.authorize(t, cl, url.Values{"request": {raw}}); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("signed request with a loopback jwks_uri: %d %v, want invalid_client (its keys cannot be fetched)", status, body)
	}

	if n := conns.Load(); n != 0 {
		t.Errorf("the loopback peer was offered %d connections", n)
	}
}

// deadDelivery waits (boundedly) for the delivery to url to be given up.
func deadDelivery(t *testing.T, e *env, url string) store.Delivery {
	t.Helper()
	for range 200 {
		var found *store.Delivery
		_ = e.st.Deliveries.List(context.Background(), func(_ string, d store.Delivery) error {
			if d.URL == url && d.Dead {
				found = &d
			}
			return nil
		})
		if found != nil {
			return *found
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("the delivery to %s was not given up", url)
	return store.Delivery{}
}
