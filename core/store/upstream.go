package store

import "time"

// Records of core/upstream: sign-in through upstream identity providers
// and the bridge for native apps.

// UpstreamState is one round trip to the upstream, stored under the SHA-256
// of its state parameter and bound to the browser that started it by the
// SHA-256 of a cookie only that browser has (RFC 6749 §10.12).
type UpstreamState struct {
	Provider string `json:"provider"`
	Env      string `json:"env"`
	// Origin receives the popup's postMessage; ReturnTo (a local page) or
	// RedirectURL (Backstage's redirect flow) replace the popup when set.
	Origin      string `json:"origin,omitempty"`
	ReturnTo    string `json:"return_to,omitempty"`
	RedirectURL string `json:"redirect_url,omitempty"`
	Verifier    string `json:"verifier"`
	Nonce       string `json:"nonce"`
	BindingHash string `json:"binding_hash"`
	// Scope is what the upstream was asked for: the configured scopes,
	// those granted before and the scope parameter's.
	Scope     []string  `json:"scope,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *UpstreamState) Expiry() time.Time { return s.ExpiresAt }

// UpstreamSession is a browser signed in through a provider, stored under
// the SHA-256 of its refresh cookie. The upstream grant is sealed with a
// key derived from the cookie value, which is not stored: a copy of the
// database opens no upstream account.
type UpstreamSession struct {
	Provider string         `json:"provider"`
	Env      string         `json:"env"`
	Subject  string         `json:"sub"`
	Profile  Profile        `json:"profile"`
	Claims   map[string]any `json:"claims,omitempty"`
	Sealed   []byte         `json:"sealed"`
	// Scope is what the upstream granted, kept as Backstage keeps its
	// granted-scope cookie: a refresh asks for these again, whether or
	// not the upstream repeats them.
	Scope     []string  `json:"scope,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
	// AuthTime is when the user signed in upstream (OIDC Core §2).
	AuthTime time.Time `json:"auth_time,omitempty"`
	// RefreshingUntil, while in the future, says that one server is
	// refreshing the upstream grant: it claimed the refresh by
	// compare-and-swap, and the other refreshes of the session wait for
	// its result.
	RefreshingUntil time.Time `json:"refreshing_until,omitzero"`
}

func (s *UpstreamSession) Expiry() time.Time { return s.ExpiresAt }

// BridgeGrant is an upstream grant held for a native app, stored under its
// client_id. The grant is sealed with a key derived from the client
// secret, which Gatehouse does not keep: only its SHA-256 is stored, to
// authenticate the app. A copy of the database opens no upstream account.
type BridgeGrant struct {
	ClientID   string    `json:"client_id"`
	SecretHash []byte    `json:"secret_hash"`
	Provider   string    `json:"provider"`
	Env        string    `json:"env"`
	Subject    string    `json:"upstream_sub,omitempty"`
	Sealed     []byte    `json:"sealed"`
	CreatedAt  time.Time `json:"created_at"`
	// RefreshingUntil, while in the future, says that one server (of the
	// replicas sharing the store) is refreshing the upstream grant: it
	// claimed the refresh by compare-and-swap, and the others wait for its
	// result or hand out the token they have while it is still valid.
	RefreshingUntil time.Time `json:"refreshing_until,omitempty"`
	// ExpiresAt moves forward on every use (bridge.grant_ttl); Badger
	// drops the record then, and `gatehouse bridge purge` sweeps any
	// backend.
	ExpiresAt time.Time `json:"expires_at"`
}

func (g *BridgeGrant) Expiry() time.Time { return g.ExpiresAt }
