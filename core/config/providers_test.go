package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/config"
)

func loadYAML(t *testing.T, yaml string) (*config.Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return config.Load(gatehouse.DefaultConfig, path)
}

func TestProvidersDefaults(t *testing.T) {
	cfg, err := config.Load(gatehouse.DefaultConfig, "")
	if err != nil {
		t.Fatal(err)
	}
	// Backstage's refresh cookie lasts 1000 days.
	if cfg.Tokens.ProviderSessionTTL != 1000*24*time.Hour {
		t.Errorf("tokens.provider_session_ttl %s", cfg.Tokens.ProviderSessionTTL)
	}
	if len(cfg.Providers) != 0 || cfg.Bridge.Enabled || cfg.Bridge.GrantTTL != 90*24*time.Hour || cfg.Bridge.RevokePerMinute != 10 {
		t.Errorf("providers %v bridge %+v", cfg.Providers, cfg.Bridge)
	}
}

func TestProvidersLoad(t *testing.T) {
	cfg, err := loadYAML(t, `
server: {app_url: "https://backstage.example.com/app", cors_origins: ["https://other.example.com"]}
providers:
  github:
    development:
      type: oauth2
      client_id: abc
      client_secret: s3cret
      scopes: [read:user, user:email]
      authorize_url: https://github.com/login/oauth/authorize
      token_url: https://github.com/login/oauth/access_token
      userinfo_url: https://api.github.com/user
      emails_url: https://api.github.com/user/emails
      session_duration: 168h
  corp:
    production:
      type: oidc
      client_id: gatehouse
      issuer: https://login.example.com
      callback_url: https://auth.example.com/api/auth/corp/handler/frame
`)
	if err != nil {
		t.Fatal(err)
	}
	gh := cfg.Providers["github"]["development"]
	if gh.Type != config.ProviderOAuth2 || gh.ClientSecret != "s3cret" || gh.EmailsURL != "https://api.github.com/user/emails" || !slices.Equal(gh.Scopes, []string{"read:user", "user:email"}) {
		t.Errorf("github %+v", gh)
	}
	if cfg.SessionTTL(gh) != 168*time.Hour || cfg.SessionTTL(cfg.Providers["corp"]["production"]) != cfg.Tokens.ProviderSessionTTL {
		t.Errorf("session lifetimes %s, %s", cfg.SessionTTL(gh), cfg.SessionTTL(cfg.Providers["corp"]["production"]))
	}
	if cfg.Providers["corp"]["production"].Issuer != "https://login.example.com" {
		t.Errorf("corp %+v", cfg.Providers["corp"])
	}
	if got := cfg.AppOrigins(); !slices.Equal(got, []string{"https://backstage.example.com", "https://other.example.com"}) {
		t.Errorf("app origins %v", got)
	}
}

// TestProvidersGuestType: a type guest entry needs no client or URLs, but
// cannot back the bridge (it has no upstream grant), nor take the id of
// the guest section's routes.
func TestProvidersGuestType(t *testing.T) {
	cfg, err := loadYAML(t, `
providers:
  local:
    development: {type: guest, display_name: Continue as guest}
`)
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Providers["local"]["development"]; p.Type != config.ProviderGuest || p.DisplayName != "Continue as guest" {
		t.Errorf("local %+v", p)
	}
	_, err = loadYAML(t, `
providers:
  local:
    development: {type: guest}
  guest:
    development: {type: guest}
bridge: {enabled: true, provider: local, env: development}
`)
	if err == nil {
		t.Fatal("guest bridge accepted")
	}
	for _, want := range []string{
		`bridge.provider: must name an upstream (oidc or oauth2) provider, "local" is of type guest`,
		"providers.guest: is not a usable provider id",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
}

func TestProvidersInvalid(t *testing.T) {
	_, err := loadYAML(t, `
providers:
  guest:
    development: {type: oidc, client_id: x, issuer: https://a.example}
  Bad/Id:
    development: {type: oidc, client_id: x, issuer: https://a.example}
  empty: {}
  corp:
    development: {type: saml}
    production: {type: oidc, client_id: x, issuer: "not a url", callback_url: "/relative", emails_url: https://api.example.com/user/emails}
    staging: {type: oauth2, client_id: x, emails_url: "api.example.com/user/emails", session_duration: -1h}
tokens: {provider_session_ttl: 0s}
bridge: {enabled: true, provider: corp, env: nowhere, grant_ttl: 0s, revoke_per_minute: 0}
`)
	if err == nil {
		t.Fatal("invalid providers accepted")
	}
	for _, want := range []string{
		"providers.guest: is not a usable provider id",
		"providers.Bad/Id: is not a usable provider id",
		"providers.empty: must configure at least one environment",
		"providers.corp.development.type: must be oidc, oauth2 or guest",
		"providers.corp.development.client_id: must be set",
		"providers.corp.production.issuer: must be an absolute",
		"providers.corp.production.callback_url: must be an absolute",
		"providers.corp.staging.authorize_url: must be set",
		"providers.corp.staging.token_url: must be set",
		"providers.corp.staging.userinfo_url: must be set",
		"providers.corp.production.emails_url: is for type oauth2 providers only",
		`providers.corp.staging.emails_url: must be an absolute http(s) URL without fragment, got "api.example.com/user/emails"`,
		"providers.corp.staging.session_duration: must not be negative",
		"tokens.provider_session_ttl: must be a positive duration",
		"bridge.provider: must name a configured provider",
		"bridge.grant_ttl: must be a positive duration",
		"bridge.revoke_per_minute: must be positive",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
}
