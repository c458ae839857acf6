package e2e_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// testCA is a certificate authority made by the test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func serial(tb testing.TB) *big.Int {
	tb.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func newTestCA(tb testing.TB, name string) *testCA {
	tb.Helper()
	key := newKey(tb)
	tmpl := &x509.Certificate{
		SerialNumber: serial(tb), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key}
}

// issue makes a certificate for tmpl's subject, signed by ca, or
// self-signed when ca is nil.
func issue(tb testing.TB, ca *testCA, tmpl *x509.Certificate) tls.Certificate {
	tb.Helper()
	key := newKey(tb)
	tmpl.SerialNumber = serial(tb)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	if tmpl.ExtKeyUsage == nil {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func clientCert(tb testing.TB, ca *testCA, cn string, dns ...string) tls.Certificate {
	return issue(tb, ca, &x509.Certificate{Subject: pkix.Name{CommonName: cn, Organization: []string{"Gatehouse Test"}}, DNSNames: dns})
}

func writePEM(tb testing.TB, path, typ string, der []byte) string {
	tb.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func thumbprint(c tls.Certificate) string {
	sum := sha256.Sum256(c.Certificate[0])
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// escapedPEM is a certificate as nginx's $ssl_client_escaped_cert sends it.
func escapedPEM(c tls.Certificate) string {
	return url.PathEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})))
}

// mtlsWorld is the PKI of the mutual TLS tests: the CA of the server's
// certificate and of the clients' (one CA for both, as in many private
// PKIs), a CA the server does not trust, and the clients' certificates.
type mtlsWorld struct {
	dir                 string
	ca, rogue           *testCA
	caFile              string
	pki, sanCert        tls.Certificate // issued by ca to the registered subjects
	otherDN, rogueCert  tls.Certificate // ca's, to another subject; rogue's, to pki's subject
	selfSigned, another tls.Certificate // self-signed: registered, and not
}

func newMTLSWorld(tb testing.TB) *mtlsWorld {
	w := &mtlsWorld{dir: tb.TempDir(), ca: newTestCA(tb, "Gatehouse Test CA"), rogue: newTestCA(tb, "Rogue CA")}
	w.caFile = writePEM(tb, filepath.Join(w.dir, "ca.pem"), "CERTIFICATE", w.ca.cert.Raw)
	w.pki = clientCert(tb, w.ca, "pki-client")
	w.sanCert = clientCert(tb, w.ca, "whatever", "svc.client.example")
	w.otherDN = clientCert(tb, w.ca, "someone-else")
	w.rogueCert = clientCert(tb, w.rogue, "pki-client")
	w.selfSigned = issue(tb, nil, &x509.Certificate{Subject: pkix.Name{CommonName: "self-signed-client"}})
	w.another = issue(tb, nil, &x509.Certificate{Subject: pkix.Name{CommonName: "self-signed-client"}})
	return w
}

// serverTLS writes a server certificate for 127.0.0.1 issued by the CA.
func (w *mtlsWorld) serverTLS(tb testing.TB) config.TLS {
	c := issue(tb, w.ca, &x509.Certificate{
		Subject: pkix.Name{CommonName: "127.0.0.1"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	der, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		tb.Fatal(err)
	}
	return config.TLS{
		CertFile: writePEM(tb, filepath.Join(w.dir, "server.pem"), "CERTIFICATE", c.Certificate[0]),
		KeyFile:  writePEM(tb, filepath.Join(w.dir, "server-key.pem"), "EC PRIVATE KEY", der),
	}
}

// httpClient is a TLS client trusting the test CA that presents certs.
func (w *mtlsWorld) httpClient(certs ...tls.Certificate) *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(w.ca.cert)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs, MinVersion: tls.VersionTLS12},
	}}
}

// jwksOf is a JWK Set holding c's key with c in x5c (RFC 8705 §2.2).
func jwksOf(tb testing.TB, c tls.Certificate) json.RawMessage {
	tb.Helper()
	raw, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: c.Leaf.PublicKey, Certificates: []*x509.Certificate{c.Leaf}, KeyID: "mtls", Use: "sig",
	}}})
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// mtlsClients registers the clients every mutual TLS server of the tests has.
func (w *mtlsWorld) mtlsClients(tb testing.TB, l *live) {
	cc := []string{"client_credentials"}
	l.client(tb, "pki-dn", store.ClientMetadata{TokenEndpointAuthMethod: oauth.AuthTLS, GrantTypes: cc, Scope: "openid",
		TLSClientAuthSubjectDN: "CN=pki-client,O=Gatehouse Test", TLSClientCertificateBoundAccessTokens: true})
	l.client(tb, "pki-san", store.ClientMetadata{TokenEndpointAuthMethod: oauth.AuthTLS, GrantTypes: cc,
		TLSClientAuthSANDNS: "svc.client.example"})
	l.client(tb, "self", store.ClientMetadata{TokenEndpointAuthMethod: oauth.AuthSelfSignedTLS, GrantTypes: cc, Scope: "openid",
		JWKS: jwksOf(tb, w.selfSigned), TLSClientCertificateBoundAccessTokens: true})
	l.client(tb, "ciba-self", store.ClientMetadata{TokenEndpointAuthMethod: oauth.AuthSelfSignedTLS, Scope: "openid",
		GrantTypes: []string{"urn:openid:params:grant-type:ciba"}, BackchannelTokenDeliveryMode: "poll", JWKS: jwksOf(tb, w.selfSigned)})
	l.client(tb, "spa", store.ClientMetadata{TokenEndpointAuthMethod: oauth.AuthNone, Scope: "openid offline_access",
		TLSClientCertificateBoundAccessTokens: true})
}

// post sends a form to the server with client, returning the answer.
func post(tb testing.TB, client *http.Client, endpoint string, form url.Values, header http.Header) answer {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return send(tb, client, req)
}

func get(tb testing.TB, client *http.Client, endpoint string, header http.Header) answer {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, endpoint, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return send(tb, client, req)
}

func send(tb testing.TB, client *http.Client, req *http.Request) answer {
	tb.Helper()
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			tb.Fatalf("%s: %d with a body that is not a JSON object: %.300s", req.URL.Path, a.status, raw)
		}
	}
	return a
}

// claimsOf decodes a JWT's payload (its signature is the server's business).
func claimsOf(tb testing.TB, jwt string) map[string]any {
	tb.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		tb.Fatalf("not a JWT: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

func cnfOf(tb testing.TB, m map[string]any) string {
	tb.Helper()
	cnf, _ := m["cnf"].(map[string]any)
	s, _ := cnf["x5t#S256"].(string)
	return s
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// wantRFCError checks an RFC 6749/6750 error answer.
func wantRFCError(tb testing.TB, what string, a answer, status int, code string) {
	tb.Helper()
	if a.status != status || a.str("error") != code {
		tb.Errorf("%s: %d %s, want %d %s", what, a.status, a.raw, status, code)
	}
}

// TestMTLSOwnListener is RFC 8705 over server.tls, with real TLS on
// loopback and golang.org/x/oauth2 clients: tls_client_auth (subject DN,
// dNSName SAN) and self_signed_tls_client_auth at the token, revocation
// and introspection endpoints, certificate-bound access tokens (cnf in the
// JWT and in introspection, refused at userinfo without the certificate),
// bound refresh tokens of a public client (§4), and every refusal.
func TestMTLSOwnListener(t *testing.T) {
	t.Parallel()
	w := newMTLSWorld(t)
	srvTLS := w.serverTLS(t)
	l := startLive(t, func(c *config.Config) {
		c.Server.PublicURL = "https://" + c.Server.Addr
		c.Server.TLS = srvTLS
		c.Server.MTLS = config.MTLS{Enabled: true, ClientCAFiles: []string{w.caFile}}
		// The embedded user directory and notifier, for the backchannel endpoint.
		c.Plugins.Hooks = map[string]any{"resolve_user": "directory-static", "notify": "notify-default"}
		c.Plugins.Settings["directory-static"] = config.PluginSettings{Config: map[string]any{"users": []any{
			map[string]any{"sub": "user:default/alice", "email": "alice@example.com"},
		}}}
	})
	w.mtlsClients(t, l)
	base := "https://" + l.addr + l.cfg.Server.BasePath
	ctx := context.Background()

	t.Run("discovery", func(t *testing.T) {
		a := get(t, w.httpClient(), base+"/.well-known/openid-configuration", nil)
		for _, key := range []string{"token_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported"} {
			list, _ := a.body[key].([]any)
			if !slices.Contains(list, any("tls_client_auth")) || !slices.Contains(list, any("self_signed_tls_client_auth")) {
				t.Errorf("%s = %v", key, list)
			}
		}
		if a.body["tls_client_certificate_bound_access_tokens"] != true {
			t.Errorf("tls_client_certificate_bound_access_tokens = %v", a.body["tls_client_certificate_bound_access_tokens"])
		}
	})

	tokenURL := base + "/v1/token"
	tokenFor := func(t *testing.T, id string, cert tls.Certificate) (*oauth2.Token, error) {
		cc := clientcredentials.Config{ClientID: id, TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams}
		return cc.Token(context.WithValue(ctx, oauth2.HTTPClient, w.httpClient(cert)))
	}

	t.Run("tls_client_auth subject DN, bound token", func(t *testing.T) {
		tok, err := tokenFor(t, "pki-dn", w.pki)
		if err != nil {
			t.Fatal(err)
		}
		if got := cnfOf(t, claimsOf(t, tok.AccessToken)); got != thumbprint(w.pki) {
			t.Fatalf("cnf x5t#S256 = %q, want %q", got, thumbprint(w.pki))
		}
		withCert := w.httpClient(w.pki)
		// With the certificate the bound token is accepted, and userinfo
		// refuses it only for its scope: a client's own token never
		// carries openid.
		wantRFCError(t, "userinfo with the certificate", get(t, withCert, base+"/v1/userinfo", bearer(tok.AccessToken)), http.StatusForbidden, "insufficient_scope")
		// The same through oauth2's own transport.
		resp, err := (&oauth2.Transport{Source: oauth2.StaticTokenSource(tok), Base: withCert.Transport}).RoundTrip(mustRequest(t, base+"/v1/userinfo"))
		if err != nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("userinfo through oauth2.Transport: %v %v", resp, err)
		}
		resp.Body.Close()
		for name, client := range map[string]*http.Client{"no certificate": w.httpClient(), "another certificate": w.httpClient(w.otherDN)} {
			a := get(t, client, base+"/v1/userinfo", bearer(tok.AccessToken))
			wantRFCError(t, "userinfo with "+name, a, http.StatusUnauthorized, "invalid_token")
			if ch := a.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, `Bearer realm="gatehouse", error="invalid_token"`) {
				t.Errorf("userinfo with %s: WWW-Authenticate %q", name, ch)
			}
		}
		// Introspection (the client's own token, over mutual TLS): cnf.
		a := post(t, withCert, base+"/v1/introspect", url.Values{"client_id": {"pki-dn"}, "token": {tok.AccessToken}}, nil)
		if a.status != http.StatusOK || a.body["active"] != true || cnfOf(t, a.body) != thumbprint(w.pki) {
			t.Fatalf("introspection: %d %s", a.status, a.raw)
		}
		// Revocation with mutual TLS client authentication.
		a = post(t, withCert, base+"/v1/revoke", url.Values{"client_id": {"pki-dn"}, "token": {tok.AccessToken}}, nil)
		if a.status != http.StatusOK {
			t.Fatalf("revocation: %d %s", a.status, a.raw)
		}
		a = post(t, withCert, base+"/v1/introspect", url.Values{"client_id": {"pki-dn"}, "token": {tok.AccessToken}}, nil)
		if a.body["active"] != false {
			t.Fatalf("introspection after revocation: %s", a.raw)
		}
	})

	t.Run("tls_client_auth SAN, unbound token", func(t *testing.T) {
		tok, err := tokenFor(t, "pki-san", w.sanCert)
		if err != nil {
			t.Fatal(err)
		}
		if cnf := claimsOf(t, tok.AccessToken)["cnf"]; cnf != nil {
			t.Errorf("a client that did not register bound tokens got cnf %v", cnf)
		}
	})

	t.Run("self_signed_tls_client_auth", func(t *testing.T) {
		tok, err := tokenFor(t, "self", w.selfSigned)
		if err != nil {
			t.Fatal(err)
		}
		if got := cnfOf(t, claimsOf(t, tok.AccessToken)); got != thumbprint(w.selfSigned) {
			t.Fatalf("cnf = %q", got)
		}
		wantRFCError(t, "userinfo with the certificate", get(t, w.httpClient(w.selfSigned), base+"/v1/userinfo", bearer(tok.AccessToken)), http.StatusForbidden, "insufficient_scope")
		// The same certificate registered by reference: the key set at a
		// jwks_uri (a loopback server; outbound.allow_private is on).
		set := jwksOf(t, w.another)
		keys := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
			rw.Header().Set("Content-Type", "application/jwk-set+json")
			_, _ = rw.Write(set)
		}))
		defer keys.Close()
		l.client(t, "self-uri", store.ClientMetadata{TokenEndpointAuthMethod: oauth.AuthSelfSignedTLS, GrantTypes: []string{"client_credentials"}, JWKSURI: keys.URL + "/jwks.json"})
		if _, err := tokenFor(t, "self-uri", w.another); err != nil {
			t.Fatalf("a self-signed client with jwks_uri: %v", err)
		}
		if _, err := tokenFor(t, "self-uri", w.selfSigned); err == nil {
			t.Fatal("a self-signed client with jwks_uri let in with a certificate not in its key set")
		}
	})

	t.Run("refusals", func(t *testing.T) {
		before := l.snapshot(t)
		for _, tc := range []struct {
			name, client string
			cert         *tls.Certificate
			extra        url.Values
		}{
			{"no certificate, PKI", "pki-dn", nil, nil},
			{"no certificate, self-signed", "self", nil, nil},
			{"self-signed certificate for a PKI client", "pki-dn", &w.selfSigned, nil},
			{"certificate of an untrusted CA with the registered DN", "pki-dn", &w.rogueCert, nil},
			{"subject DN mismatch", "pki-dn", &w.otherDN, nil},
			{"SAN mismatch", "pki-san", &w.pki, nil},
			{"self-signed certificate not in the client's JWKS", "self", &w.another, nil},
			{"a CA-issued certificate not in the client's JWKS", "self", &w.pki, nil},
			{"a secret besides the certificate", "pki-dn", &w.pki, url.Values{"client_secret": {liveSecret}}},
		} {
			client := w.httpClient()
			if tc.cert != nil {
				client = w.httpClient(*tc.cert)
			}
			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {tc.client}}
			for k, v := range tc.extra {
				form[k] = v
			}
			a := post(t, client, tokenURL, form, nil)
			wantRFCError(t, tc.name, a, http.StatusUnauthorized, "invalid_client")
			// The same credentials at revocation and introspection.
			for _, ep := range []string{"/v1/revoke", "/v1/introspect"} {
				f := url.Values{"client_id": {tc.client}, "token": {"x"}}
				for k, v := range tc.extra {
					f[k] = v
				}
				wantRFCError(t, tc.name+" at "+ep, post(t, client, base+ep, f, nil), http.StatusUnauthorized, "invalid_client")
			}
		}
		unchanged(t, before, l.snapshot(t))
	})

	t.Run("backchannel endpoint", func(t *testing.T) {
		// CIBA Core §7.1: the backchannel endpoint authenticates clients
		// as the token endpoint does.
		f := url.Values{"client_id": {"ciba-self"}, "scope": {"openid"}, "login_hint": {"user:default/alice"}}
		ep := base + "/v1/backchannel/authorize"
		wantRFCError(t, "backchannel without a certificate", post(t, w.httpClient(), ep, f, nil), http.StatusUnauthorized, "invalid_client")
		wantRFCError(t, "backchannel with another certificate", post(t, w.httpClient(w.another), ep, f, nil), http.StatusUnauthorized, "invalid_client")
		if a := post(t, w.httpClient(w.selfSigned), ep, f, nil); a.status != http.StatusOK || a.str("auth_req_id") == "" {
			t.Errorf("backchannel with the client's certificate: %d %s", a.status, a.raw)
		}
	})

	t.Run("public client: bound refresh token (RFC 8705 §4)", func(t *testing.T) {
		verifier := oauth2.GenerateVerifier()
		code := l.code(t, "spa", "openid offline_access", verifier, nil)
		withCert := w.httpClient(w.selfSigned)
		exchange := url.Values{"grant_type": {"authorization_code"}, "client_id": {"spa"}, "code": {code},
			"redirect_uri": {liveRedirect}, "code_verifier": {verifier}}
		// Without a certificate first: refused, and the code is not spent.
		wantRFCError(t, "code exchange without a certificate", post(t, w.httpClient(), tokenURL, exchange, nil), http.StatusBadRequest, "invalid_request")
		a := post(t, withCert, tokenURL, exchange, nil)
		if a.status != http.StatusOK {
			t.Fatalf("code exchange: %d %s", a.status, a.raw)
		}
		if cnfOf(t, claimsOf(t, a.str("access_token"))) != thumbprint(w.selfSigned) {
			t.Fatalf("access token not bound: %s", a.raw)
		}
		refresh := url.Values{"grant_type": {"refresh_token"}, "client_id": {"spa"}, "refresh_token": {a.str("refresh_token")}}
		wantRFCError(t, "refresh without a certificate", post(t, w.httpClient(), tokenURL, refresh, nil), http.StatusBadRequest, "invalid_request")
		wantRFCError(t, "refresh with another certificate", post(t, w.httpClient(w.another), tokenURL, refresh, nil), http.StatusBadRequest, "invalid_grant")
		a = post(t, withCert, tokenURL, refresh, nil)
		if a.status != http.StatusOK || cnfOf(t, claimsOf(t, a.str("access_token"))) != thumbprint(w.selfSigned) {
			t.Fatalf("refresh with the certificate: %d %s", a.status, a.raw)
		}
	})

	t.Run("registration", func(t *testing.T) {
		register := func(meta map[string]any) answer {
			body, _ := json.Marshal(meta)
			req, _ := http.NewRequest(http.MethodPost, base+"/v1/register", strings.NewReader(string(body)))
			req.Header.Set("Content-Type", "application/json")
			return send(t, w.httpClient(), req)
		}
		cc := []string{"client_credentials"}
		a := register(map[string]any{"token_endpoint_auth_method": "self_signed_tls_client_auth", "grant_types": cc,
			"jwks": jwksOf(t, w.another), "tls_client_certificate_bound_access_tokens": true})
		if a.status != http.StatusCreated || a.str("client_secret") != "" || a.body["tls_client_certificate_bound_access_tokens"] != true {
			t.Fatalf("self-signed registration: %d %s", a.status, a.raw)
		}
		// The registered client authenticates with its certificate.
		if _, err := tokenFor(t, a.str("client_id"), w.another); err != nil {
			t.Fatalf("token for the registered client: %v", err)
		}
		a = register(map[string]any{"token_endpoint_auth_method": "tls_client_auth", "grant_types": cc, "tls_client_auth_san_email": "ops@client.example"})
		if a.status != http.StatusCreated || a.str("tls_client_auth_san_email") != "ops@client.example" {
			t.Fatalf("PKI registration: %d %s", a.status, a.raw)
		}
		for name, meta := range map[string]map[string]any{
			"tls_client_auth without a subject":    {"token_endpoint_auth_method": "tls_client_auth", "grant_types": cc},
			"tls_client_auth with two subjects":    {"token_endpoint_auth_method": "tls_client_auth", "grant_types": cc, "tls_client_auth_san_dns": "a.example", "tls_client_auth_san_ip": "192.0.2.1"},
			"a subject DN that is not RFC 4514":    {"token_endpoint_auth_method": "tls_client_auth", "grant_types": cc, "tls_client_auth_subject_dn": "pki-client"},
			"a SAN IP that is not an address":      {"token_endpoint_auth_method": "tls_client_auth", "grant_types": cc, "tls_client_auth_san_ip": "client.example"},
			"a subject with a secret method":       {"token_endpoint_auth_method": "client_secret_basic", "grant_types": cc, "tls_client_auth_san_dns": "a.example"},
			"self-signed without keys":             {"token_endpoint_auth_method": "self_signed_tls_client_auth", "grant_types": cc},
			"self-signed with keys but no x5c":     {"token_endpoint_auth_method": "self_signed_tls_client_auth", "grant_types": cc, "jwks": keysWithoutCertificates(t, w.another)},
			"bound tokens flag that is not a bool": {"grant_types": cc, "tls_client_certificate_bound_access_tokens": "yes"},
		} {
			wantRFCError(t, name, register(meta), http.StatusBadRequest, "invalid_client_metadata")
		}
	})
}

// keysWithoutCertificates is a JWK Set of c's key alone, without x5c.
func keysWithoutCertificates(tb testing.TB, c tls.Certificate) json.RawMessage {
	tb.Helper()
	raw, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: c.Leaf.PublicKey}}})
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

func mustRequest(tb testing.TB, u string) *http.Request {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return req
}

// TestMTLSProxyHeader is RFC 8705 behind a proxy that terminated TLS: the
// certificate in server.mtls.proxy_header, URL-encoded PEM as nginx's
// $ssl_client_escaped_cert, is believed from a trusted proxy address only;
// a malformed one is an RFC error, not a 500.
func TestMTLSProxyHeader(t *testing.T) {
	t.Parallel()
	w := newMTLSWorld(t)
	const header = "X-Client-Cert"
	trusted := startLive(t, func(c *config.Config) {
		c.Server.MTLS = config.MTLS{Enabled: true, ClientCAFiles: []string{w.caFile}, ProxyHeader: header, TrustedProxies: []string{"127.0.0.0/8", "::1"}}
	})
	w.mtlsClients(t, trusted)
	// The same, but the proxy is elsewhere: the test's requests come from
	// loopback, an address that may not set the header.
	untrusted := startLive(t, func(c *config.Config) {
		c.Server.MTLS = config.MTLS{Enabled: true, ClientCAFiles: []string{w.caFile}, ProxyHeader: header, TrustedProxies: []string{"192.0.2.10"}}
	})
	w.mtlsClients(t, untrusted)
	ctx := context.Background()
	plain := &http.Client{Timeout: 10 * time.Second}
	certHeader := func(c tls.Certificate) http.Header { return http.Header{header: {escapedPEM(c)}} }

	t.Run("success from the trusted proxy", func(t *testing.T) {
		for id, cert := range map[string]tls.Certificate{"pki-dn": w.pki, "self": w.selfSigned} {
			a := post(t, plain, trusted.base+"/v1/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}}, certHeader(cert))
			if a.status != http.StatusOK {
				t.Fatalf("%s: %d %s", id, a.status, a.raw)
			}
			tok := a.str("access_token")
			if cnfOf(t, claimsOf(t, tok)) != thumbprint(cert) {
				t.Fatalf("%s: access token not bound: %s", id, a.raw)
			}
			h := bearer(tok)
			h.Set(header, escapedPEM(cert))
			wantRFCError(t, id+": userinfo with the certificate", get(t, plain, trusted.base+"/v1/userinfo", h), http.StatusForbidden, "insufficient_scope")
			wantRFCError(t, id+": userinfo without the certificate", get(t, plain, trusted.base+"/v1/userinfo", bearer(tok)), http.StatusUnauthorized, "invalid_token")
			h.Set(header, escapedPEM(w.otherDN))
			wantRFCError(t, id+": userinfo with another certificate", get(t, plain, trusted.base+"/v1/userinfo", h), http.StatusUnauthorized, "invalid_token")
		}
		// x/oauth2 with the header added by a transport, as a sidecar would.
		cc := clientcredentials.Config{ClientID: "pki-san", TokenURL: trusted.base + "/v1/token", AuthStyle: oauth2.AuthStyleInParams}
		hc := &http.Client{Transport: headerTransport{header: header, value: escapedPEM(w.sanCert)}}
		if _, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, hc)); err != nil {
			t.Fatalf("clientcredentials through the header: %v", err)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		before := trusted.snapshot(t)
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"pki-dn"}}
		pemText := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.pki.Certificate[0]}))
		for name, value := range map[string]string{
			"bad percent-encoding":    "%zz" + escapedPEM(w.pki),
			"not PEM":                 "hello",
			"PEM of a key":            url.PathEscape(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}))),
			"PEM that is not a cert":  url.PathEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}))),
			"trailing garbage":        url.PathEscape(pemText + "garbage"),
			"form-encoded spaces (+)": url.QueryEscape(pemText),
		} {
			a := post(t, plain, trusted.base+"/v1/token", form, http.Header{header: {value}})
			wantRFCError(t, name, a, http.StatusBadRequest, "invalid_request")
		}
		wantRFCError(t, "rogue CA through the proxy",
			post(t, plain, trusted.base+"/v1/token", form, certHeader(w.rogueCert)), http.StatusUnauthorized, "invalid_client")
		unchanged(t, before, trusted.snapshot(t))

		// From an address that is not a trusted proxy the header is not
		// read at all: no certificate, so no mutual TLS client gets in.
		a := post(t, plain, untrusted.base+"/v1/token", form, certHeader(w.pki))
		wantRFCError(t, "header from an untrusted address", a, http.StatusUnauthorized, "invalid_client")
		if !strings.Contains(a.str("error_description"), "no client certificate") {
			t.Errorf("untrusted header: %s", a.raw)
		}
		a = post(t, plain, untrusted.base+"/v1/token", form, http.Header{header: {"%zz"}})
		wantRFCError(t, "malformed header from an untrusted address (ignored)", a, http.StatusUnauthorized, "invalid_client")
	})
}

type headerTransport struct{ header, value string }

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(h.header, h.value)
	return http.DefaultTransport.RoundTrip(r)
}
