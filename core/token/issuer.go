// Package token mints and verifies the server's tokens: JWT access tokens
// (RFC 9068), ID tokens (OIDC Core §2), Backstage identity tokens and
// opaque refresh tokens; and serves userinfo, revocation (RFC 7009) and
// introspection (RFC 7662).
package token

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/keyset"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// JWT "typ" header values of the tokens this package mints.
const (
	TypeAccess   = "at+jwt"             // RFC 9068 §2.1
	TypeID       = "JWT"                // OIDC Core §2 (RFC 7519 §5.1)
	TypeIdentity = "vnd.backstage.user" // Backstage identity tokens
)

// BackstageAudience is the audience of Backstage identity tokens.
const BackstageAudience = "backstage"

// leeway is the clock skew tolerated when checking exp and iat.
const leeway = 30 * time.Second

// Issuer mints and verifies tokens. Safe for concurrent use.
type Issuer struct {
	cfg  *config.Config
	keys *keyset.Keyset
	st   *store.Store

	iss    string   // cfg.Issuer(), computed once
	issAud []string // the default access token audience: [iss]
	now    func() time.Time
	// clients finds a token's client (ClientExists): the store's unless
	// WithClients.
	clients oauth.ClientGetter
}

// NewIssuer returns an issuer signing with keys.
func NewIssuer(cfg *config.Config, keys *keyset.Keyset, st *store.Store) *Issuer {
	iss := cfg.Issuer()
	return &Issuer{cfg: cfg, keys: keys, st: st, iss: iss, issAud: []string{iss}, now: time.Now, clients: st.Clients}
}

// WithClients finds tokens' clients through clients (client.Clients: the
// store's and those of client ID metadata documents), so that a document
// client's tokens verify while its document is accepted. Call it before
// the issuer serves requests.
func (i *Issuer) WithClients(clients oauth.ClientGetter) *Issuer {
	i.clients = clients
	return i
}

// Identity is who a user is here: a Backstage entity ref and the ownership
// refs that go with it, plus a display profile.
type Identity struct {
	Subject   string   `json:"sub"`
	Ownership []string `json:"ent,omitempty"`
	Profile   Profile  `json:"profile"`
	// Claims are extra claims (the sign_in hook's); registered names
	// (iss, sub, aud, exp, ent...) are never taken from them.
	Claims map[string]any `json:"claims,omitempty"`
	// AuthTime is when the user authenticated (OIDC Core §2 auth_time);
	// zero when unknown.
	AuthTime time.Time `json:"auth_time,omitempty"`
}

// Profile is what the user looks like (Backstage's ProfileInfo).
type Profile = store.Profile

// AccessRequest describes an access token to mint.
type AccessRequest struct {
	ClientID  string
	Subject   string // the user, or the client id for client_credentials
	Ownership []string
	Scope     string
	Audience  []string // RFC 8707 resources; defaults to tokens.default_audience (see Profile)
	GrantID   string   // the grant (token family) it belongs to, if any
	// ForClient says the subject is the client itself (client_credentials),
	// not a user: such a token is never a Backstage user token.
	ForClient bool
	AuthTime  time.Time
	// Extra claims (from the token_claims hook); never override registered ones.
	Extra map[string]any
	// Confirmation is the x5t#S256 of the client certificate the token
	// is bound to (RFC 8705 §3.1), "" for a token that is not.
	Confirmation string
}

// Access is a minted access token.
type Access struct {
	Token     string
	JTI       string
	ExpiresIn time.Duration
}

// accessClaims is the RFC 9068 §2.2 payload. A struct marshals faster and
// with fewer allocations than a map, and fixes the claim order.
type accessClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  audience `json:"aud"`
	ExpiresAt int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	JTI       string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope,omitempty"`
	AuthTime  int64    `json:"auth_time,omitempty"`
	Ownership []string `json:"ent,omitempty"`
	GrantID   string   `json:"gid,omitempty"`
	// UIP is the user identity proof of a Backstage user token.
	UIP string `json:"uip,omitempty"`
	// Cnf binds the token to a client certificate (RFC 8705 §3.1).
	Cnf *Confirmation `json:"cnf,omitempty"`
}

// Confirmation is the cnf claim (RFC 7800 §3.1) of a certificate-bound
// token: the thumbprint of the certificate (RFC 8705 §3.1).
type Confirmation struct {
	X5tS256 string `json:"x5t#S256"`
}

// AccessToken signs an access token for req, in the profile its audience
// calls for (Profile): an RFC 9068 JWT, or a Backstage user token.
func (i *Issuer) AccessToken(ctx context.Context, req AccessRequest) (Access, error) {
	now := i.now()
	ttl := i.cfg.Tokens.AccessTokenTTL
	aud, profile := i.Profile(req)
	c := accessClaims{
		Issuer:    i.iss,
		Subject:   req.Subject,
		Audience:  req.Audience,
		ExpiresAt: now.Add(ttl).Unix(),
		IssuedAt:  now.Unix(),
		JTI:       oauth.RandomToken(16),
		ClientID:  req.ClientID,
		Scope:     req.Scope,
		AuthTime:  unixOrZero(req.AuthTime),
		Ownership: req.Ownership,
		GrantID:   req.GrantID,
	}
	if req.Confirmation != "" {
		c.Cnf = &Confirmation{X5tS256: req.Confirmation}
	}
	c.Audience = aud
	var (
		tok string
		err error
	)
	if profile == ProfileBackstage {
		if c.Ownership == nil {
			c.Ownership = []string{} // Backstage reads ent as an array
		}
		tok, err = i.keys.SignWithKey(TypeIdentity, func(key keyset.SigningKey) ([]byte, error) {
			if c.UIP, err = userIdentityProof(key, c.Subject, c.IssuedAt, c.ExpiresAt); err != nil {
				return nil, err
			}
			return marshalClaims(&c, req.Extra)
		})
	} else {
		var payload []byte
		if payload, err = marshalClaims(&c, req.Extra); err != nil {
			return Access{}, fmt.Errorf("token: access token claims: %w", err)
		}
		tok, err = i.keys.Sign(TypeAccess, payload)
	}
	if err != nil {
		return Access{}, fmt.Errorf("token: sign access token: %w", err)
	}
	return Access{Token: tok, JTI: c.JTI, ExpiresIn: ttl}, nil
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
	// Algorithm is the client's id_token_signed_response_alg; empty means
	// RS256 (OpenID Connect Registration §2).
	Algorithm jose.SignatureAlgorithm
	Extra     map[string]any
}

// idClaims is the OIDC Core §2 payload, with the §5.4 profile and email
// claims the granted scope allows.
type idClaims struct {
	Issuer          string   `json:"iss"`
	Subject         string   `json:"sub"`
	Audience        audience `json:"aud"`
	AuthorizedParty string   `json:"azp"`
	ExpiresAt       int64    `json:"exp"`
	IssuedAt        int64    `json:"iat"`
	AuthTime        int64    `json:"auth_time,omitempty"`
	Nonce           string   `json:"nonce,omitempty"`
	AccessTokenHash string   `json:"at_hash,omitempty"`
	Ownership       []string `json:"ent,omitempty"`
	profileClaims
}

// profileClaims are the standard claims (OIDC Core §5.1) released by the
// profile and email scopes (§5.4), and the whole profile an identity token
// carries.
type profileClaims struct {
	Name              string `json:"name,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	Picture           string `json:"picture,omitempty"`
	Email             string `json:"email,omitempty"`
	EmailVerified     *bool  `json:"email_verified,omitempty"`
}

// profileFor is what the granted scope releases of subject's profile
// (OIDC Core §5.4): profile gives name, preferred_username (the profile's
// user name, else the name of the subject's entity ref) and picture;
// email gives email and email_verified (false unless someone vouched for
// the address). The ID token and userinfo both answer it, so they agree.
func profileFor(subject string, p Profile, scope string) profileClaims {
	var c profileClaims
	if HasScope(scope, "profile") {
		c.Name, c.Picture, c.PreferredUsername = p.DisplayName, p.Picture, p.Username
		if c.PreferredUsername == "" {
			c.PreferredUsername = entityName(subject)
		}
	}
	if HasScope(scope, "email") && p.Email != "" {
		verified := p.EmailVerified != nil && *p.EmailVerified
		c.Email, c.EmailVerified = p.Email, &verified
	}
	return c
}

// entityName is the name part of an entity ref (kind:namespace/name), the
// user name Backstage knows the user by; "" for a subject of another form.
func entityName(subject string) string {
	colon, slash := strings.IndexByte(subject, ':'), strings.IndexByte(subject, '/')
	if colon < 0 || slash < colon {
		return ""
	}
	return subject[slash+1:]
}

// IDToken signs an OIDC ID token.
func (i *Issuer) IDToken(ctx context.Context, req IDRequest) (string, error) {
	now := i.now()
	c := idClaims{
		Issuer:          i.iss,
		Subject:         req.Subject,
		Audience:        audience{req.ClientID},
		AuthorizedParty: req.ClientID,
		ExpiresAt:       now.Add(i.cfg.Tokens.IDTokenTTL).Unix(),
		IssuedAt:        now.Unix(),
		AuthTime:        unixOrZero(req.AuthTime),
		Nonce:           req.Nonce,
		Ownership:       req.Ownership,
		profileClaims:   profileFor(req.Subject, req.Profile, req.Scope),
	}
	alg := req.Algorithm
	if alg == "" {
		alg = keyset.IDTokenDefault
	}
	tok, err := i.keys.SignWith(alg, TypeID, func(alg jose.SignatureAlgorithm) ([]byte, error) {
		if req.AccessToken != "" {
			c.AccessTokenHash = AccessTokenHash(alg, req.AccessToken)
		}
		return marshalClaims(&c, req.Extra)
	})
	if err != nil {
		return "", fmt.Errorf("token: sign ID token: %w", err)
	}
	return tok, nil
}

// AccessTokenHash is the at_hash of an access token (OIDC Core §3.1.3.6):
// the base64url left half of its hash, with the hash that goes with the
// signing algorithm (SHA-256 for ES256 and RS256, SHA-512 for EdDSA with
// Ed25519).
func AccessTokenHash(alg jose.SignatureAlgorithm, accessToken string) string {
	if alg == jose.EdDSA {
		sum := sha512.Sum512([]byte(accessToken))
		return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
	}
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// identityClaims is the payload of a Backstage identity token (Backstage's
// BackstageTokenPayload).
type identityClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Ownership []string `json:"ent"`
	Audience  string   `json:"aud"`
	IssuedAt  int64    `json:"iat"`
	ExpiresAt int64    `json:"exp"`
	AuthTime  int64    `json:"auth_time,omitempty"`
	UIP       string   `json:"uip"`
	// The sign-in's profile, whole (the scope of a later approval picks
	// from it), so that an approval with this token can issue it.
	profileClaims
}

// profileClaimsOf is p whole, as an identity token carries it.
func profileClaimsOf(p Profile) profileClaims {
	return profileClaims{Name: p.DisplayName, PreferredUsername: p.Username, Picture: p.Picture, Email: p.Email, EmailVerified: p.EmailVerified}
}

func (p profileClaims) profile() Profile {
	return Profile{DisplayName: p.Name, Username: p.PreferredUsername, Picture: p.Picture, Email: p.Email, EmailVerified: p.EmailVerified}
}

// IdentityToken signs a Backstage identity token (aud "backstage") for id.
func (i *Issuer) IdentityToken(ctx context.Context, id Identity) (token string, expiresIn time.Duration, err error) {
	now := i.now()
	ttl := i.cfg.Tokens.IdentityTokenTTL
	ent := id.Ownership
	if ent == nil {
		ent = []string{} // Backstage reads ent as an array
	}
	c := identityClaims{
		Issuer:    i.iss,
		Subject:   id.Subject,
		Ownership: ent,
		Audience:  BackstageAudience,
		IssuedAt:  now.Unix(),
		ExpiresAt: now.Add(ttl).Unix(),
		AuthTime:  unixOrZero(id.AuthTime),

		profileClaims: profileClaimsOf(id.Profile),
	}
	token, err = i.keys.SignWithKey(TypeIdentity, func(key keyset.SigningKey) ([]byte, error) {
		uip, err := userIdentityProof(key, c.Subject, c.IssuedAt, c.ExpiresAt)
		if err != nil {
			return nil, err
		}
		c.UIP = uip
		payload, err := marshalClaims(&c, id.Claims)
		if err != nil {
			return nil, fmt.Errorf("token: identity token claims: %w", err)
		}
		return payload, nil
	})
	if err != nil {
		return "", 0, fmt.Errorf("token: sign identity token: %w", err)
	}
	return token, ttl, nil
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
	// Confirmation is the x5t#S256 the token is bound to, or "".
	Confirmation string
}

// VerifyAccessToken checks signature, issuer, expiry, that neither the
// token (jti) nor its grant has been revoked, and that its client still
// exists. Failures are *oauth.Error invalid_token (server_error if the
// store fails).
func (i *Issuer) VerifyAccessToken(ctx context.Context, raw string) (VerifiedAccess, error) {
	v, err := i.parseAccessToken(ctx, raw)
	if err != nil {
		return VerifiedAccess{}, err
	}
	if err := i.checkRevoked(ctx, v); err != nil {
		return VerifiedAccess{}, err
	}
	return v, nil
}

// parseAccessToken checks what the token itself says: signature, typ
// (RFC 9068 §4), iss, exp and iat; not the store.
func (i *Issuer) parseAccessToken(ctx context.Context, raw string) (VerifiedAccess, error) {
	jws, err := i.keys.Verify(ctx, raw)
	if err != nil {
		return VerifiedAccess{}, invalidToken("the access token is malformed or its signature is invalid", err)
	}
	backstage := equalFold(jws.Type, TypeIdentity)
	if !isAccessType(jws.Type) && !backstage {
		return VerifiedAccess{}, invalidToken("the token is not an access token", nil)
	}
	var c accessClaims
	if err := unmarshalClaims(jws.Payload, &c); err != nil {
		return VerifiedAccess{}, invalidToken("the access token claims are malformed", err)
	}
	// A Backstage user token is an access token only if it was minted as
	// one (for a client); a sign-in's identity token has no client_id.
	if backstage && (c.ClientID == "" || !c.Audience.contains(BackstageAudience)) {
		return VerifiedAccess{}, invalidToken("the token is not an access token", nil)
	}
	if c.Issuer != i.iss {
		return VerifiedAccess{}, invalidToken("the access token was issued by another issuer", nil)
	}
	if c.JTI == "" || c.ClientID == "" || c.Subject == "" {
		return VerifiedAccess{}, invalidToken("the access token lacks required claims", nil)
	}
	if err := i.checkTimes(c.IssuedAt, c.ExpiresAt); err != nil {
		return VerifiedAccess{}, err
	}
	var bound string
	if c.Cnf != nil {
		if bound = c.Cnf.X5tS256; bound == "" {
			return VerifiedAccess{}, invalidToken("the access token's confirmation names no certificate", nil)
		}
	}
	return VerifiedAccess{
		Confirmation: bound,
		JTI:          c.JTI,
		ClientID:     c.ClientID,
		Subject:      c.Subject,
		Ownership:    c.Ownership,
		Scope:        c.Scope,
		Audience:     c.Audience,
		GrantID:      c.GrantID,
		IssuedAt:     time.Unix(c.IssuedAt, 0),
		ExpiresAt:    time.Unix(c.ExpiresAt, 0),
		AuthTime:     timeOrZero(c.AuthTime),
	}, nil
}

// isAccessType accepts the RFC 9068 §4 typ, with or without the
// "application/" prefix, case-insensitively (RFC 7515 §4.1.9).
func isAccessType(typ string) bool {
	return equalFold(typ, TypeAccess) || equalFold(typ, "application/"+TypeAccess)
}

func (i *Issuer) checkTimes(iat, exp int64) *oauth.Error {
	now := i.now()
	if exp == 0 || !now.Before(time.Unix(exp, 0).Add(leeway)) {
		return invalidToken("the token has expired", nil)
	}
	if time.Unix(iat, 0).After(now.Add(leeway)) {
		return invalidToken("the token is not valid yet", nil)
	}
	return nil
}

// checkRevoked looks the token's jti, client and grant up in the store.
func (i *Issuer) checkRevoked(ctx context.Context, v VerifiedAccess) error {
	_, err := i.st.Revocations.Get(ctx, v.JTI)
	switch {
	case err == nil:
		return invalidToken("the access token has been revoked", nil)
	case !errors.Is(err, store.ErrNotFound):
		return oauth.ErrServerError().WithParent(fmt.Errorf("token: revocation lookup: %w", err))
	}
	if err := i.ClientExists(ctx, v.ClientID); err != nil {
		return err
	}
	if v.GrantID == "" {
		return nil
	}
	g, err := i.st.Grants.Get(ctx, v.GrantID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return invalidToken("the grant of this access token has been revoked", nil)
	case err != nil:
		return oauth.ErrServerError().WithParent(fmt.Errorf("token: grant lookup: %w", err))
	case g.Revoked:
		return invalidToken("the grant of this access token has been revoked", nil)
	}
	return nil
}

// ClientExists returns invalid_token unless the client is registered, or
// is the client of an accepted client ID metadata document (which has no
// record to delete: its tokens end with the document, refused or gone).
// Deleting a client (RFC 7592 §2.3) is its tokens' revocation: the store
// has no index of tokens by client, and a scan could not be one atomic
// write with the delete, so every access token, refresh token, code and
// CIBA request is honoured only while its client's record exists, and the
// single delete of that record ends them all at once.
func (i *Issuer) ClientExists(ctx context.Context, clientID string) error {
	_, err := i.clients.Get(ctx, clientID)
	var refused *oauth.Error
	switch {
	case errors.Is(err, store.ErrNotFound):
		return invalidToken("the client of this token no longer exists", nil)
	case errors.As(err, &refused):
		return invalidToken("the client of this token is no longer accepted", err)
	case err != nil:
		return oauth.ErrServerError().WithParent(fmt.Errorf("token: client lookup: %w", err))
	}
	return nil
}

// VerifyIdentityToken checks a Backstage identity token minted by this
// server and returns the identity in it.
func (i *Issuer) VerifyIdentityToken(ctx context.Context, raw string) (Identity, error) {
	jws, err := i.keys.Verify(ctx, raw)
	if err != nil {
		return Identity{}, invalidToken("the identity token is malformed or its signature is invalid", err)
	}
	if !equalFold(jws.Type, TypeIdentity) {
		return Identity{}, invalidToken("the token is not a Backstage identity token", nil)
	}
	var c struct {
		Issuer    string   `json:"iss"`
		Subject   string   `json:"sub"`
		Ownership []string `json:"ent"`
		Audience  audience `json:"aud"`
		IssuedAt  int64    `json:"iat"`
		ExpiresAt int64    `json:"exp"`
		AuthTime  int64    `json:"auth_time"`
		// Set in access tokens only (the Backstage profile's too).
		ClientID string `json:"client_id"`
		profileClaims
	}
	if err := unmarshalClaims(jws.Payload, &c); err != nil {
		return Identity{}, invalidToken("the identity token claims are malformed", err)
	}
	if c.Issuer != i.iss {
		return Identity{}, invalidToken("the identity token was issued by another issuer", nil)
	}
	if !c.Audience.contains(BackstageAudience) {
		return Identity{}, invalidToken("the identity token is not meant for backstage", nil)
	}
	// A client's access token in the Backstage profile is a user token to
	// Backstage's backends, but it does not speak for the user here: it
	// cannot approve consent or backchannel requests (another client's).
	if c.ClientID != "" {
		return Identity{}, invalidToken("an access token issued to a client is not the user's identity token", nil)
	}
	if c.Subject == "" {
		return Identity{}, invalidToken("the identity token has no subject", nil)
	}
	if err := i.checkTimes(c.IssuedAt, c.ExpiresAt); err != nil {
		return Identity{}, err
	}
	return Identity{Subject: c.Subject, Ownership: c.Ownership, Profile: c.profile(), Claims: extraClaims(jws.Payload), AuthTime: timeOrZero(c.AuthTime)}, nil
}

// NewRefreshToken makes a refresh token in grant g and the write that
// records it (stored hashed), for the caller to commit with the rest of
// its token response. It expires with the grant, or after
// refresh_token_ttl if that comes first.
func (i *Issuer) NewRefreshToken(g store.Grant, scope string) (string, store.Write, error) {
	now := i.now()
	expires := now.Add(i.cfg.Tokens.RefreshTokenTTL)
	if !g.ExpiresAt.IsZero() && g.ExpiresAt.Before(expires) {
		expires = g.ExpiresAt
	}
	tok := oauth.RandomToken(32)
	w, err := i.st.RefreshTokens.CreateWrite(store.HashID(tok), store.RefreshToken{
		GrantID:   g.ID,
		ClientID:  g.ClientID,
		Scope:     scope,
		IssuedAt:  now,
		ExpiresAt: expires,
	})
	if err != nil {
		return "", store.Write{}, fmt.Errorf("token: refresh token for grant %s: %w", g.ID, err)
	}
	return tok, w, nil
}

// RevokeGrant revokes a grant and so every token it produced: refresh
// tokens are checked against it on use, access tokens on verification.
// A grant that does not exist (or has expired) is not an error.
func (i *Issuer) RevokeGrant(ctx context.Context, grantID string) error {
	_, err := i.st.Grants.Update(ctx, grantID, func(g store.Grant) (store.Grant, error) {
		g.Revoked = true
		return g, nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("token: revoke grant %s: %w", grantID, err)
	}
	return nil
}

// invalidToken is the RFC 6750 §3.1 error, with its challenge.
func invalidToken(description string, parent error) *oauth.Error {
	e := oauth.ErrInvalidToken().WithDescription("%s", description).
		WithChallenge(bearerChallenge("invalid_token", description))
	if parent != nil {
		e = e.WithParent(parent)
	}
	return e
}

// bearerChallenge is an RFC 6750 §3 WWW-Authenticate value. Descriptions
// are the server's own constant strings, free of quotes.
func bearerChallenge(code, description string) string {
	return `Bearer realm="gatehouse", error="` + code + `", error_description="` + description + `"`
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func timeOrZero(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}
