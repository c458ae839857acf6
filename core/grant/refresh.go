package grant

import (
	"context"
	"errors"
	"log/slog"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

// Refresh redeems refresh tokens (RFC 6749 §6) with rotation: each
// refresh token is used once and replaced, and presenting a used one
// again revokes the whole grant, the newest refresh token included
// (RFC 9700 §4.14.2).
type Refresh struct {
	st     *store.Store
	issuer *token.Issuer
	mint   *Minter
}

var (
	_ Flow        = (*Refresh)(nil)
	_ ReadAheader = (*Refresh)(nil)
)

// NewRefresh returns the refresh_token flow.
func NewRefresh(st *store.Store, issuer *token.Issuer, mint *Minter) *Refresh {
	return &Refresh{st: st, issuer: issuer, mint: mint}
}

func (*Refresh) GrantType() string { return TypeRefreshToken }

// errRefreshUsed is how the compare-and-swap reports a token rotated by
// someone else in the meantime.
var errRefreshUsed = errors.New("refresh token already used")

// ReadAhead names the refresh token's record, which Handle reads first.
func (f *Refresh) ReadAhead(params oauth.Params) []string {
	if raw := params.Get("refresh_token"); raw != "" {
		return []string{f.st.RefreshTokens.Key(store.HashID(raw))}
	}
	return nil
}

// Handle rotates the refresh token and mints new tokens.
func (f *Refresh) Handle(ctx context.Context, req *Request) (*Response, error) {
	// Parse.
	raw := req.Params.Get("refresh_token")
	if raw == "" {
		return nil, oauth.ErrInvalidRequest().WithDescription("refresh_token is required")
	}
	requested := req.Params.Get("scope")

	// Validate.
	id := store.HashID(raw)
	rt, version, err := f.st.RefreshTokens.GetVersion(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, oauth.ErrInvalidGrant().WithDescription("refresh token is invalid or expired")
	}
	if err != nil {
		return nil, serverError("read refresh token", err)
	}
	if rt.Used {
		// Presented by whoever holds it, a used token means two parties
		// have it: the grant dies before anything else is looked at.
		return nil, f.reused(ctx, req, &rt)
	}
	now := f.mint.Now()
	if !now.Before(rt.ExpiresAt) {
		return nil, oauth.ErrInvalidGrant().WithDescription("refresh token is invalid or expired")
	}
	if rt.ClientID != req.Client.ID {
		// RFC 6749 §6: the token must have been issued to this client.
		return nil, oauth.ErrInvalidGrant().WithDescription("refresh token is invalid or expired")
	}
	g, err := f.st.Grants.Get(ctx, rt.GrantID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (g.Revoked || !now.Before(g.ExpiresAt))) {
		return nil, oauth.ErrInvalidGrant().WithDescription("the grant of this refresh token is revoked or expired")
	}
	if err != nil {
		return nil, serverError("read grant", err)
	}
	if g.Confirmation != "" && g.Confirmation != req.Confirmation {
		return nil, oauth.ErrInvalidGrant().WithDescription("the refresh token is bound to another client certificate (RFC 8705 §4)")
	}
	// RFC 6749 §6: the scope may be narrowed, never widened. The bound is
	// the scope this token carries (the grant's, or what an earlier
	// refresh narrowed it to), so a narrowed family stays narrowed.
	scope := rt.Scope
	if requested != "" {
		var refused string
		var ok bool
		scope, refused, ok = narrowScope(requested, rt.Scope)
		if !ok {
			return nil, invalidScope(refused, "was not granted to this refresh token")
		}
	}
	// A value the server no longer offers (removed from
	// registration.custom_scopes) or the client no longer registers (an
	// RFC 7592 update) is not granted again, as for the other grants.
	scope = keepAllowed(scope, f.mint.cfg.RegistrableScopes().Allowed(req.Client.Scope))

	// RFC 8707 §2.2: a refresh may narrow the grant's resources, never
	// name another.
	audience, err := f.mint.resourcesFor(&req.Client, req.Resources, g.Resource, true)
	if err != nil {
		return nil, err
	}

	// Act: rotate (compare-and-swap: of two concurrent refreshes with one
	// token exactly one wins, and the other is reuse) in the same atomic
	// write that records the new refresh token.
	rotate := f.st.RefreshTokens.UpdateWriteFrom(id, version, func(old store.RefreshToken) (store.RefreshToken, error) {
		if old.Used {
			return old, errRefreshUsed
		}
		old.Used = true
		return old, nil
	})
	// OIDC Core §12.2: the ID token keeps auth_time and has no nonce.
	resp, err := f.mint.Mint(ctx, Issue{
		GrantType:  TypeRefreshToken,
		Grant:      g,
		Scope:      scope,
		Audience:   narrowed(audience, g.Resource),
		IDToken:    token.HasScope(scope, scopeOpenID),
		IDTokenAlg: req.Client.IDTokenAlg(),
		Refresh:    true,
		Writes:     []store.Write{rotate},

		Confirmation: req.Confirmation,
	})
	switch {
	case errors.Is(err, errRefreshUsed):
		return nil, f.reused(ctx, req, &rt)
	case errors.Is(err, store.ErrNotFound):
		return nil, oauth.ErrInvalidGrant().WithDescription("refresh token is invalid or expired")
	case err != nil:
		return nil, err
	}

	// Respond.
	slog.LogAttrs(ctx, slog.LevelInfo, "refresh token rotated",
		slog.String("client_id", req.Client.ID), slog.String("grant_id", g.ID))
	return resp, nil
}

// reused revokes the grant of a refresh token presented a second time.
func (f *Refresh) reused(ctx context.Context, req *Request, rt *store.RefreshToken) error {
	slog.LogAttrs(ctx, slog.LevelWarn, "refresh token reused; revoking its grant",
		slog.String("client_id", req.Client.ID), slog.String("token_client_id", rt.ClientID),
		slog.String("grant_id", rt.GrantID))
	if err := f.issuer.RevokeGrant(ctx, rt.GrantID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return serverError("revoke grant of reused refresh token", err)
	}
	return oauth.ErrInvalidGrant().WithDescription("refresh token was already used; the grant is revoked")
}

// invalidScope is RFC 6749 §5.2 invalid_scope, naming the first value
// that was refused (or saying the scope is malformed).
func invalidScope(refused, why string) *oauth.Error {
	if refused == "" {
		return oauth.ErrInvalidScope().WithDescription("scope is malformed (RFC 6749 §3.3)")
	}
	return oauth.ErrInvalidScope().WithDescription("scope %q %s", refused, why)
}
