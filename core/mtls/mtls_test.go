package mtls_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/mtls"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

func cert(t *testing.T, tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// TestVerifyPKI: RFC 8705 §2.1.2's subject DN and SAN matching, on a
// certificate of a configured CA.
func TestVerifyPKI(t *testing.T) {
	ca, caKey := cert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "CA"}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	u, _ := url.Parse("spiffe://example.org/client")
	leaf, _ := cert(t, &x509.Certificate{
		Subject:        pkix.Name{CommonName: "pki-client", Organization: []string{"Gatehouse, Test"}, Country: []string{"NL"}},
		DNSNames:       []string{"svc.client.example"},
		URIs:           []*url.URL{u},
		IPAddresses:    []net.IP{net.ParseIP("192.0.2.7")},
		EmailAddresses: []string{"ops@client.example"},
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, caKey)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := mtls.New(config.MTLS{Enabled: true, ClientCAFiles: []string{caFile}})
	if err != nil {
		t.Fatal(err)
	}
	c := src.Certificate(leaf, nil)
	for _, tc := range []struct {
		name string
		meta store.ClientMetadata
		ok   bool
	}{
		{"DN", store.ClientMetadata{TLSClientAuthSubjectDN: `CN=pki-client,O=Gatehouse\, Test,C=NL`}, true},
		{"DN, keywords in any case, spaces", store.ClientMetadata{TLSClientAuthSubjectDN: `cn=PKI-Client, o=Gatehouse\2C Test, c=nl`}, true},
		{"DN by OID", store.ClientMetadata{TLSClientAuthSubjectDN: `2.5.4.3=pki-client,O=Gatehouse\, Test,C=NL`}, true},
		{"DN in the wrong order", store.ClientMetadata{TLSClientAuthSubjectDN: `C=NL,O=Gatehouse\, Test,CN=pki-client`}, false},
		{"DN missing an RDN", store.ClientMetadata{TLSClientAuthSubjectDN: `CN=pki-client,C=NL`}, false},
		{"DN of another", store.ClientMetadata{TLSClientAuthSubjectDN: `CN=other,O=Gatehouse\, Test,C=NL`}, false},
		{"SAN DNS", store.ClientMetadata{TLSClientAuthSANDNS: "SVC.client.example"}, true},
		{"SAN DNS other", store.ClientMetadata{TLSClientAuthSANDNS: "client.example"}, false},
		{"SAN URI", store.ClientMetadata{TLSClientAuthSANURI: "spiffe://example.org/client"}, true},
		{"SAN URI other", store.ClientMetadata{TLSClientAuthSANURI: "spiffe://example.org/other"}, false},
		{"SAN IP", store.ClientMetadata{TLSClientAuthSANIP: "192.0.2.7"}, true},
		{"SAN IP other", store.ClientMetadata{TLSClientAuthSANIP: "192.0.2.8"}, false},
		{"SAN email", store.ClientMetadata{TLSClientAuthSANEmail: "ops@client.example"}, true},
		{"SAN email other", store.ClientMetadata{TLSClientAuthSANEmail: "dev@client.example"}, false},
		{"nothing registered", store.ClientMetadata{}, false},
	} {
		err := c.VerifyPKI(&tc.meta)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	self, _ := cert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "pki-client"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, nil, nil)
	if err := src.Certificate(self, nil).VerifyPKI(&store.ClientMetadata{TLSClientAuthSubjectDN: "CN=pki-client"}); err == nil {
		t.Error("a self-signed certificate passed as the CA's")
	}
}

func TestParseDNRefuses(t *testing.T) {
	for _, dn := range []string{"", "pki-client", "CN=a,=b", "XX=a", "CN=#0403", `CN=a\`} {
		if _, err := mtls.ParseDN(dn); err == nil {
			t.Errorf("%q accepted", dn)
		}
	}
}
