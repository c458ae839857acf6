// Package config loads Gatehouse's configuration with koanf:
// built-in defaults ← the embedded config.yaml ← a --config file ←
// GATEHOUSE_* environment variables. Validate lists every problem at once.
package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/rawbytes"
	"github.com/knadh/koanf/v2"

	"github.com/gatehouse-auth/gatehouse/core/urlpattern"
)

// Config is the whole server configuration. Treat a loaded Config as
// immutable: a reload builds a new one.
type Config struct {
	Server       Server       `koanf:"server"`
	Storage      Storage      `koanf:"storage"`
	Keys         Keys         `koanf:"keys"`
	Tokens       Tokens       `koanf:"tokens"`
	Registration Registration `koanf:"registration"`
	// ClientIDDocuments: client_ids that are the URL of their metadata.
	ClientIDDocuments ClientIDDocuments `koanf:"client_id_metadata_documents"`
	Authorization     Authorization     `koanf:"authorization"`
	RateLimit         RateLimit         `koanf:"rate_limit"`
	Guest             Guest             `koanf:"guest"`
	Admin             Admin             `koanf:"admin"`
	Plugins           Plugins           `koanf:"plugins"`
	// Providers: provider id → environment → settings (sign-in providers).
	Providers map[string]map[string]Provider `koanf:"providers"`
	Bridge    Bridge                         `koanf:"bridge"`
	CIBA      CIBA                           `koanf:"ciba"`
	Outbound  Outbound                       `koanf:"outbound"`
	Log       Log                            `koanf:"log"`
	UI        UI                             `koanf:"ui"`
}

type Server struct {
	Addr string `koanf:"addr"`
	// PublicURL is the externally visible origin; the issuer is PublicURL+BasePath.
	PublicURL string `koanf:"public_url"`
	BasePath  string `koanf:"base_path"`
	// AppURL hosts the consent page ({app_url}/oauth2/authorize/{id}); empty means this server.
	AppURL         string   `koanf:"app_url"`
	CORSOrigins    []string `koanf:"cors_origins"`
	TrustedProxies int      `koanf:"trusted_proxies"`
	BodyLimit      int      `koanf:"body_limit"`
	// MemoryLimitMiB is the Go runtime's soft memory limit (GOMEMLIMIT),
	// which makes the collector work harder as the heap nears it rather
	// than let it grow to twice what is live; 0 leaves the runtime's
	// default. GOMEMLIMIT in the environment wins.
	MemoryLimitMiB int `koanf:"memory_limit_mib"`
	// ShutdownGrace bounds a whole shutdown: requests in flight get three
	// quarters of it, closing the store what is left.
	ShutdownGrace time.Duration `koanf:"shutdown_grace"`
	// TLS is the server's own TLS listener (off: plain HTTP).
	TLS TLS `koanf:"tls"`
	// MTLS is RFC 8705 client authentication and bound tokens.
	MTLS MTLS `koanf:"mtls"`
}

type Storage struct {
	Backend    string `koanf:"backend"` // badger, postgres or memory
	Dir        string `koanf:"dir"`
	SyncWrites bool   `koanf:"sync_writes"`
	// ReserveMiB is the free space kept on the data directory's
	// filesystem: below it writes are refused (503, Retry-After) and
	// reads go on. 0 sizes it to Badger's memtables and tables (16 MiB);
	// -1 turns the check off.
	ReserveMiB int `koanf:"reserve_mib"`
	// Postgres configures the postgres backend.
	Postgres Postgres `koanf:"postgres"`
}

// Postgres is the postgres backend's database and connection pool. The
// DSN holds a password: set it with GATEHOUSE_STORAGE__POSTGRES__DSN
// rather than in a file.
type Postgres struct {
	DSN             string        `koanf:"dsn"`
	MaxConns        int32         `koanf:"max_conns"`
	MinConns        int32         `koanf:"min_conns"`
	MaxConnLifetime time.Duration `koanf:"max_conn_lifetime"`
	MaxConnIdleTime time.Duration `koanf:"max_conn_idle_time"`
	// SweepInterval is the pause between two deletions of expired
	// entries (in batches of SweepBatch).
	SweepInterval time.Duration `koanf:"sweep_interval"`
	SweepBatch    int           `koanf:"sweep_batch"`
	// CacheEntries is how many clients each replica keeps in memory,
	// kept current by the database's notifications; 0 reads every one
	// from the database.
	CacheEntries int `koanf:"cache_entries"`
}

type Keys struct {
	Algorithm string `koanf:"algorithm"` // ES256, RS256 or EdDSA
	// Secret, when set, seals private keys at rest (AES-GCM, key derived by HKDF).
	Secret string `koanf:"secret"`
	// RefreshInterval is how often a running server reads the signing
	// keys from the store, to sign with and publish a key another process
	// on the same database made.
	RefreshInterval time.Duration `koanf:"refresh_interval"`
	// RSAImplementation is what makes RS256 signatures: "auto" (the
	// system's OpenSSL 3 when libcrypto.so.3 loads, each signature checked
	// with crypto/rsa; else crypto/rsa) or "go" (crypto/rsa only).
	RSAImplementation string `koanf:"rsa_implementation"`
}

type Tokens struct {
	AccessTokenTTL time.Duration `koanf:"access_token_ttl"`
	// DefaultAudience is the audience of access tokens whose client named
	// no RFC 8707 resource: empty for the issuer, "backstage" for Backstage
	// user tokens (users' tokens only), or an absolute URI.
	DefaultAudience string `koanf:"default_audience"`
	// Resources are the RFC 8707 resources clients may name: exact
	// absolute URIs, or URL patterns with `*` (core/urlpattern). The
	// issuer and a URI default_audience are always allowed.
	Resources []string `koanf:"resources"`
	// RegisteredResources are resources, in the same form, that only
	// registered clients (store.ClientRegistered: static, or admitted
	// with a token) may name.
	RegisteredResources []string      `koanf:"registered_resources"`
	IDTokenTTL          time.Duration `koanf:"id_token_ttl"`
	RefreshTokenTTL     time.Duration `koanf:"refresh_token_ttl"`
	CodeTTL             time.Duration `koanf:"code_ttl"`
	ConsentSessionTTL   time.Duration `koanf:"consent_session_ttl"`
	IdentityTokenTTL    time.Duration `koanf:"identity_token_ttl"`
	LoginSessionTTL     time.Duration `koanf:"login_session_ttl"`
	// ProviderSessionTTL is how long a sign-in through an upstream
	// provider lasts (its session and refresh cookie) unless the
	// provider's environment sets session_duration.
	ProviderSessionTTL time.Duration `koanf:"provider_session_ttl"`
}

type Registration struct {
	Open                bool     `koanf:"open"`
	InitialAccessToken  string   `koanf:"initial_access_token"`
	RedirectURIPatterns []string `koanf:"redirect_uri_patterns"`
	// CustomScopes are the scope values clients may register and ask for
	// besides StandardScopes (RFC 7591 §2 scope).
	CustomScopes []string `koanf:"custom_scopes"`
}

// StandardScopes are the scope values the server gives a meaning to (OIDC
// Core §5.4, §11): discovery's scopes_supported, and with
// registration.custom_scopes what a client may register.
var StandardScopes = []string{"openid", "profile", "email", "offline_access"}

// Scopes is a set of scope values a client may register and ask for.
type Scopes map[string]struct{}

// RegistrableScopes is StandardScopes and registration.custom_scopes.
func (c *Config) RegistrableScopes() Scopes {
	s := make(Scopes, len(StandardScopes)+len(c.Registration.CustomScopes))
	for _, v := range StandardScopes {
		s[v] = struct{}{}
	}
	for _, v := range c.Registration.CustomScopes {
		s[v] = struct{}{}
	}
	return s
}

// Has reports whether v is in the set.
func (s Scopes) Has(v string) bool {
	_, ok := s[v]
	return ok
}

// Sorted lists the set in order, for error messages.
func (s Scopes) Sorted() []string {
	out := make([]string, 0, len(s))
	for v := range s {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// Allowed is what a client that registered scope (space-separated) may
// ask for: its registered values that the server still offers, or every
// value the server offers when it registered none (RFC 7591 §2 lets the
// server choose the default). A value an operator has since removed from
// registration.custom_scopes is no longer granted to anyone.
func (s Scopes) Allowed(registered string) []string {
	var out []string
	for v := range strings.FieldsSeq(registered) {
		if s.Has(v) {
			out = append(out, v)
		}
	}
	if out == nil && strings.TrimSpace(registered) == "" {
		out = s.Sorted()
	}
	return out
}

// ClientIDDocuments configures OAuth Client ID Metadata Documents
// (draft-ietf-oauth-client-id-metadata-document, as the MCP authorization
// specification uses them): a client_id that is an https URL names a JSON
// document of the client's metadata, which the server fetches through the
// outbound client, validates like a registration and caches.
type ClientIDDocuments struct {
	Enabled bool `koanf:"enabled"`
	// AllowedClientIDs are URL patterns (the redirect URI pattern matcher)
	// a client_id URL must match; empty admits any https URL.
	AllowedClientIDs []string `koanf:"allowed_client_ids"`
	// MaxBytes caps a document (the draft suggests 5 KB); Timeout bounds
	// one fetch.
	MaxBytes int64         `koanf:"max_bytes"`
	Timeout  time.Duration `koanf:"timeout"`
	// A document is cached for its HTTP freshness lifetime (Cache-Control
	// max-age, Expires), DefaultTTL when it has none, bounded by MinTTL and
	// MaxTTL; CacheEntries bounds how many are kept.
	MinTTL       time.Duration `koanf:"min_ttl"`
	MaxTTL       time.Duration `koanf:"max_ttl"`
	DefaultTTL   time.Duration `koanf:"default_ttl"`
	CacheEntries int           `koanf:"cache_entries"`
	// FetchesPerHost fetches a second, FetchBurstPerHost at once, are
	// made to one host: beyond them a client_id on that host is refused
	// without a fetch (cached documents are still served).
	FetchesPerHost    float64 `koanf:"fetches_per_host"`
	FetchBurstPerHost int     `koanf:"fetch_burst_per_host"`
}

type Authorization struct {
	// RequirePKCE requires S256 PKCE from every client, not only public ones.
	RequirePKCE bool `koanf:"require_pkce"`
	// RedirectErrors lists the client kinds (store.ClientRegistered,
	// store.ClientDynamic) whose refused authorization requests are sent
	// back to their redirect URI before any user interaction; the others'
	// users see an error page (RFC 9700 §4.11.2).
	RedirectErrors []string `koanf:"redirect_errors"`
	// MaxOpenPerClient and MaxOpenPerAddress cap the consent sessions
	// /v1/authorize keeps that nobody has decided yet (0: no cap).
	MaxOpenPerClient  int `koanf:"max_open_per_client"`
	MaxOpenPerAddress int `koanf:"max_open_per_address"`
}

// Client kinds authorization.redirect_errors may list (store.Client.Kind).
var clientKinds = []string{"registered", "dynamic"}

type RateLimit struct {
	Enabled           bool    `koanf:"enabled"`
	TokenPerSecond    float64 `koanf:"token_per_second"`
	TokenBurst        int     `koanf:"token_burst"`
	RegisterPerSecond float64 `koanf:"register_per_second"`
	RegisterBurst     int     `koanf:"register_burst"`
	// AuthorizePerSecond and AuthorizeBurst bound /v1/authorize per
	// remote address.
	AuthorizePerSecond float64 `koanf:"authorize_per_second"`
	AuthorizeBurst     int     `koanf:"authorize_burst"`
}

type Guest struct {
	Enabled             bool     `koanf:"enabled"`
	UserEntityRef       string   `koanf:"user_entity_ref"`
	OwnershipEntityRefs []string `koanf:"ownership_entity_refs"`
	// Email is the guest's email claim (scope email); EmailVerified is its
	// email_verified, the operator vouching for the address.
	Email         string `koanf:"email"`
	EmailVerified bool   `koanf:"email_verified"`
}

type Admin struct {
	// Token guards /admin/*; empty disables the admin endpoints.
	Token string `koanf:"token"`
}

// Outbound configures the client of everything the server fetches or
// posts (core/outbound).
type Outbound struct {
	// AllowPrivate lets the server reach loopback, private, link-local and
	// other special-purpose addresses. Development only: the embedded
	// configuration turns it on, a production one must turn it off.
	AllowPrivate bool `koanf:"allow_private"`
	// Timeout bounds one exchange; MaxResponseBytes caps a response body;
	// MaxRedirects bounds the redirects one exchange follows.
	Timeout          time.Duration `koanf:"timeout"`
	MaxResponseBytes int64         `koanf:"max_response_bytes"`
	MaxRedirects     int           `koanf:"max_redirects"`
	// CAFile is a PEM file of certificate authorities trusted besides the
	// system's (an internal CA, a test server's certificate).
	CAFile string `koanf:"ca_file"`
}

// RootCAs is the system's certificate pool plus the certificates of
// CAFile; nil when CAFile is empty (the system's pool alone).
func (o Outbound) RootCAs() (*x509.CertPool, error) {
	if o.CAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(o.CAFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read the CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", o.CAFile)
	}
	return pool, nil
}

type Log struct {
	Level  string `koanf:"level"`
	Format string `koanf:"format"` // text or json
}

// Issuer is the issuer identifier: PublicURL followed by BasePath.
func (c *Config) Issuer() string {
	return strings.TrimSuffix(c.Server.PublicURL, "/") + c.Server.BasePath
}

// FixedResources are the RFC 8707 resources always allowed besides
// tokens.resources: the issuer, and tokens.default_audience when it is a
// URI (the audience a client gets without naming one).
func (c *Config) FixedResources() []string {
	out := []string{c.Issuer()}
	if a := c.Tokens.DefaultAudience; a != "" && a != "backstage" {
		out = append(out, a)
	}
	return out
}

// AppURL is where the consent page lives.
func (c *Config) AppURL() string {
	if c.Server.AppURL != "" {
		return strings.TrimSuffix(c.Server.AppURL, "/")
	}
	return c.Issuer()
}

// Load builds the configuration from the embedded defaults, then the file
// at path (if not empty), then GATEHOUSE_* environment variables, and
// validates the result.
func Load(embedded []byte, path string) (*Config, error) {
	k := koanf.New(".")
	if err := k.Load(rawbytes.Provider(embedded), yaml.Parser()); err != nil {
		return nil, fmt.Errorf("config: embedded defaults: %w", err)
	}
	if path != "" {
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return nil, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	// GATEHOUSE_SERVER__ADDR → server.addr; comma-separated values fill lists.
	err := k.Load(env.ProviderWithValue("GATEHOUSE_", ".", func(key, value string) (string, any) {
		key = strings.ToLower(strings.TrimPrefix(key, "GATEHOUSE_"))
		key = envPath(k, strings.ReplaceAll(key, "__", "."))
		if k.Exists(key) {
			if _, isList := k.Get(key).([]any); isList {
				return key, splitList(value)
			}
		}
		return key, value
	}), nil)
	if err != nil {
		return nil, fmt.Errorf("config: environment: %w", err)
	}
	var cfg Config
	if err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg.Server.BasePath = normalizeBasePath(cfg.Server.BasePath)
	if err := cfg.validate(unknownPluginKeys(k)); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// envPath maps an environment variable's path onto the configuration's
// own names: a segment spelt with _ where the configuration has a name
// with - (the plugin signin-default) takes that name, as a shell cannot
// export a variable whose name has a hyphen.
func envPath(k *koanf.Koanf, key string) string {
	segs := strings.Split(key, ".")
	for i, seg := range segs {
		if k.Exists(strings.Join(segs[:i+1], ".")) {
			continue
		}
		if alt := strings.ReplaceAll(seg, "_", "-"); alt != seg {
			segs[i] = alt
			if !k.Exists(strings.Join(segs[:i+1], ".")) {
				segs[i] = seg
			}
		}
	}
	return strings.Join(segs, ".")
}

func splitList(value string) []string {
	if value == "" {
		return []string{}
	}
	parts := strings.Split(value, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

func normalizeBasePath(p string) string {
	p = strings.TrimSuffix(strings.TrimSpace(p), "/")
	if p != "" && !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
}

// Validate reports every problem in the configuration at once.
func (c *Config) Validate() error { return c.validate(nil) }

// validate is Validate reporting the problems found while loading (errs)
// with the others.
func (c *Config) validate(errs []error) error {
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Server.Addr == "" {
		bad("server.addr", "must not be empty")
	}
	if u, err := url.Parse(c.Server.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		bad("server.public_url", "must be an absolute http(s) URL without query or fragment, got %q", c.Server.PublicURL)
	}
	if strings.ContainsAny(c.Server.BasePath, "?#* ") {
		bad("server.base_path", "must be a plain path, got %q", c.Server.BasePath)
	}
	if c.Server.AppURL != "" {
		if u, err := url.Parse(c.Server.AppURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("server.app_url", "must be an absolute http(s) URL, got %q", c.Server.AppURL)
		}
	}
	for i, o := range c.Server.CORSOrigins {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			bad(fmt.Sprintf("server.cors_origins[%d]", i), "must be an origin such as https://app.example.com, got %q", o)
		}
	}
	if c.Server.TrustedProxies < 0 {
		bad("server.trusted_proxies", "must not be negative")
	}
	if c.Server.BodyLimit < 1024 || c.Server.BodyLimit > 16<<20 {
		bad("server.body_limit", "must be between 1024 and 16777216 bytes, got %d", c.Server.BodyLimit)
	}
	if c.Server.ShutdownGrace < time.Second || c.Server.ShutdownGrace > 10*time.Minute {
		bad("server.shutdown_grace", "must be between 1s and 10m, got %s", c.Server.ShutdownGrace)
	}
	if c.Server.MemoryLimitMiB < 0 {
		bad("server.memory_limit_mib", "must not be negative (0 leaves the runtime's default), got %d", c.Server.MemoryLimitMiB)
	}
	switch c.Storage.Backend {
	case "badger":
		if c.Storage.Dir == "" {
			bad("storage.dir", "must be set for the badger backend")
		}
		if c.Storage.ReserveMiB < -1 {
			bad("storage.reserve_mib", "must be -1 (off), 0 (sized to the storage engine) or a number of MiB, got %d", c.Storage.ReserveMiB)
		}
	case "postgres":
		pg := c.Storage.Postgres
		if pg.DSN == "" {
			bad("storage.postgres.dsn", "must be set for the postgres backend (GATEHOUSE_STORAGE__POSTGRES__DSN keeps it out of the file)")
		}
		if pg.MaxConns < 1 {
			bad("storage.postgres.max_conns", "must be at least 1, got %d", pg.MaxConns)
		}
		if pg.MinConns < 0 || pg.MinConns > pg.MaxConns {
			bad("storage.postgres.min_conns", "must be between 0 and max_conns (%d), got %d", pg.MaxConns, pg.MinConns)
		}
		if pg.MaxConnLifetime < 0 || pg.MaxConnIdleTime < 0 {
			bad("storage.postgres", "max_conn_lifetime and max_conn_idle_time must not be negative")
		}
		if pg.SweepInterval < time.Second {
			bad("storage.postgres.sweep_interval", "must be at least 1s, got %s", pg.SweepInterval)
		}
		if pg.SweepBatch < 1 || pg.SweepBatch > 10000 {
			bad("storage.postgres.sweep_batch", "must be between 1 and 10000, got %d", pg.SweepBatch)
		}
		if pg.CacheEntries < 0 || pg.CacheEntries > 1_000_000 {
			bad("storage.postgres.cache_entries", "must be between 0 and 1000000, got %d", pg.CacheEntries)
		}
	case "memory":
	default:
		bad("storage.backend", "must be badger, postgres or memory, got %q", c.Storage.Backend)
	}
	if !slices.Contains([]string{"ES256", "RS256", "EdDSA"}, c.Keys.Algorithm) {
		bad("keys.algorithm", "must be ES256, RS256 or EdDSA, got %q", c.Keys.Algorithm)
	}
	if c.Keys.RefreshInterval < 100*time.Millisecond || c.Keys.RefreshInterval > time.Hour {
		bad("keys.refresh_interval", "must be between 100ms and 1h, got %s", c.Keys.RefreshInterval)
	}
	if !slices.Contains([]string{"auto", "go"}, c.Keys.RSAImplementation) {
		bad("keys.rsa_implementation", "must be auto or go, got %q", c.Keys.RSAImplementation)
	}
	for name, d := range map[string]time.Duration{
		"tokens.access_token_ttl":     c.Tokens.AccessTokenTTL,
		"tokens.id_token_ttl":         c.Tokens.IDTokenTTL,
		"tokens.refresh_token_ttl":    c.Tokens.RefreshTokenTTL,
		"tokens.code_ttl":             c.Tokens.CodeTTL,
		"tokens.consent_session_ttl":  c.Tokens.ConsentSessionTTL,
		"tokens.identity_token_ttl":   c.Tokens.IdentityTokenTTL,
		"tokens.login_session_ttl":    c.Tokens.LoginSessionTTL,
		"tokens.provider_session_ttl": c.Tokens.ProviderSessionTTL,
	} {
		if d <= 0 {
			bad(name, "must be a positive duration, got %s", d)
		}
	}
	if a := c.Tokens.DefaultAudience; a != "" && a != "backstage" {
		if u, err := url.Parse(a); err != nil || !u.IsAbs() || u.Fragment != "" {
			bad("tokens.default_audience", "must be empty (the issuer), backstage, or an absolute URI without a fragment, got %q", a)
		}
	}
	for i, r := range slices.Concat(c.Tokens.Resources, c.Tokens.RegisteredResources) {
		key := fmt.Sprintf("tokens.resources[%d]", i)
		if i >= len(c.Tokens.Resources) {
			key = fmt.Sprintf("tokens.registered_resources[%d]", i-len(c.Tokens.Resources))
		}
		if strings.Contains(r, "*") {
			if _, err := urlpattern.Parse(r); err != nil {
				bad(key, "%q %v (want an absolute URI, or a URL pattern such as https://*.example.com/api/**)", r, err)
			}
		} else if u, err := url.Parse(r); err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(r, "#") {
			bad(key, "must be an absolute URI without a fragment (RFC 8707 §2), or a URL pattern with *, got %q", r)
		}
	}
	if c.Tokens.CodeTTL > 10*time.Minute {
		bad("tokens.code_ttl", "must be at most 10m (RFC 6749 §4.1.2), got %s", c.Tokens.CodeTTL)
	}
	for i, p := range c.Registration.RedirectURIPatterns {
		if _, err := urlpattern.Parse(p); err != nil {
			bad(fmt.Sprintf("registration.redirect_uri_patterns[%d]", i), "%q %v (want a URL pattern such as https://*.example.com/callback or http://localhost:*/callback)", p, err)
		}
	}
	for i, v := range c.Registration.CustomScopes {
		if !scopeToken(v) {
			bad(fmt.Sprintf("registration.custom_scopes[%d]", i), "must be one scope value of printable ASCII without spaces, quotes or backslashes (RFC 6749 §3.3), got %q", v)
		}
	}
	if c.Authorization.MaxOpenPerClient < 0 || c.Authorization.MaxOpenPerAddress < 0 {
		bad("authorization.max_open_per_client", "max_open_per_client and max_open_per_address must not be negative (0: no cap)")
	}
	for i, kind := range c.Authorization.RedirectErrors {
		if !slices.Contains(clientKinds, kind) {
			bad(fmt.Sprintf("authorization.redirect_errors[%d]", i), "must be a client kind, %s, got %q", strings.Join(clientKinds, " or "), kind)
		}
	}
	if c.RateLimit.Enabled {
		if c.RateLimit.TokenPerSecond <= 0 || c.RateLimit.TokenBurst <= 0 {
			bad("rate_limit.token_per_second", "rate and burst must be positive when rate limiting is enabled")
		}
		if c.RateLimit.RegisterPerSecond <= 0 || c.RateLimit.RegisterBurst <= 0 {
			bad("rate_limit.register_per_second", "rate and burst must be positive when rate limiting is enabled")
		}
		if c.RateLimit.AuthorizePerSecond <= 0 || c.RateLimit.AuthorizeBurst <= 0 {
			bad("rate_limit.authorize_per_second", "rate and burst must be positive when rate limiting is enabled")
		}
	}
	if c.Guest.Enabled && !strings.HasPrefix(c.Guest.UserEntityRef, "user:") {
		bad("guest.user_entity_ref", "must be a user entity reference such as user:development/guest, got %q", c.Guest.UserEntityRef)
	}
	if e := c.Guest.Email; e != "" {
		if a, err := mail.ParseAddress(e); err != nil || a.Address != e || a.Name != "" {
			bad("guest.email", "must be a plain email address such as guest@example.com, got %q", e)
		}
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		bad("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		bad("log.format", "must be text or json, got %q", c.Log.Format)
	}
	errs = append(errs, c.Server.validateTLS()...)
	errs = append(errs, c.ClientIDDocuments.validate()...)
	if c.Outbound.CAFile != "" {
		if _, err := c.Outbound.RootCAs(); err != nil {
			bad("outbound.ca_file", "%v", err)
		}
	}
	if c.Outbound.Timeout < 0 || c.Outbound.MaxResponseBytes < 0 || c.Outbound.MaxRedirects < 0 {
		bad("outbound", "timeout, max_response_bytes and max_redirects must not be negative (0 takes the default)")
	}
	errs = append(errs, c.Plugins.validate()...)
	errs = append(errs, c.validateProviders()...)
	errs = append(errs, c.CIBA.validate(c.Outbound.AllowPrivate)...)
	errs = append(errs, c.UI.validate()...)
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration:\n%w", errors.Join(errs...))
	}
	return nil
}

// scopeToken is RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func scopeToken(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < 0x21 || b == 0x22 || b == 0x5C || b > 0x7E {
			return false
		}
	}
	return v != ""
}

// validate lists the problems of the client_id_metadata_documents section.
func (d ClientIDDocuments) validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("client_id_metadata_documents.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	for i, p := range d.AllowedClientIDs {
		pat, err := urlpattern.Parse(p)
		if err == nil && !strings.HasPrefix(p, "https://") {
			err = errors.New("must be an https pattern: client ID URLs are https")
		}
		if err != nil || pat == nil {
			bad(fmt.Sprintf("allowed_client_ids[%d]", i), "%q %v (want a URL pattern such as https://*.example.com/**)", p, err)
		}
	}
	if d.MaxBytes < 256 || d.MaxBytes > 1<<20 {
		bad("max_bytes", "must be between 256 and 1048576, got %d", d.MaxBytes)
	}
	if d.Timeout <= 0 {
		bad("timeout", "must be a positive duration, got %s", d.Timeout)
	}
	if d.MinTTL < 0 || d.DefaultTTL < d.MinTTL || d.MaxTTL < d.DefaultTTL {
		bad("min_ttl", "need 0 <= min_ttl <= default_ttl <= max_ttl, got %s, %s, %s", d.MinTTL, d.DefaultTTL, d.MaxTTL)
	}
	if d.CacheEntries <= 0 {
		bad("cache_entries", "must be positive, got %d", d.CacheEntries)
	}
	if d.FetchesPerHost <= 0 || d.FetchBurstPerHost <= 0 {
		bad("fetches_per_host", "fetches_per_host and fetch_burst_per_host must be positive, got %g, %d", d.FetchesPerHost, d.FetchBurstPerHost)
	}
	return errs
}
