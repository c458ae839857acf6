package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
)

// TLS is server.tls: Gatehouse's own TLS listener. Client certificates
// are requested, never required (tls.RequestClientCert), so clients
// without one still connect; what a certificate is worth is decided per
// client at client authentication (RFC 8705 §2), not in the handshake,
// where a self-signed certificate would be refused.
type TLS struct {
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
}

// Enabled reports whether the server listens with TLS.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Config loads the certificate and key into a server TLS configuration
// that asks clients for a certificate without requiring one.
func (t TLS) Config() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("server.tls: %w", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequestClientCert,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// MTLS is server.mtls: mutual TLS client authentication and certificate-
// bound access tokens (RFC 8705). The client certificate arrives on
// server.tls's connections, or from a reverse proxy that terminated TLS,
// in ProxyHeader, believed only from TrustedProxies.
type MTLS struct {
	Enabled bool `koanf:"enabled"`
	// ClientCAFiles are PEM files of the CAs that issue tls_client_auth
	// certificates (RFC 8705 §2.1); without them only
	// self_signed_tls_client_auth is offered.
	ClientCAFiles []string `koanf:"client_ca_files"`
	// ProxyHeader names the request header a proxy puts the client's
	// certificate in, URL-encoded PEM (nginx's $ssl_client_escaped_cert).
	ProxyHeader string `koanf:"proxy_header"`
	// TrustedProxies are the addresses or CIDR prefixes of the proxies
	// whose ProxyHeader is believed; from any other peer it is ignored.
	TrustedProxies []string `koanf:"trusted_proxies"`
}

// ClientCAs is the pool of ClientCAFiles (nil when none are set).
func (m MTLS) ClientCAs() (*x509.CertPool, error) {
	if len(m.ClientCAFiles) == 0 {
		return nil, nil
	}
	pool := x509.NewCertPool()
	for _, f := range m.ClientCAFiles {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("client CA file: %w", err)
		}
		n := 0
		for block, rest := pem.Decode(raw); block != nil; block, rest = pem.Decode(rest) {
			if block.Type != "CERTIFICATE" {
				continue
			}
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("client CA file %s: %w", f, err)
			}
			pool.AddCert(cert)
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("client CA file %s holds no PEM certificate", f)
		}
	}
	return pool, nil
}

// Proxies parses TrustedProxies: an address is a prefix of its full length.
func (m MTLS) Proxies() ([]netip.Prefix, error) {
	var (
		out  []netip.Prefix
		errs []error
	)
	for _, p := range m.TrustedProxies {
		if strings.Contains(p, "/") {
			pfx, err := netip.ParsePrefix(p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, pfx.Masked())
			continue
		}
		addr, err := netip.ParseAddr(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen()))
	}
	return out, errors.Join(errs...)
}

// Client authentication methods of RFC 8705 §2.
const (
	MethodTLSClientAuth           = "tls_client_auth"
	MethodSelfSignedTLSClientAuth = "self_signed_tls_client_auth"
)

// MTLSMethods are the RFC 8705 client authentication methods the server
// offers: none unless server.mtls is enabled, and tls_client_auth only
// with CAs to check its certificates against.
func (c *Config) MTLSMethods() []string {
	if !c.Server.MTLS.Enabled {
		return nil
	}
	if len(c.Server.MTLS.ClientCAFiles) == 0 {
		return []string{MethodSelfSignedTLSClientAuth}
	}
	return []string{MethodTLSClientAuth, MethodSelfSignedTLSClientAuth}
}

func (s *Server) validateTLS() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("server.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if s.TLS.Enabled() {
		if s.TLS.CertFile == "" || s.TLS.KeyFile == "" {
			bad("tls", "cert_file and key_file go together")
		} else if _, err := s.TLS.Config(); err != nil {
			bad("tls", "%v", err)
		}
	}
	m := s.MTLS
	if _, err := m.ClientCAs(); err != nil {
		bad("mtls.client_ca_files", "%v", err)
	}
	if _, err := m.Proxies(); err != nil {
		bad("mtls.trusted_proxies", "must be IP addresses or CIDR prefixes: %v", err)
	}
	if strings.ContainsAny(m.ProxyHeader, " \t\r\n:") {
		bad("mtls.proxy_header", "must be a header name, got %q", m.ProxyHeader)
	}
	if (m.ProxyHeader == "") != (len(m.TrustedProxies) == 0) {
		bad("mtls", "proxy_header and trusted_proxies go together: a certificate header is believed only from listed proxies")
	}
	if m.Enabled && !s.TLS.Enabled() && m.ProxyHeader == "" {
		bad("mtls.enabled", "needs server.tls or mtls.proxy_header: the client certificate must arrive somehow")
	}
	return errs
}
