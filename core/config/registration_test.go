package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/config"
)

// TestRedirectURIPatterns: registration.redirect_uri_patterns are URL
// patterns (core/urlpattern); the whole-string globs they replace, and
// anything else the matcher cannot read, are refused with the reason.
func TestRedirectURIPatterns(t *testing.T) {
	load := func(t *testing.T, patterns string) error {
		t.Helper()
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte("registration:\n  redirect_uri_patterns: "+patterns+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := config.Load(gatehouse.DefaultConfig, path)
		return err
	}
	if err := load(t, `["https://*.example.com/callback", "http://localhost:*/callback", "com.example.app:/oauth2redirect", "cursor://*/callback"]`); err != nil {
		t.Fatal(err)
	}
	err := load(t, `["", "*", "https://app-*.example.com/cb", "https://*.example.com/cb?x=1", "https://app.example.com/a/../cb"]`)
	if err == nil {
		t.Fatal("Load accepted malformed patterns")
	}
	for _, want := range []string{
		`registration.redirect_uri_patterns[0]: "" is empty`,
		`registration.redirect_uri_patterns[1]: "*" must be an absolute URL`,
		`registration.redirect_uri_patterns[2]: "https://app-*.example.com/cb" host label "app-*": a wildcard must be a whole label`,
		`registration.redirect_uri_patterns[3]: "https://*.example.com/cb?x=1" has a query or fragment`,
		`registration.redirect_uri_patterns[4]: "https://app.example.com/a/../cb" has a dot segment`,
		"want a URL pattern such as https://*.example.com/callback",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestRedirectErrors: authorization.redirect_errors names client kinds; the
// embedded configuration redirects errors of registered clients only.
func TestRedirectErrors(t *testing.T) {
	cfg, err := config.Load(gatehouse.DefaultConfig, "")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Authorization.RedirectErrors, ",") != "registered" {
		t.Errorf("redirect_errors %v, want [registered]", cfg.Authorization.RedirectErrors)
	}
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("authorization:\n  redirect_errors: [registered, everyone]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = config.Load(gatehouse.DefaultConfig, path)
	if want := `authorization.redirect_errors[1]: must be a client kind, registered or dynamic, got "everyone"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Load = %v, want %q", err, want)
	}
}

// TestCustomScopes: registration.custom_scopes are single RFC 6749 §3.3
// scope values; the embedded configuration offers none beyond the standard.
func TestCustomScopes(t *testing.T) {
	cfg, err := config.Load(gatehouse.DefaultConfig, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.RegistrableScopes().Sorted(), " "); got != "email offline_access openid profile" {
		t.Errorf("registrable scopes %q, want the standard ones", got)
	}
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("registration:\n  custom_scopes: [catalog.read, \"a b\", \"\", \"q\\\"\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = config.Load(gatehouse.DefaultConfig, path)
	if err == nil {
		t.Fatal("Load accepted malformed custom scopes")
	}
	for _, want := range []string{"registration.custom_scopes[1]", "registration.custom_scopes[2]", "registration.custom_scopes[3]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "custom_scopes[0]") {
		t.Errorf("catalog.read refused:\n%v", err)
	}
}

// TestClientIDDocumentsConfig: the embedded configuration turns client ID
// metadata documents on for any https URL with the draft's 5 KB cap;
// bad values of the section, and an unreadable outbound.ca_file, are
// refused with the key.
func TestClientIDDocumentsConfig(t *testing.T) {
	cfg, err := config.Load(gatehouse.DefaultConfig, "")
	if err != nil {
		t.Fatal(err)
	}
	if d := cfg.ClientIDDocuments; !d.Enabled || len(d.AllowedClientIDs) != 0 || d.MaxBytes != 5120 || d.MinTTL > d.DefaultTTL || d.DefaultTTL > d.MaxTTL {
		t.Errorf("client_id_metadata_documents %+v", d)
	}
	path := filepath.Join(t.TempDir(), "c.yaml")
	yaml := `client_id_metadata_documents:
  allowed_client_ids: ["http://app.example.com/**", "https://app-*.example.com/x"]
  max_bytes: 10
  timeout: 0s
  min_ttl: 1h
  default_ttl: 5m
  cache_entries: 0
outbound:
  ca_file: /nonexistent/ca.pem
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = config.Load(gatehouse.DefaultConfig, path)
	if err == nil {
		t.Fatal("Load accepted a bad client_id_metadata_documents section")
	}
	for _, want := range []string{
		`client_id_metadata_documents.allowed_client_ids[0]: "http://app.example.com/**" must be an https pattern`,
		`client_id_metadata_documents.allowed_client_ids[1]: "https://app-*.example.com/x" host label "app-*"`,
		"client_id_metadata_documents.max_bytes: must be between 256 and 1048576, got 10",
		"client_id_metadata_documents.timeout: must be a positive duration",
		"client_id_metadata_documents.min_ttl: need 0 <= min_ttl <= default_ttl <= max_ttl",
		"client_id_metadata_documents.cache_entries: must be positive",
		"outbound.ca_file: cannot read the CA file",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
}

// TestTokenResources: tokens.resources holds absolute URIs and URL
// patterns; the embedded configuration admits loopback resource servers
// only.
func TestTokenResources(t *testing.T) {
	cfg, err := config.Load(gatehouse.DefaultConfig, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range cfg.Tokens.Resources {
		if !strings.HasPrefix(r, "http://localhost:") && !strings.HasPrefix(r, "http://127.0.0.1:") && !strings.HasPrefix(r, "http://[::1]:") {
			t.Errorf("embedded tokens.resources admits %q, not a loopback server", r)
		}
	}
	path := filepath.Join(t.TempDir(), "c.yaml")
	body := "tokens:\n  resources: [https://api.example.com, urn:example:api, \"https://*.example.com/mcp\", /relative, \"https://x.example.com/#f\", \"https://api-*.example.com\"]\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = config.Load(gatehouse.DefaultConfig, path)
	if err == nil {
		t.Fatal("Load accepted malformed resources")
	}
	for i, refused := range []bool{false, false, false, true, true, true} {
		if got := strings.Contains(err.Error(), fmt.Sprintf("tokens.resources[%d]", i)); got != refused {
			t.Errorf("tokens.resources[%d] refused %v, want %v:\n%v", i, got, refused, err)
		}
	}
}
