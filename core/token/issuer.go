// Package token mints and verifies the server's tokens: JWT access tokens
// (RFC 9068), ID tokens (OIDC Core §2), Backstage identity tokens and
// opaque refresh tokens; and serves userinfo, revocation (RFC 7009) and
// introspection (RFC 7662).
package token

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/keyset"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// Issuer mints and verifies tokens. Safe for concurrent use.
type Issuer struct {
	cfg  *config.Config
	keys *keyset.Keyset
	st   *store.Store
}

// NewIssuer returns an issuer signing with keys.
func NewIssuer(cfg *config.Config, keys *keyset.Keyset, st *store.Store) *Issuer {
	return &Issuer{cfg: cfg, keys: keys, st: st}
}

// Identity is who a user is here: a Backstage entity ref and the ownership
// refs that go with it, plus a display profile.
type Identity struct {
	Subject   string   `json:"sub"`
	Ownership []string `json:"ent,omitempty"`
	Profile   Profile  `json:"profile"`
}

// Profile is what the user looks like (Backstage's ProfileInfo).
type Profile = store.Profile

// AccessRequest describes an access token to mint.
type AccessRequest struct {
	ClientID  string
	Subject   string // the user, or the client id for client_credentials
	Ownership []string
	Scope     string
	Audience  []string // RFC 8707 resources; defaults to the issuer
	GrantID   string   // the grant (token family) it belongs to, if any
	AuthTime  time.Time
	// Extra claims (from the token_claims hook); never override registered ones.
	Extra map[string]any
}

// Access is a minted access token.
type Access struct {
	Token     string
	JTI       string
	ExpiresIn time.Duration
}

// AccessToken signs an RFC 9068 JWT access token.
func (i *Issuer) AccessToken(ctx context.Context, req AccessRequest) (Access, error) {
	return Access{}, errors.New("token: pending")
}

// IDRequest describes an ID token to mint.
type IDRequest struct {
	ClientID    string
	Subject     string
	Ownership   []string
	Nonce       string
	AuthTime    time.Time
	AccessToken string // for at_hash
	Profile     Profile
	Scope       string // profile/email claims are added per scope
	Extra       map[string]any
}

// IDToken signs an OIDC ID token.
func (i *Issuer) IDToken(ctx context.Context, req IDRequest) (string, error) {
	return "", errors.New("token: pending")
}

// IdentityToken signs a Backstage identity token (aud "backstage") for id.
func (i *Issuer) IdentityToken(ctx context.Context, id Identity) (token string, expiresIn time.Duration, err error) {
	return "", 0, errors.New("token: pending")
}

// VerifiedAccess is what a valid access token says.
type VerifiedAccess struct {
	JTI       string
	ClientID  string
	Subject   string
	Ownership []string
	Scope     string
	Audience  []string
	GrantID   string
	IssuedAt  time.Time
	ExpiresAt time.Time
	AuthTime  time.Time
}

// VerifyAccessToken checks signature, issuer, expiry, and that neither the
// token (jti) nor its grant has been revoked. Failures are *oauth.Error
// invalid_token.
func (i *Issuer) VerifyAccessToken(ctx context.Context, raw string) (VerifiedAccess, error) {
	return VerifiedAccess{}, errors.New("token: pending")
}

// VerifyIdentityToken checks a Backstage identity token minted by this
// server and returns the identity in it.
func (i *Issuer) VerifyIdentityToken(ctx context.Context, raw string) (Identity, error) {
	return Identity{}, errors.New("token: pending")
}

// IssueRefreshToken creates a refresh token in grant g (stored hashed).
func (i *Issuer) IssueRefreshToken(ctx context.Context, g store.Grant, scope string) (string, error) {
	return "", errors.New("token: pending")
}

// RevokeGrant revokes a grant and so every token it produced.
func (i *Issuer) RevokeGrant(ctx context.Context, grantID string) error {
	return errors.New("token: pending")
}
