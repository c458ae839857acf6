package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/config"
)

// TestMTLSConfig: server.tls and server.mtls are off by default, and every
// problem with them is reported at once, by key.
func TestMTLSConfig(t *testing.T) {
	cfg, err := config.Load(gatehouse.DefaultConfig, "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.TLS.Enabled() || cfg.Server.MTLS.Enabled || cfg.MTLSMethods() != nil {
		t.Fatalf("mutual TLS is on by default: %+v %+v", cfg.Server.TLS, cfg.Server.MTLS)
	}
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "c.yaml")
	yaml := `server:
  tls:
    cert_file: ` + filepath.Join(dir, "missing.pem") + `
  mtls:
    enabled: true
    client_ca_files: [` + notPEM + `]
    proxy_header: "X-Client Cert"
    trusted_proxies: ["10.0.0.0/33", "proxy.example"]
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = config.Load(gatehouse.DefaultConfig, path)
	if err == nil {
		t.Fatal("Load accepted a broken server.tls and server.mtls")
	}
	for _, want := range []string{
		"server.tls: cert_file and key_file go together",
		"server.mtls.client_ca_files: client CA file " + notPEM + " holds no PEM certificate",
		"server.mtls.trusted_proxies: must be IP addresses or CIDR prefixes",
		"server.mtls.proxy_header: must be a header name",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}

	// Enabled with nowhere for a certificate to come from.
	if err := os.WriteFile(path, []byte("server:\n  mtls:\n    enabled: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(gatehouse.DefaultConfig, path); err == nil || !strings.Contains(err.Error(), "server.mtls.enabled: needs server.tls or mtls.proxy_header") {
		t.Errorf("mtls without a source: %v", err)
	}
	// A header without the proxies it may come from.
	if err := os.WriteFile(path, []byte("server:\n  mtls:\n    enabled: true\n    proxy_header: X-Client-Cert\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(gatehouse.DefaultConfig, path); err == nil || !strings.Contains(err.Error(), "proxy_header and trusted_proxies go together") {
		t.Errorf("proxy_header without trusted_proxies: %v", err)
	}
}
