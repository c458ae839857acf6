// Package mtls is the client-certificate side of RFC 8705: where a
// request's client certificate comes from (the server's own TLS
// connection, or a header set by a trusted proxy), whether it
// authenticates a client (PKI, §2.1, or self-signed, §2.2), and the
// certificate thumbprint that binds access tokens to it (§3).
package mtls

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/config"
)

// Certificate is the client certificate of a request, with the
// intermediates that came with it.
type Certificate struct {
	Leaf          *x509.Certificate
	Intermediates []*x509.Certificate
	// roots are server.mtls.client_ca_files (nil: none).
	roots *x509.CertPool
}

// Thumbprint is the certificate's x5t#S256 (RFC 8705 §3.1): the
// base64url SHA-256 of its DER encoding.
func Thumbprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Thumbprint is the leaf's x5t#S256.
func (c *Certificate) Thumbprint() string { return Thumbprint(c.Leaf) }

// Source finds requests' client certificates. Its Middleware must run
// before any handler asks Peer.
type Source struct {
	header  string
	proxies []netip.Prefix
	roots   *x509.CertPool
}

// New returns the source configured by cfg (server.mtls), or nil when
// mutual TLS is off.
func New(cfg config.MTLS) (*Source, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	roots, err := cfg.ClientCAs()
	if err != nil {
		return nil, fmt.Errorf("mtls: %w", err)
	}
	proxies, err := cfg.Proxies()
	if err != nil {
		return nil, fmt.Errorf("mtls: trusted proxies: %w", err)
	}
	return &Source{header: cfg.ProxyHeader, proxies: proxies, roots: roots}, nil
}

// Certificate is leaf with its intermediates as a client certificate
// of s (for tests of the matching rules).
func (s *Source) Certificate(leaf *x509.Certificate, intermediates []*x509.Certificate) *Certificate {
	return &Certificate{Leaf: leaf, Intermediates: intermediates, roots: s.roots}
}

type peerKey struct{}

// peer is what Middleware found: a certificate, or why the one sent
// could not be read.
type peer struct {
	cert *Certificate
	err  error
}

// ErrMalformed is a certificate header from a trusted proxy that does
// not hold one certificate in URL-encoded PEM.
var ErrMalformed = errors.New("mtls: the client certificate header is malformed")

// Middleware records the request's client certificate: the one of the
// TLS connection, else the proxy header's, believed only when the
// connection comes from a trusted proxy (from anyone else it is ignored,
// as a client could write any certificate in it).
func (s *Source) Middleware(c *fiber.Ctx) error {
	if st := c.Context().TLSConnectionState(); st != nil && len(st.PeerCertificates) > 0 {
		c.Locals(peerKey{}, peer{cert: &Certificate{Leaf: st.PeerCertificates[0], Intermediates: st.PeerCertificates[1:], roots: s.roots}})
		return c.Next()
	}
	if s.header == "" {
		return c.Next()
	}
	value := c.Get(s.header)
	if value == "" {
		return c.Next()
	}
	if !s.trusted(c) {
		slog.DebugContext(c.UserContext(), "client certificate header from an untrusted address ignored",
			"remote", c.Context().RemoteIP().String())
		return c.Next()
	}
	cert, err := ParseHeader(value)
	if err != nil {
		c.Locals(peerKey{}, peer{err: err})
		return c.Next()
	}
	cert.roots = s.roots
	c.Locals(peerKey{}, peer{cert: cert})
	return c.Next()
}

func (s *Source) trusted(c *fiber.Ctx) bool {
	addr, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok {
		return false
	}
	addr = addr.Unmap()
	for _, p := range s.proxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// maxHeader bounds the header's length, a certificate chain's worth.
const maxHeader = 32 << 10

// ParseHeader reads a proxy's certificate header, URL-encoded PEM: the
// leaf, then any intermediates. Its errors are ErrMalformed.
func ParseHeader(value string) (*Certificate, error) {
	if len(value) > maxHeader {
		return nil, fmt.Errorf("%w: over %d bytes", ErrMalformed, maxHeader)
	}
	// PathUnescape, not QueryUnescape: a '+' of the base64 body is a '+'.
	decoded, err := url.PathUnescape(strings.TrimSpace(value))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	var certs []*x509.Certificate
	rest := []byte(decoded)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%w: a PEM block of type %q", ErrMalformed, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 || strings.TrimSpace(string(rest)) != "" {
		return nil, fmt.Errorf("%w: not PEM certificates", ErrMalformed)
	}
	return &Certificate{Leaf: certs[0], Intermediates: certs[1:]}, nil
}

// Peer is the request's client certificate: nil when there is none (or
// mutual TLS is off), ErrMalformed when a trusted proxy sent one that
// could not be read.
func Peer(c *fiber.Ctx) (*Certificate, error) {
	p, _ := c.Locals(peerKey{}).(peer)
	return p.cert, p.err
}
