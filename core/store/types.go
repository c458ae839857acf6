package store

import "time"

// Client is a registered OAuth 2.0 client: its RFC 7591 metadata plus what
// the server keeps about it. Secrets are never stored, only their SHA-256.
type Client struct {
	ClientMetadata
	ID                    string    `json:"client_id"`
	SecretHash            []byte    `json:"secret_hash,omitempty"`
	RegistrationTokenHash []byte    `json:"registration_token_hash,omitempty"`
	IssuedAt              time.Time `json:"issued_at"`
	// SecretExpiresAt is zero when the secret does not expire (RFC 7591 §3.2.1).
	SecretExpiresAt time.Time `json:"secret_expires_at,omitempty"`
	// Static clients come from configuration and cannot be managed by RFC 7592.
	Static bool `json:"static,omitempty"`
	// AdmittedByToken records that the client registered with the
	// registration.initial_access_token (RFC 7591 §3) or the admin.token:
	// the operator, or someone the operator gave the token, vetted it.
	AdmittedByToken bool `json:"admitted_by_token,omitempty"`
	// MetadataDocument: the client is not stored but described by the
	// Client ID Metadata Document at its client_id URL (core/client).
	MetadataDocument bool `json:"metadata_document,omitempty"`
}

// Client kinds, as authorization.redirect_errors names them: how far the
// server trusts a client's redirect URIs before any user has seen them.
const (
	// ClientRegistered was vetted: static, or admitted by the initial
	// access token.
	ClientRegistered = "registered"
	// ClientDynamic registered itself (open RFC 7591 registration), so its
	// redirect URIs are whatever anyone chose.
	ClientDynamic = "dynamic"
)

// Public reports whether the client authenticates with no secret.
func (c *Client) Public() bool { return c.TokenEndpointAuthMethod == "none" }

// IDTokenAlg is the algorithm of the client's ID tokens: the one it
// registered, else RS256 (OpenID Connect Registration §2).
func (c *Client) IDTokenAlg() string {
	if c.IDTokenSignedResponseAlg == "" {
		return "RS256"
	}
	return c.IDTokenSignedResponseAlg
}

// Kind is ClientRegistered or ClientDynamic. A client stored before the
// kind was recorded counts as dynamic: trusting it less is the safe side.
func (c *Client) Kind() string {
	if c.Static || c.AdmittedByToken {
		return ClientRegistered
	}
	return ClientDynamic
}

// ClientMetadata is the RFC 7591 §2 client metadata (plus OIDC and CIBA
// registration parameters as they are added).
type ClientMetadata struct {
	RedirectURIs            []string `json:"redirect_uris,omitempty"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	ClientName              string   `json:"client_name,omitempty"`
	ClientURI               string   `json:"client_uri,omitempty"`
	LogoURI                 string   `json:"logo_uri,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	Contacts                []string `json:"contacts,omitempty"`
	TOSURI                  string   `json:"tos_uri,omitempty"`
	PolicyURI               string   `json:"policy_uri,omitempty"`
	JWKSURI                 string   `json:"jwks_uri,omitempty"`
	JWKS                    any      `json:"jwks,omitempty"`
	SoftwareID              string   `json:"software_id,omitempty"`
	SoftwareVersion         string   `json:"software_version,omitempty"`
	SoftwareStatement       string   `json:"software_statement,omitempty"`
	ApplicationType         string   `json:"application_type,omitempty"`
	// OpenID Connect Registration §2: the ID token algorithm (RS256 when
	// a client registered none).
	IDTokenSignedResponseAlg string `json:"id_token_signed_response_alg,omitempty"`
	// OpenID Connect RP-Initiated Logout 1.0 §3.1: where the end-session
	// endpoint may send the browser back, matched exactly.
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	// CIBA Core 1.0 §4 registration parameters.
	BackchannelTokenDeliveryMode               string `json:"backchannel_token_delivery_mode,omitempty"`
	BackchannelClientNotificationEndpoint      string `json:"backchannel_client_notification_endpoint,omitempty"`
	BackchannelAuthenticationRequestSigningAlg string `json:"backchannel_authentication_request_signing_alg,omitempty"`
	BackchannelUserCodeParameter               bool   `json:"backchannel_user_code_parameter,omitempty"`
	// ResourceServer lets the client introspect access tokens issued to
	// other clients (RFC 7662 §2.1); every other client learns only about
	// its own tokens. A registration sets it only with the initial access
	// token or the admin token, never by itself (core/client).
	ResourceServer bool `json:"resource_server,omitempty"`
	// Resources is the client's own RFC 8707 allow-list (a Gatehouse
	// extension, like Hydra's audience): when set, the client may name
	// only these resources, each of which the server offers to its kind.
	Resources []string `json:"resources,omitempty"`
	// RFC 8705 §2.1.2: what a tls_client_auth certificate must name,
	// exactly one of them.
	TLSClientAuthSubjectDN string `json:"tls_client_auth_subject_dn,omitempty"`
	TLSClientAuthSANDNS    string `json:"tls_client_auth_san_dns,omitempty"`
	TLSClientAuthSANURI    string `json:"tls_client_auth_san_uri,omitempty"`
	TLSClientAuthSANIP     string `json:"tls_client_auth_san_ip,omitempty"`
	TLSClientAuthSANEmail  string `json:"tls_client_auth_san_email,omitempty"`
	// RFC 8705 §3.4: the client's access tokens are bound to its
	// certificate, and its token requests must present one.
	TLSClientCertificateBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens,omitempty"`
}

// AuthRequest is a consent session: an authorization request that has been
// validated and waits for the user to approve or reject it (1 hour).
type AuthRequest struct {
	ID          string `json:"id"`
	ClientID    string `json:"client_id"`
	RedirectURI string `json:"redirect_uri"`
	// RedirectURIGiven records whether the request named redirect_uri, in
	// which case the token request must repeat it (RFC 6749 §4.1.3).
	RedirectURIGiven    bool      `json:"redirect_uri_given,omitempty"`
	ResponseType        string    `json:"response_type"`
	ResponseMode        string    `json:"response_mode,omitempty"`
	Scope               string    `json:"scope"`
	State               string    `json:"state,omitempty"`
	Nonce               string    `json:"nonce,omitempty"`
	CodeChallenge       string    `json:"code_challenge,omitempty"`
	CodeChallengeMethod string    `json:"code_challenge_method,omitempty"`
	Resource            []string  `json:"resource,omitempty"`
	Prompt              string    `json:"prompt,omitempty"`
	MaxAge              int       `json:"max_age,omitempty"`
	CreatedAt           time.Time `json:"created_at"`
	ExpiresAt           time.Time `json:"expires_at"`
	// Decision is "" while pending, then "approved" or "rejected"; a
	// session is decided once.
	Decision string `json:"decision,omitempty"`
}

func (r *AuthRequest) Expiry() time.Time { return r.ExpiresAt }

// Decided is the session once decided: only what answers a second
// decision (409) is kept. Sessions are written for every authorization,
// and the request's parameters are in the code by then.
func (r AuthRequest) Decided(decision string) AuthRequest {
	return AuthRequest{
		ID: r.ID, ClientID: r.ClientID, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt,
		Decision: decision,
	}
}

// Profile is how a user is shown (Backstage's ProfileInfo, plus a user
// name and whether the email is verified), kept with the sign-in and the
// grants made for the user so that userinfo and ID tokens can answer the
// OIDC Core §5.4 profile and email claims.
type Profile struct {
	Email       string `json:"email,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	Picture     string `json:"picture,omitempty"`
	// Username is the preferred_username (OIDC Core §5.1); empty lets the
	// tokens use the name of the user's entity ref.
	Username string `json:"username,omitempty"`
	// EmailVerified says that whoever vouched for Email (the upstream, a
	// plugin, the operator's configuration) verified it; nil is unknown,
	// which the tokens answer as false.
	EmailVerified *bool `json:"email_verified,omitempty"`
}

// Empty reports whether the profile says nothing about the user.
func (p *Profile) Empty() bool {
	return p.Email == "" && p.DisplayName == "" && p.Picture == "" && p.Username == ""
}

// AuthCode is an issued authorization code, stored under the SHA-256 of
// the code. It is single use: Used is set when it is redeemed, and a second
// redemption revokes the grant it produced.
type AuthCode struct {
	ClientID    string `json:"client_id"`
	RedirectURI string `json:"redirect_uri"`
	// RedirectURIGiven: the token request must repeat redirect_uri.
	RedirectURIGiven bool     `json:"redirect_uri_given,omitempty"`
	Subject          string   `json:"sub"`
	Ownership        []string `json:"ent,omitempty"`
	Profile          Profile  `json:"profile"`
	// Claims are the sign_in hook's extra claims for the user, carried into
	// the grant's tokens (registered claims are never taken from them).
	Claims        map[string]any `json:"claims,omitempty"`
	Scope         string         `json:"scope"`
	Nonce         string         `json:"nonce,omitempty"`
	CodeChallenge string         `json:"code_challenge,omitempty"`
	Resource      []string       `json:"resource,omitempty"`
	AuthTime      time.Time      `json:"auth_time"`
	GrantID       string         `json:"grant_id"`
	Used          bool           `json:"used,omitempty"`
	ExpiresAt     time.Time      `json:"expires_at"`
}

// Expiry keeps a used code around past its lifetime so that a replay is
// still recognised (and revokes the grant) for a while.
func (c *AuthCode) Expiry() time.Time { return c.ExpiresAt.Add(10 * time.Minute) }

// Spent is the code once redeemed: only what a replay needs to revoke the
// grant it produced is kept, the rest of it being in the grant.
func (c AuthCode) Spent() AuthCode {
	return AuthCode{
		ClientID: c.ClientID, Subject: c.Subject, Scope: c.Scope, GrantID: c.GrantID,
		Used: true, ExpiresAt: c.ExpiresAt,
	}
}

// Grant is what a user's authorization produced: the family of tokens
// issued from one code (or one CIBA approval), revoked as a whole.
type Grant struct {
	ID        string   `json:"id"`
	ClientID  string   `json:"client_id"`
	Subject   string   `json:"sub"`
	Ownership []string `json:"ent,omitempty"`
	Profile   Profile  `json:"profile"`
	// Claims are the sign_in hook's extra claims, in every token of the grant.
	Claims    map[string]any `json:"claims,omitempty"`
	Scope     string         `json:"scope"`
	Resource  []string       `json:"resource,omitempty"`
	AuthTime  time.Time      `json:"auth_time"`
	CreatedAt time.Time      `json:"created_at"`
	ExpiresAt time.Time      `json:"expires_at"`
	Revoked   bool           `json:"revoked,omitempty"`
	// BackchannelRequest is the stored id of the CIBA request the grant
	// came from (HashID of its auth_req_id), for the grant's life.
	BackchannelRequest string `json:"backchannel_request,omitempty"`
	// Confirmation is the x5t#S256 of the certificate a public client's
	// refresh tokens are bound to (RFC 8705 §4), or "".
	Confirmation string `json:"cnf_x5t_s256,omitempty"`
}

func (g *Grant) Expiry() time.Time { return g.ExpiresAt }

// BackchannelGrant links a CIBA request, by its stored id, to the grant
// made from it, for as long as the grant lives (the request record itself
// is gone soon after its expiry): revocation by auth_req_id finds the
// grant through it.
type BackchannelGrant struct {
	GrantID   string    `json:"grant_id"`
	ClientID  string    `json:"client_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (b *BackchannelGrant) Expiry() time.Time { return b.ExpiresAt }

// RefreshToken is stored under the SHA-256 of the token. Rotation marks it
// Used; presenting a used token again revokes its whole grant.
type RefreshToken struct {
	GrantID   string    `json:"grant_id"`
	ClientID  string    `json:"client_id"`
	Scope     string    `json:"scope"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Used      bool      `json:"used,omitempty"`
}

func (t *RefreshToken) Expiry() time.Time { return t.ExpiresAt }

// Revocation records a revoked access token by its jti until it would have
// expired anyway.
type Revocation struct {
	ExpiresAt time.Time `json:"expires_at"`
}

func (r *Revocation) Expiry() time.Time { return r.ExpiresAt }

// SigningKey is one of the server's signing keys. Retired keys stay
// published in the JWKS until ExpiresAt, when no token they signed is valid.
type SigningKey struct {
	ID         string    `json:"kid"`
	Algorithm  string    `json:"alg"`
	PrivateJWK []byte    `json:"private_jwk"`
	Sealed     bool      `json:"sealed,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	RetiredAt  time.Time `json:"retired_at,omitempty"`
	ExpiresAt  time.Time `json:"expires_at,omitempty"`
}

func (k *SigningKey) Expiry() time.Time { return k.ExpiresAt }

// LoginSession is a signed-in browser, stored under the SHA-256 of its
// cookie value.
type LoginSession struct {
	Subject   string   `json:"sub"`
	Ownership []string `json:"ent,omitempty"`
	Profile   Profile  `json:"profile"`
	// Claims are the sign_in hook's extra claims for the user.
	Claims    map[string]any `json:"claims,omitempty"`
	Provider  string         `json:"provider"`
	AuthTime  time.Time      `json:"auth_time"`
	ExpiresAt time.Time      `json:"expires_at"`
	// ProviderSession is the store id of the provider session the same
	// sign-in started (core/upstream), ended with this one at logout.
	ProviderSession string `json:"provider_session,omitempty"`
}

func (s *LoginSession) Expiry() time.Time { return s.ExpiresAt }
