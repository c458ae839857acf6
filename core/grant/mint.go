package grant

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/metrics"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/plugin"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/token"
	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// Minter creates grants and mints the tokens of successful token
// requests, so that every grant type answers the same way and counts what
// it issues. Safe for concurrent use.
type Minter struct {
	cfg    *config.Config
	st     *store.Store
	issuer *token.Issuer
	clock  func() time.Time
	hooks  plugin.Hooks
	// resources is the RFC 8707 allow-list (tokens.resources,
	// tokens.registered_resources, the client's own).
	resources *oauth.ResourcePolicy
}

// WithClaims makes every grant type ask the token_claims hook of hooks for
// extra access-token claims; unbound, it adds none. They never replace the
// registered claims the issuer sets (iss, sub, aud, exp, scope,
// client_id...).
func (h *Handler) WithClaims(hooks plugin.Hooks) *Handler {
	h.mint.hooks = hooks
	return h
}

// NewMinter returns a minter signing with issuer.
func NewMinter(cfg *config.Config, st *store.Store, issuer *token.Issuer) *Minter {
	return &Minter{cfg: cfg, st: st, issuer: issuer, clock: time.Now,
		resources: oauth.NewResourcePolicy(cfg.Tokens.Resources, cfg.Tokens.RegisteredResources, cfg.FixedResources()...)}
}

// Now is the minter's clock, for flows to judge expiry by.
func (m *Minter) Now() time.Time { return m.clock() }

// NewGrant completes g as a new grant (a token family): CreatedAt is now
// and, unless set, it expires with the refresh token lifetime.
func (m *Minter) NewGrant(g store.Grant) store.Grant {
	now := m.clock()
	g.CreatedAt = now
	if g.ExpiresAt.IsZero() {
		g.ExpiresAt = now.Add(m.cfg.Tokens.RefreshTokenTTL)
	}
	return g
}

// GrantWrite is the write that creates g (completed by NewGrant) in the
// batch Mint commits.
func (m *Minter) GrantWrite(g store.Grant) (store.Write, error) {
	w, err := m.st.Grants.CreateWrite(g.ID, g)
	if err != nil {
		return store.Write{}, fmt.Errorf("grant: create grant %s: %w", g.ID, err)
	}
	return w, nil
}

// Issue describes the tokens to mint for one successful token request.
type Issue struct {
	// GrantType labels the metrics.
	GrantType string
	// Grant says for whom and what: client, subject, ownership, profile,
	// resources (the access token's audience, RFC 8707) and auth_time. Its
	// ID is empty for tokens outside any grant (client_credentials).
	Grant store.Grant
	// Scope of these tokens: the grant's, or narrower (RFC 6749 §6).
	Scope string
	// Audience of the access token when the request narrowed the grant's
	// resources (RFC 8707 §2.2); nil means the grant's.
	Audience []string
	// IDToken asks for an ID token (OIDC Core §3.1.3.3); Nonce goes in it
	// (only for the authorization code's first exchange, OIDC Core §12.2).
	IDToken bool
	Nonce   string
	// IDTokenAlg is the client's ID token algorithm (store.Client.IDTokenAlg).
	IDTokenAlg string
	// Confirmation binds the access token to a client certificate
	// (Request.Confirmation).
	Confirmation string
	// Refresh asks for a refresh token in the grant; the grant must have
	// an ID and be stored, or created by Writes.
	Refresh bool
	// Writes are the caller's writes that must commit with these tokens
	// (spending a code, creating the grant, rotating a refresh token).
	Writes []store.Write
	// Finish, when set, sees the response before anything is recorded: it
	// may complete it and returns writes that carry it and so must commit
	// with it (CIBA's push delivery). Its error is returned as it is.
	Finish func(ctx context.Context, resp *Response) ([]store.Write, error)
}

// Mint signs the access token, then the ID token (whose at_hash covers
// the access token), makes the refresh token, and commits the refresh
// token with the caller's Writes in one atomic write, so that a response
// is handed out only if everything it stands for is recorded, and a
// failure or a crash leaves none of it. Failures are server_error, whose
// parent is the cause (a Writes error is there for errors.Is).
func (m *Minter) Mint(ctx context.Context, is Issue) (*Response, error) {
	g := &is.Grant
	var extra map[string]any
	if m.hooks != nil {
		r, err := m.hooks.TokenClaims(ctx, hook.TokenClaimsInput{ClientID: g.ClientID, Sub: g.Subject, Scope: is.Scope, GrantType: is.GrantType})
		if err != nil && !errors.Is(err, plugin.ErrNotBound) {
			return nil, oauth.ErrServerError().WithDescription("plugin failed").
				WithParent(fmt.Errorf("grant: token_claims for client %s: %w", g.ClientID, err))
		}
		extra = r.Claims
	}
	extra = withUserClaims(g.Claims, extra)
	audience := g.Resource
	if is.Audience != nil {
		audience = is.Audience
	}
	access, err := m.issuer.AccessToken(ctx, token.AccessRequest{
		ClientID:  g.ClientID,
		Subject:   g.Subject,
		Ownership: g.Ownership,
		Scope:     is.Scope,
		Audience:  audience,
		GrantID:   g.ID,
		AuthTime:  g.AuthTime,
		ForClient: is.GrantType == TypeClientCredentials,
		Extra:     extra,

		Confirmation: is.Confirmation,
	})
	if err != nil {
		return nil, serverError("sign access token", err)
	}
	resp := &Response{
		AccessToken: access.Token,
		TokenType:   "Bearer",
		ExpiresIn:   int64(access.ExpiresIn / time.Second),
		Scope:       is.Scope,
	}
	counters := countersFor(is.GrantType)
	if is.IDToken {
		resp.IDToken, err = m.issuer.IDToken(ctx, token.IDRequest{
			ClientID:    g.ClientID,
			Subject:     g.Subject,
			Ownership:   g.Ownership,
			Nonce:       is.Nonce,
			AuthTime:    g.AuthTime,
			AccessToken: access.Token,
			Profile:     g.Profile,
			Scope:       is.Scope,
			Algorithm:   jose.SignatureAlgorithm(is.IDTokenAlg),
			Extra:       g.Claims,
		})
		if err != nil {
			return nil, serverError("sign ID token", err)
		}
	}
	writes := is.Writes
	if is.Refresh {
		if g.ID == "" {
			return nil, serverError("issue refresh token", errors.New("no grant to issue it in"))
		}
		var w store.Write
		resp.RefreshToken, w, err = m.issuer.NewRefreshToken(*g, is.Scope)
		if err != nil {
			return nil, serverError("issue refresh token", err)
		}
		writes = append(slices.Clip(writes), w)
	}
	if is.Finish != nil {
		more, err := is.Finish(ctx, resp)
		if err != nil {
			return nil, err
		}
		writes = append(slices.Clip(writes), more...)
	}
	if len(writes) > 0 {
		if err := m.st.Apply(ctx, writes...); err != nil {
			return nil, serverError("record tokens", err)
		}
	}
	counters.access.Inc()
	if resp.IDToken != "" {
		counters.id.Inc()
	}
	if resp.RefreshToken != "" {
		counters.refresh.Inc()
	}
	return resp, nil
}

// withUserClaims merges the user's sign-in claims (the sign_in hook's,
// kept in the grant) under the token_claims hook's, which are specific to
// this client and request and so win. The issuer drops registered names
// from both.
func withUserClaims(user, hook map[string]any) map[string]any {
	if len(user) == 0 {
		return hook
	}
	merged := make(map[string]any, len(user)+len(hook))
	for k, v := range user {
		merged[k] = v
	}
	for k, v := range hook {
		merged[k] = v
	}
	return merged
}

// serverError hides err from the client and keeps it for the log.
func serverError(what string, err error) *oauth.Error {
	return oauth.ErrServerError().WithParent(fmt.Errorf("grant: %s: %w", what, err))
}

// kindCounters are the TokensIssued counters of one grant type, looked up
// once rather than on every request.
type kindCounters struct{ access, id, refresh prometheus.Counter }

var builtinCounters = map[string]*kindCounters{}

func init() {
	for _, gt := range []string{TypeAuthorizationCode, TypeRefreshToken, TypeClientCredentials} {
		builtinCounters[gt] = newKindCounters(gt)
	}
}

func newKindCounters(grantType string) *kindCounters {
	return &kindCounters{
		access:  metrics.TokensIssued.WithLabelValues(grantType, "access"),
		id:      metrics.TokensIssued.WithLabelValues(grantType, "id"),
		refresh: metrics.TokensIssued.WithLabelValues(grantType, "refresh"),
	}
}

func countersFor(grantType string) *kindCounters {
	if c, ok := builtinCounters[grantType]; ok {
		return c
	}
	return newKindCounters(grantType)
}
