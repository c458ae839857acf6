package mtls

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

// VerifyPKI is RFC 8705 §2.1: the certificate chains to one of
// server.mtls.client_ca_files, is valid now and for client
// authentication, and its subject DN or subject alternative name is the
// one the client registered (exactly one of the tls_client_auth_*
// metadata). The error says which check failed, for the log.
func (c *Certificate) VerifyPKI(m *store.ClientMetadata) error {
	if c.roots == nil {
		return errors.New("mtls: no client CAs are configured (server.mtls.client_ca_files)")
	}
	inter := x509.NewCertPool()
	for _, ic := range c.Intermediates {
		inter.AddCert(ic)
	}
	if _, err := c.Leaf.Verify(x509.VerifyOptions{
		Roots: c.roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return fmt.Errorf("mtls: certificate chain: %w", err)
	}
	return matchSubject(c.Leaf, m)
}

func matchSubject(leaf *x509.Certificate, m *store.ClientMetadata) error {
	switch {
	case m.TLSClientAuthSubjectDN != "":
		want, err := ParseDN(m.TLSClientAuthSubjectDN)
		if err != nil {
			return err
		}
		if !equalDN(want, leaf.Subject.ToRDNSequence()) {
			return fmt.Errorf("mtls: subject %q is not the registered %q", leaf.Subject.String(), m.TLSClientAuthSubjectDN)
		}
		return nil
	case m.TLSClientAuthSANDNS != "":
		for _, n := range leaf.DNSNames {
			if strings.EqualFold(n, m.TLSClientAuthSANDNS) {
				return nil
			}
		}
		return fmt.Errorf("mtls: no dNSName SAN is %q", m.TLSClientAuthSANDNS)
	case m.TLSClientAuthSANURI != "":
		for _, u := range leaf.URIs {
			if u.String() == m.TLSClientAuthSANURI {
				return nil
			}
		}
		return fmt.Errorf("mtls: no uniformResourceIdentifier SAN is %q", m.TLSClientAuthSANURI)
	case m.TLSClientAuthSANIP != "":
		want, err := netip.ParseAddr(m.TLSClientAuthSANIP)
		if err != nil {
			return fmt.Errorf("mtls: registered tls_client_auth_san_ip: %w", err)
		}
		for _, ip := range leaf.IPAddresses {
			if got, ok := netip.AddrFromSlice(ip); ok && got.Unmap() == want.Unmap() {
				return nil
			}
		}
		return fmt.Errorf("mtls: no iPAddress SAN is %s", want)
	case m.TLSClientAuthSANEmail != "":
		for _, e := range leaf.EmailAddresses {
			if strings.EqualFold(e, m.TLSClientAuthSANEmail) {
				return nil
			}
		}
		return fmt.Errorf("mtls: no rfc822Name SAN is %q", m.TLSClientAuthSANEmail)
	}
	return errors.New("mtls: the client registered no subject to match")
}

// MatchesKeys is RFC 8705 §2.2: a self-signed certificate authenticates
// the client when it is one the client registered in its JWK Set, as the
// first certificate of a key's x5c or by the key's x5t#S256. The chain is
// not validated: the registration is the trust.
func (c *Certificate) MatchesKeys(keys []jose.JSONWebKey) bool {
	sum := sha256.Sum256(c.Leaf.Raw)
	for _, k := range keys {
		if len(k.Certificates) > 0 && bytes.Equal(k.Certificates[0].Raw, c.Leaf.Raw) {
			return true
		}
		if len(k.CertificateThumbprintSHA256) == sha256.Size && bytes.Equal(k.CertificateThumbprintSHA256, sum[:]) {
			return true
		}
	}
	return false
}
