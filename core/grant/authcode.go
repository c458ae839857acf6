package grant

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"slices"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

// AuthorizationCode redeems authorization codes: RFC 6749 §4.1.3, PKCE
// (RFC 7636 §4.5-4.6) and OIDC Core §3.1.3.
type AuthorizationCode struct {
	st     *store.Store
	issuer *token.Issuer
	mint   *Minter
}

var (
	_ Flow        = (*AuthorizationCode)(nil)
	_ ReadAheader = (*AuthorizationCode)(nil)
)

// NewAuthorizationCode returns the authorization_code flow.
func NewAuthorizationCode(st *store.Store, issuer *token.Issuer, mint *Minter) *AuthorizationCode {
	return &AuthorizationCode{st: st, issuer: issuer, mint: mint}
}

func (*AuthorizationCode) GrantType() string { return TypeAuthorizationCode }

// ReadAhead names the code's record, which Handle reads first.
func (f *AuthorizationCode) ReadAhead(params oauth.Params) []string {
	if raw := params.Get("code"); raw != "" {
		return []string{f.st.Codes.Key(store.HashID(raw))}
	}
	return nil
}

// errCodeUsed is how the compare-and-swap reports a code redeemed by
// someone else in the meantime.
var errCodeUsed = errors.New("authorization code already used")

// Handle redeems the code once. Everything is checked before the code is
// spent, except replay: a used code revokes its grant whatever else is
// wrong with the request (RFC 6749 §4.1.2, §10.5).
func (f *AuthorizationCode) Handle(ctx context.Context, req *Request) (*Response, error) {
	// Parse.
	raw := req.Params.Get("code")
	if raw == "" {
		return nil, oauth.ErrInvalidRequest().WithDescription("code is required")
	}
	redirectURI, redirectGiven := req.Params["redirect_uri"]
	verifier, verifierGiven := req.Params["code_verifier"]

	// Validate.
	id := store.HashID(raw)
	code, version, err := f.st.Codes.GetVersion(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, oauth.ErrInvalidGrant().WithDescription("authorization code is invalid or expired")
	}
	if err != nil {
		return nil, serverError("read authorization code", err)
	}
	if code.Used {
		return nil, f.replayed(ctx, req, &code)
	}
	if !f.mint.Now().Before(code.ExpiresAt) {
		return nil, oauth.ErrInvalidGrant().WithDescription("authorization code is invalid or expired")
	}
	if code.ClientID != req.Client.ID {
		// RFC 6749 §4.1.3: the code must have been issued to this client.
		return nil, oauth.ErrInvalidGrant().WithDescription("authorization code is invalid or expired")
	}
	// RFC 6749 §4.1.3: redirect_uri is required when the authorization
	// request had one, and identical to it whenever sent.
	if code.RedirectURIGiven && !redirectGiven {
		return nil, oauth.ErrInvalidGrant().WithDescription("redirect_uri is required: the authorization request had one")
	}
	if redirectGiven && redirectURI != code.RedirectURI {
		return nil, oauth.ErrInvalidGrant().WithDescription("redirect_uri does not match the authorization request")
	}
	if err := checkVerifier(code.CodeChallenge, verifier, verifierGiven); err != nil {
		return nil, err
	}
	// RFC 8707 §2.2: resources named here narrow those authorized.
	audience, err := f.mint.resourcesFor(&req.Client, req.Resources, code.Resource, true)
	if err != nil {
		return nil, err
	}

	// Act: spend the code (compare-and-swap, so that of two concurrent
	// redemptions exactly one wins), record the grant and its refresh
	// token, all in one atomic write with the tokens minted. The spend
	// starts from the code as read (its version), which spares a backend
	// reading it again when it has not changed.
	g := f.mint.NewGrant(store.Grant{
		ID:        code.GrantID,
		ClientID:  code.ClientID,
		Subject:   code.Subject,
		Ownership: code.Ownership,
		Profile:   code.Profile,
		Claims:    code.Claims,
		Scope:     code.Scope,
		Resource:  code.Resource,
		AuthTime:  code.AuthTime,
	})
	if req.Client.Public() {
		// RFC 8705 §4: a public client's refresh tokens are bound to its
		// certificate too, having no other proof of possession.
		g.Confirmation = req.Confirmation
	}
	createGrant, err := f.mint.GrantWrite(g)
	if err != nil {
		return nil, serverError("create grant", err)
	}
	spend := f.st.Codes.UpdateWriteFrom(id, version, func(old store.AuthCode) (store.AuthCode, error) {
		if old.Used {
			return old, errCodeUsed
		}
		return old.Spent(), nil
	})
	resp, err := f.mint.Mint(ctx, Issue{
		GrantType:  TypeAuthorizationCode,
		Grant:      g,
		Scope:      g.Scope,
		Audience:   narrowed(audience, code.Resource),
		IDToken:    token.HasScope(g.Scope, scopeOpenID),
		IDTokenAlg: req.Client.IDTokenAlg(),
		Nonce:      code.Nonce,
		Refresh:    wantsRefresh(&req.Client, g.Scope),

		Confirmation: req.Confirmation,
		Writes:       []store.Write{spend, createGrant},
	})
	switch {
	case errors.Is(err, errCodeUsed):
		return nil, f.replayed(ctx, req, &code)
	case errors.Is(err, store.ErrNotFound):
		return nil, oauth.ErrInvalidGrant().WithDescription("authorization code is invalid or expired")
	case err != nil:
		return nil, err
	}

	// Respond.
	slog.LogAttrs(ctx, slog.LevelInfo, "authorization code redeemed",
		slog.String("client_id", req.Client.ID), slog.String("grant_id", g.ID),
		slog.String("sub", g.Subject), slog.Bool("refresh", resp.RefreshToken != ""))
	return resp, nil
}

// replayed answers a second redemption of a code: the grant it produced
// is revoked, so that whatever the first redemption handed out dies
// (RFC 6749 §4.1.2 "SHOULD revoke"). The code was spent in the same
// atomic write that recorded the grant, so the grant is there to revoke.
func (f *AuthorizationCode) replayed(ctx context.Context, req *Request, code *store.AuthCode) error {
	slog.LogAttrs(ctx, slog.LevelWarn, "authorization code replayed; revoking its grant",
		slog.String("client_id", req.Client.ID), slog.String("code_client_id", code.ClientID),
		slog.String("grant_id", code.GrantID))
	if err := f.issuer.RevokeGrant(ctx, code.GrantID); err != nil {
		return serverError("revoke grant of replayed code", err)
	}
	return oauth.ErrInvalidGrant().WithDescription("authorization code was already used")
}

// checkVerifier is RFC 7636 §4.6 with S256, the only method offered: the
// verifier (§4.1: 43-128 unreserved characters) must hash to the
// challenge, compared in constant time. A verifier sent for a code issued
// without a challenge is refused too, so that PKCE cannot be stripped from
// a request (RFC 9700 §4.8.2).
func checkVerifier(challenge, verifier string, given bool) error {
	if challenge == "" {
		if given {
			return oauth.ErrInvalidGrant().WithDescription("code_verifier was sent but the authorization request had no code_challenge")
		}
		return nil
	}
	if !given || verifier == "" {
		return oauth.ErrInvalidGrant().WithDescription("code_verifier is required: the authorization request had a code_challenge")
	}
	if !validVerifier(verifier) {
		return oauth.ErrInvalidGrant().WithDescription("code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]")
	}
	sum := sha256.Sum256([]byte(verifier))
	var computed [43]byte // base64url of 32 bytes, unpadded
	base64.RawURLEncoding.Encode(computed[:], sum[:])
	if subtle.ConstantTimeCompare(computed[:], []byte(challenge)) != 1 {
		return oauth.ErrInvalidGrant().WithDescription("code_verifier does not match the code_challenge")
	}
	return nil
}

// validVerifier is RFC 7636 §4.1: code-verifier = 43*128unreserved.
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		switch b := v[i]; {
		case 'A' <= b && b <= 'Z', 'a' <= b && b <= 'z', '0' <= b && b <= '9',
			b == '-', b == '.', b == '_', b == '~':
		default:
			return false
		}
	}
	return true
}

// wantsRefresh: a refresh token goes with the offline_access scope (OIDC
// Core §11) or to a client that registered the refresh_token grant type.
func wantsRefresh(client *store.Client, scope string) bool {
	return token.HasScope(scope, scopeOfflineAccess) || slices.Contains(client.GrantTypes, TypeRefreshToken)
}
