package config

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"time"
)

// Sign-in provider types.
const (
	// ProviderOIDC is a generic OpenID Connect provider: endpoints found by
	// discovery at Issuer, the ID token verified (OIDC Core §3.1.3.7).
	ProviderOIDC = "oidc"
	// ProviderOAuth2 is a generic OAuth 2.0 provider whose profile comes
	// from a userinfo URL (GitHub, for one).
	ProviderOAuth2 = "oauth2"
	// ProviderGuest has no upstream: its start answers at once and signs
	// in the user of the guest section (user_entity_ref, ownership), as
	// Backstage's guest provider does, through the same routes (start,
	// handler/frame, refresh, logout) and Backstage payload as the others.
	ProviderGuest = "guest"
)

// Provider is one environment of an upstream sign-in provider, as
// Backstage configures auth.providers.<id>.<env>.
type Provider struct {
	// Type is oidc, oauth2 or guest.
	Type string `koanf:"type"`
	// DisplayName labels the provider's button on the pages.
	DisplayName  string `koanf:"display_name"`
	ClientID     string `koanf:"client_id"`
	ClientSecret string `koanf:"client_secret"`
	// Scopes asked of the upstream; oidc always adds openid. The scope
	// parameter of /start and /refresh adds to them.
	Scopes []string `koanf:"scopes"`
	// Issuer is the OpenID provider's issuer (oidc): its endpoints come
	// from {issuer}/.well-known/openid-configuration.
	Issuer string `koanf:"issuer"`
	// AuthorizeURL, TokenURL and UserinfoURL are the oauth2 endpoints.
	AuthorizeURL string `koanf:"authorize_url"`
	TokenURL     string `koanf:"token_url"`
	UserinfoURL  string `koanf:"userinfo_url"`
	// EmailsURL (oauth2, optional) lists the account's addresses as
	// GitHub's GET /user/emails does ([{email, primary, verified}]): the
	// primary verified one becomes the profile's email, with
	// email_verified true; none such leaves email_verified false.
	EmailsURL string `koanf:"emails_url"`
	// CallbackURL is the redirect URI registered at the upstream; empty
	// means {issuer}/{provider}/handler/frame.
	CallbackURL string `koanf:"callback_url"`
	// SessionDuration is how long a sign-in through this environment
	// lasts: its provider session and refresh cookie (Backstage's
	// sessionDuration); 0 takes tokens.provider_session_ttl.
	SessionDuration time.Duration `koanf:"session_duration"`
}

// SessionTTL is how long a provider session of environment p lasts.
func (c *Config) SessionTTL(p Provider) time.Duration {
	if p.SessionDuration > 0 {
		return p.SessionDuration
	}
	return c.Tokens.ProviderSessionTTL
}

// Bridge is the client bridge for native apps (core/upstream): it runs
// the code flow against one provider environment once and hands the app a
// client_id/client_secret pair for the client_credentials grant.
type Bridge struct {
	Enabled bool `koanf:"enabled"`
	// Provider and Env name the upstream (an entry of providers).
	Provider string `koanf:"provider"`
	Env      string `koanf:"env"`
	// GrantTTL is how long a bridged grant lives without being used; each
	// use extends it. Expired grants are dropped (Badger TTL, gatehouse
	// bridge purge).
	GrantTTL time.Duration `koanf:"grant_ttl"`
	// RevokePerMinute bounds POST /bridge/revoke per remote address.
	RevokePerMinute int `koanf:"revoke_per_minute"`
}

// providerID is what a provider id may be: one URL path segment.
var providerID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// reservedProviderIDs are first path segments the server uses itself.
var reservedProviderIDs = []string{"guest", "v1", "oauth2", "bridge", "admin", "backchannel", "healthz", "readyz", "metrics"}

// validateProviders returns every problem in the providers section and
// the bridge.
func (c *Config) validateProviders() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	absolute := func(key, raw string, required bool) {
		if raw == "" {
			if required {
				bad(key, "must be set")
			}
			return
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
			bad(key, "must be an absolute http(s) URL without fragment, got %q", raw)
		}
	}
	ids := make([]string, 0, len(c.Providers))
	for id := range c.Providers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		key := "providers." + id
		if !providerID.MatchString(id) || slices.Contains(reservedProviderIDs, id) {
			bad(key, "is not a usable provider id (lower-case letters, digits, - and _; not one of %v)", reservedProviderIDs)
		}
		envs := c.Providers[id]
		if len(envs) == 0 {
			bad(key, "must configure at least one environment (development, production, ...)")
		}
		names := slices.Sorted(maps.Keys(envs))
		for _, env := range names {
			p := envs[env]
			k := key + "." + env
			if !providerID.MatchString(env) {
				bad(k, "is not a usable environment name")
			}
			if p.ClientID == "" && p.Type != ProviderGuest {
				bad(k+".client_id", "must be set")
			}
			absolute(k+".callback_url", p.CallbackURL, false)
			if p.EmailsURL != "" && p.Type != ProviderOAuth2 {
				bad(k+".emails_url", "is for type %s providers only", ProviderOAuth2)
			}
			if p.SessionDuration < 0 {
				bad(k+".session_duration", "must not be negative (0 takes tokens.provider_session_ttl), got %s", p.SessionDuration)
			}
			switch p.Type {
			case ProviderOIDC:
				absolute(k+".issuer", p.Issuer, true)
			case ProviderOAuth2:
				absolute(k+".authorize_url", p.AuthorizeURL, true)
				absolute(k+".token_url", p.TokenURL, true)
				absolute(k+".userinfo_url", p.UserinfoURL, true)
				absolute(k+".emails_url", p.EmailsURL, false)
			case ProviderGuest:
			default:
				bad(k+".type", "must be %s, %s or %s, got %q", ProviderOIDC, ProviderOAuth2, ProviderGuest, p.Type)
			}
		}
	}
	if c.Bridge.Enabled {
		if p, ok := c.Providers[c.Bridge.Provider][c.Bridge.Env]; !ok {
			bad("bridge.provider", "must name a configured provider and env, got %q/%q", c.Bridge.Provider, c.Bridge.Env)
		} else if p.Type == ProviderGuest {
			bad("bridge.provider", "must name an upstream (%s or %s) provider, %q is of type %s", ProviderOIDC, ProviderOAuth2, c.Bridge.Provider, ProviderGuest)
		}
		if c.Bridge.GrantTTL <= 0 {
			bad("bridge.grant_ttl", "must be a positive duration, got %s", c.Bridge.GrantTTL)
		}
		if c.Bridge.RevokePerMinute <= 0 {
			bad("bridge.revoke_per_minute", "must be positive, got %d", c.Bridge.RevokePerMinute)
		}
	}
	return errs
}

// AppOrigins are the origins of the web apps that may receive a sign-in
// result by postMessage: the app URL's origin (the server's when unset),
// then the CORS origins.
func (c *Config) AppOrigins() []string {
	var origins []string
	if u, err := url.Parse(c.AppURL()); err == nil && u.Host != "" {
		origins = append(origins, u.Scheme+"://"+u.Host)
	}
	for _, o := range c.Server.CORSOrigins {
		if u, err := url.Parse(o); err == nil && u.Host != "" && !slices.Contains(origins, u.Scheme+"://"+u.Host) {
			origins = append(origins, u.Scheme+"://"+u.Host)
		}
	}
	return origins
}
