package ciba_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse/core/config"
)

// TestPushTokensBoundToCertificate: a push client that registered
// tls_client_certificate_bound_access_tokens gets, at approval, access
// tokens bound to the certificate of its backchannel request (RFC 8705
// §3), which authenticated it (self_signed_tls_client_auth, through a
// trusted proxy's header); without a certificate the request is refused.
func TestPushTokensBoundToCertificate(t *testing.T) {
	const header = "X-Client-Cert"
	e := start(t, options{edit: func(c *config.Config) {
		c.Server.MTLS = config.MTLS{Enabled: true, ProxyHeader: header, TrustedProxies: []string{"127.0.0.0/8", "::1"}}
	}})
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "push-client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, Certificates: []*x509.Certificate{leaf}}}})
	rcv := newReceiver(t)
	cl := e.client(t, "push", rcv.URL, map[string]any{
		"token_endpoint_auth_method": "self_signed_tls_client_auth", "jwks": json.RawMessage(jwks),
		"tls_client_certificate_bound_access_tokens": true,
	})
	form := loginHint("guest", "client_notification_token", "push-token-1", "scope", "openid")
	form.Set("client_id", cl.ID)
	backchannel := func(cert bool) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, e.issuer+"/v1/backchannel/authorize", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if cert {
			req.Header.Set(header, url.PathEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if status, body := backchannel(false); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Fatalf("without a certificate: %d %v", status, body)
	}
	status, body := backchannel(true)
	id, _ := body["auth_req_id"].(string)
	if status != http.StatusOK || id == "" {
		t.Fatalf("with the certificate: %d %v", status, body)
	}
	if status, body := e.complete(t, e.guest(t), id, "approve"); status != http.StatusOK {
		t.Fatalf("complete: %d %v", status, body)
	}
	access, _ := rcv.next(t).Body["access_token"].(string)
	parts := strings.Split(access, ".")
	if len(parts) != 3 {
		t.Fatalf("pushed access token %q", access)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Cnf struct {
			X5t string `json:"x5t#S256"`
		} `json:"cnf"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	if want := base64.RawURLEncoding.EncodeToString(sum[:]); claims.Cnf.X5t != want {
		t.Fatalf("pushed access token cnf x5t#S256 %q, want %q", claims.Cnf.X5t, want)
	}
}
