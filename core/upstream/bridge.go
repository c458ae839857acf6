package upstream

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/identity"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/plugin"
	"github.com/gatehouse-auth/gatehouse/core/ratelimit"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// BridgeClientPrefix starts every bridged client_id, so that the token
// endpoint knows which requests are the bridge's without a store lookup.
const BridgeClientPrefix = "bridge-"

// refreshMargin: an upstream access token expiring sooner than this is
// refreshed before it is handed out.
const refreshMargin = time.Minute

// bridgeProvider is the provider name the bridge's round trips record.
const bridgeProvider = "~bridge"

//go:embed templates
var templates embed.FS

// purgePage is how many bridged grants one read of PurgeBridge takes.
const purgePage = 256

// PurgeBridge deletes the bridged grants that have expired and returns
// how many. Badger expires them by TTL already; this sweeps backends
// without TTLs and is what `gatehouse bridge purge` runs. It reads the
// grants a page at a time, deleting as it goes.
func PurgeBridge(ctx context.Context, st *store.Store, now time.Time) (int, error) {
	grants := st.BridgeGrants
	purged, after := 0, ""
	for {
		page, next, err := grants.ListPage(ctx, store.Page{After: after, Limit: purgePage})
		if err != nil {
			return purged, fmt.Errorf("upstream: list bridged grants: %w", err)
		}
		for _, r := range page {
			if now.Before(r.Value.ExpiresAt) {
				continue
			}
			if err := grants.Delete(ctx, r.ID); err != nil {
				return purged, fmt.Errorf("upstream: purge bridged grant: %w", err)
			}
			purged++
		}
		if next == "" {
			return purged, nil
		}
		after = next
	}
}

// Bridge is the client bridge for native apps: a landing page starts the
// code flow against one upstream, the callback turns the grant into a new
// client_id/client_secret pair, and client_credentials at the token
// endpoint hands out the upstream's access token, refreshed as needed.
type Bridge struct {
	cfg    *config.Config
	up     Upstream
	states store.Collection[store.UpstreamState]
	grants store.Collection[store.BridgeGrant]
	page   *identity.Page
	hooks  plugin.Hooks
	now    func() time.Time

	// locks queues the requests of one bridged client within this
	// process, so that they do not spin on each other's refresh claim;
	// the claim in the store (RefreshingUntil) is what makes one refresh
	// at a time across replicas.
	locks sync.Map // client_id → *sync.Mutex

	// revokers limits /bridge/revoke per remote address, in this process.
	revokers *ratelimit.Buckets
}

// newBridge returns the bridge configured in cfg.Bridge, or nil when it is
// off.
func newBridge(cfg *config.Config, st *store.Store, client *http.Client, hooks plugin.Hooks) (*Bridge, error) {
	if !cfg.Bridge.Enabled {
		return nil, nil
	}
	pc := cfg.Providers[cfg.Bridge.Provider][cfg.Bridge.Env]
	up, err := newUpstream(pc, cfg.Issuer()+"/bridge/callback", client)
	if err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	page, err := identity.ParsePage(cfg, templates, "templates/bridge.html")
	if err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	return &Bridge{
		cfg: cfg, up: up, page: page, hooks: hooks, now: time.Now,
		states:   st.UpstreamStates,
		grants:   st.BridgeGrants,
		revokers: ratelimit.PerMinute(cfg.Bridge.RevokePerMinute),
	}, nil
}

// Register mounts the bridge's routes. The token route only takes
// client_credentials requests of bridged clients and passes every other
// request on to the token endpoint; it is mounted after the token rate
// limiter, which counts bridged clients per client_id and address too.
func (b *Bridge) Register(r fiber.Router) {
	r.Get("/bridge", b.landing)
	r.Get("/bridge/start", b.start)
	r.Get("/bridge/callback", b.callback)
	r.Post("/bridge/revoke", b.revoke)
	r.Post("/v1/token", b.token)
}

type bridgeView struct {
	Step         string
	Provider     string
	StartURL     string
	ClientID     string
	ClientSecret string
	TokenURL     string
	Message      string
}

// landing explains what the bridge does and links to the upstream.
func (b *Bridge) landing(c *fiber.Ctx) error {
	return b.page.Render(c, fiber.StatusOK, bridgeView{
		Step: "landing", Provider: b.cfg.Bridge.Provider, StartURL: b.cfg.Server.BasePath + "/bridge/start",
	})
}

// start sends the browser to the upstream, as a provider's start does.
func (b *Bridge) start(c *fiber.Ctx) error {
	ctx := c.UserContext()
	state, binding := oauth.RandomToken(32), oauth.RandomToken(32)
	st := store.UpstreamState{
		Provider: bridgeProvider, Env: b.cfg.Bridge.Env, Verifier: oauth2.GenerateVerifier(),
		Nonce: oauth.RandomToken(16), BindingHash: store.HashID(binding), ExpiresAt: b.now().Add(stateTTL),
	}
	target, err := b.up.AuthCodeURL(ctx, state, st.Nonce, st.Verifier, nil)
	if err != nil {
		return oauth.ErrTemporarilyUnavailable().WithDescription("the upstream provider cannot be reached").WithParent(err)
	}
	if err := b.states.Create(ctx, store.HashID(state), st); err != nil {
		return oauth.ErrServerError().WithParent(err)
	}
	b.setCookie(c, binding, st.ExpiresAt)
	oauth.NoStore(c)
	return c.Redirect(target, fiber.StatusFound)
}

func (b *Bridge) setCookie(c *fiber.Ctx, value string, expires time.Time) {
	c.Cookie(&fiber.Cookie{
		Name: "gatehouse_bridge_nonce", Value: value, Path: b.cfg.Server.BasePath + "/bridge", Expires: expires,
		Secure: identity.Secure(b.cfg), HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode,
	})
}

// callback finishes the round trip and shows the new client credentials,
// once: the secret exists nowhere else.
func (b *Bridge) callback(c *fiber.Ctx) error {
	ctx := c.UserContext()
	fail := func(status int, msg string) error {
		return b.page.Render(c, status, bridgeView{Step: "error", Message: msg,
			StartURL: b.cfg.Server.BasePath + "/bridge/start"})
	}
	raw := c.Query("state")
	if raw == "" || len(raw) > 256 {
		return fail(fiber.StatusBadRequest, "The answer has no valid state. Start again.")
	}
	id := store.HashID(raw)
	st, err := b.states.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (st.Provider != bridgeProvider || b.now().After(st.ExpiresAt))) {
		return fail(fiber.StatusBadRequest, "This attempt has expired or was already used. Start again.")
	}
	if err != nil {
		return oauth.ErrServerError().WithParent(err)
	}
	binding := c.Cookies("gatehouse_bridge_nonce")
	if binding == "" || subtle.ConstantTimeCompare([]byte(store.HashID(binding)), []byte(st.BindingHash)) != 1 {
		return fail(fiber.StatusBadRequest, "This attempt was started in another browser. Start again.")
	}
	if err := b.states.Delete(ctx, id); err != nil {
		return oauth.ErrServerError().WithParent(err)
	}
	b.setCookie(c, "", time.Unix(0, 0))
	if e := c.Query("error"); e != "" {
		return fail(fiber.StatusForbidden, "The provider refused: "+truncate(e+" "+c.Query("error_description"), 200))
	}
	code := c.Query("code")
	if code == "" {
		return fail(fiber.StatusBadRequest, "The provider sent no authorization code.")
	}
	r, err := b.up.Exchange(ctx, code, st.Verifier, st.Nonce)
	if err != nil {
		slog.InfoContext(ctx, "bridge: upstream answer refused", "error", err)
		return fail(fiber.StatusBadGateway, "The provider's answer could not be verified.")
	}
	// The provider's sign-in hooks decide here too: someone the sign-in
	// refuses gets no bridged client.
	u, err := signIn(ctx, b.hooks, b.cfg.Bridge.Provider, b.cfg.Bridge.Env, r.Profile, r.Claims)
	if err != nil {
		var se *signInError
		if !errors.As(err, &se) {
			return oauth.ErrServerError().WithParent(err)
		}
		slog.InfoContext(ctx, "bridge: sign-in refused", "provider", b.cfg.Bridge.Provider, "reason", se.Err.Error())
		return fail(fiber.StatusForbidden, se.Message)
	}
	clientID, secret := BridgeClientPrefix+oauth.RandomToken(16), oauth.RandomToken(32)
	sealed, err := sealGrant(secret, sealBridge, clientID, r)
	if err != nil {
		return oauth.ErrServerError().WithParent(err)
	}
	sub, _ := r.Claims["sub"].(string)
	now := b.now()
	g := store.BridgeGrant{
		ClientID: clientID, SecretHash: oauth.HashSecret(secret), Provider: b.cfg.Bridge.Provider, Env: b.cfg.Bridge.Env,
		Subject: sub, Sealed: sealed, CreatedAt: now, ExpiresAt: now.Add(b.cfg.Bridge.GrantTTL),
	}
	if err := b.grants.Create(ctx, clientID, g); err != nil {
		return oauth.ErrServerError().WithParent(err)
	}
	slog.InfoContext(ctx, "bridge: client created", "client_id", clientID, "provider", g.Provider, "env", g.Env,
		"sub", u.Subject, "refreshable", r.Token.RefreshToken != "")
	oauth.NoStore(c)
	return b.page.Render(c, fiber.StatusOK, bridgeView{
		Step: "done", Provider: g.Provider, ClientID: clientID, ClientSecret: secret, TokenURL: b.cfg.Issuer() + "/v1/token",
	})
}

// authenticate checks a bridged client's credentials (RFC 6749 §2.3.1) in
// constant time and returns its grant.
func (b *Bridge) authenticate(ctx context.Context, cred oauth.Credentials) (store.BridgeGrant, error) {
	g, err := b.grants.Get(ctx, cred.ClientID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !b.now().Before(g.ExpiresAt)) {
		return store.BridgeGrant{}, b.invalidClient(cred)
	}
	if err != nil {
		return store.BridgeGrant{}, oauth.ErrServerError().WithParent(err)
	}
	if subtle.ConstantTimeCompare(oauth.HashSecret(cred.Secret), g.SecretHash) != 1 {
		return store.BridgeGrant{}, b.invalidClient(cred)
	}
	return g, nil
}

func (b *Bridge) invalidClient(cred oauth.Credentials) *oauth.Error {
	e := oauth.ErrInvalidClient()
	if cred.Method == oauth.AuthBasic {
		e = e.WithChallenge(`Basic realm="gatehouse"`)
	}
	return e
}

// bridgeTokenResponse is RFC 6749 §5.1, the upstream's access token.
type bridgeTokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in,omitempty"`
	Scope       string `json:"scope,omitempty"`
}

// token serves client_credentials (RFC 6749 §4.4) for bridged clients:
// open the grant with the presented secret, refresh it upstream when it is
// about to expire (re-sealed), and answer the upstream access token.
func (b *Bridge) token(c *fiber.Ctx) error {
	p, err := oauth.Parse(c)
	if err != nil || p.Get("grant_type") != "client_credentials" {
		return c.Next()
	}
	cred, err := oauth.ReadCredentials(c, p)
	if err != nil || !strings.HasPrefix(cred.ClientID, BridgeClientPrefix) {
		return c.Next()
	}
	ctx := c.UserContext()
	if cred.Method == oauth.AuthNone || cred.Secret == "" {
		return b.invalidClient(cred)
	}
	mu, _ := b.locks.LoadOrStore(cred.ClientID, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	tok, err := b.currentToken(ctx, cred)
	if err != nil {
		return err
	}
	resp := bridgeTokenResponse{AccessToken: tok.AccessToken, TokenType: "Bearer"}
	if !tok.Expiry.IsZero() {
		resp.ExpiresIn = max(int64(tok.Expiry.Sub(b.now()).Seconds()), 0)
	}
	resp.Scope, _ = tok.Extra("scope").(string)
	return oauth.JSON(c, fiber.StatusOK, resp)
}

// refreshClaim bounds one upstream refresh: a claim older than this (its
// server died or hung) may be taken over.
const refreshClaim = 30 * time.Second

// claimWait and claimRounds bound how long a request waits for another
// server's refresh when the token it has has expired.
const (
	claimWait   = 100 * time.Millisecond
	claimRounds = 30
)

var (
	errGrantChanged   = errors.New("bridge: grant changed meanwhile")
	errRefreshClaimed = errors.New("bridge: another server is refreshing the grant")
)

// currentToken returns the upstream token of the bridged client,
// refreshed when it is about to expire. The refresh is claimed in the
// store (compare-and-swap on the grant), so that of the replicas sharing
// it exactly one refreshes with a given refresh token, which an upstream
// that rotates refresh tokens requires; the others use its result.
func (b *Bridge) currentToken(ctx context.Context, cred oauth.Credentials) (*oauth2.Token, error) {
	for range claimRounds {
		g, err := b.authenticate(ctx, cred)
		if err != nil {
			return nil, err
		}
		grant, err := unsealGrant(cred.Secret, sealBridge, g.ClientID, g.Sealed)
		if err != nil {
			// The hash matched, so the record was altered or moved.
			slog.WarnContext(ctx, "bridge: grant does not open", "client_id", g.ClientID)
			return nil, oauth.ErrInvalidGrant().WithDescription("the bridged grant cannot be opened").WithParent(err)
		}
		tok := grant.Token
		now := b.now()
		if tok.Expiry.IsZero() || !tok.Expiry.Before(now.Add(refreshMargin)) {
			// Fresh enough: only the grant's expiry moves, and only if the
			// grant is still the one read (a refresh elsewhere wins).
			err := b.updateGrant(ctx, &g, func(old *store.BridgeGrant) error {
				old.ExpiresAt = now.Add(b.cfg.Bridge.GrantTTL)
				return nil
			})
			switch {
			case errors.Is(err, store.ErrNotFound):
				return nil, b.invalidClient(cred) // revoked meanwhile
			case err != nil && !errors.Is(err, errGrantChanged):
				return nil, oauth.ErrServerError().WithParent(err)
			}
			return tok, nil
		}
		rf, ok := b.up.(Refresher)
		if !ok || tok.RefreshToken == "" {
			return nil, oauth.ErrInvalidGrant().WithDescription("the upstream grant has expired and cannot be refreshed: connect again")
		}
		switch err := b.claimRefresh(ctx, &g); {
		case errors.Is(err, errGrantChanged):
			continue // refreshed elsewhere meanwhile: read it again
		case errors.Is(err, store.ErrNotFound):
			return nil, b.invalidClient(cred) // revoked meanwhile
		case errors.Is(err, errRefreshClaimed):
			if now.Before(tok.Expiry) {
				return tok, nil // still valid while the other server refreshes
			}
			select {
			case <-ctx.Done():
				return nil, oauth.ErrTemporarilyUnavailable().WithParent(ctx.Err())
			case <-time.After(claimWait):
			}
			continue
		case err != nil:
			return nil, oauth.ErrServerError().WithParent(err)
		}
		return b.refresh(ctx, cred, g, grant, rf)
	}
	return nil, oauth.ErrTemporarilyUnavailable().WithDescription("the upstream grant is being refreshed: try again")
}

// refresh refreshes the upstream grant under this server's claim and
// stores the result, re-sealed, giving the claim back.
func (b *Bridge) refresh(ctx context.Context, cred oauth.Credentials, g store.BridgeGrant, grant sealedGrant, rf Refresher) (*oauth2.Token, error) {
	tok := grant.Token
	release := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := b.updateGrant(rctx, &g, func(old *store.BridgeGrant) error {
			old.RefreshingUntil = time.Time{}
			return nil
		}); err != nil &&
			!errors.Is(err, store.ErrNotFound) {
			slog.WarnContext(rctx, "bridge: cannot give the refresh claim back", "client_id", g.ClientID, "error", err)
		}
	}
	fresh, err := rf.Refresh(ctx, tok, nil)
	if err != nil {
		release()
		slog.InfoContext(ctx, "bridge: upstream refresh failed", "client_id", g.ClientID, "error", err)
		return nil, oauth.ErrInvalidGrant().WithDescription("the upstream refused to refresh the grant: connect again").WithParent(err)
	}
	if fresh.Token.RefreshToken == "" {
		fresh.Token.RefreshToken = tok.RefreshToken
	}
	if fresh.IDToken == "" {
		fresh.IDToken = grant.IDToken
	}
	sealed, err := sealGrant(cred.Secret, sealBridge, g.ClientID, fresh)
	if err != nil {
		release()
		return nil, oauth.ErrServerError().WithParent(err)
	}
	now := b.now()
	err = b.updateGrant(ctx, &g, func(old *store.BridgeGrant) error {
		old.Sealed, old.RefreshingUntil = sealed, time.Time{}
		old.ExpiresAt = now.Add(b.cfg.Bridge.GrantTTL)
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, b.invalidClient(cred) // revoked meanwhile
	}
	if err != nil {
		// The upstream has rotated the refresh token; without the new one
		// stored the grant cannot be refreshed again.
		slog.ErrorContext(ctx, "bridge: refreshed upstream but cannot store the result", "client_id", g.ClientID, "error", err)
		return nil, oauth.ErrServerError().WithParent(err)
	}
	slog.InfoContext(ctx, "bridge: upstream grant refreshed", "client_id", g.ClientID)
	return fresh.Token, nil
}

// claimRefresh claims the refresh of the grant for this server, by
// compare-and-swap: errGrantChanged if the stored grant is no longer g
// (refreshed elsewhere), errRefreshClaimed if another server's claim is
// live. g becomes the stored grant.
func (b *Bridge) claimRefresh(ctx context.Context, g *store.BridgeGrant) error {
	now := b.now()
	return b.updateGrant(ctx, g, func(old *store.BridgeGrant) error {
		if now.Before(old.RefreshingUntil) {
			return errRefreshClaimed
		}
		old.RefreshingUntil = now.Add(refreshClaim)
		return nil
	})
}

// updateGrant applies edit to the stored grant by compare-and-swap, only
// if it still holds the sealed grant g was read with (else
// errGrantChanged), and makes g the stored grant. The stored entry
// expires when the edited grant does, so a grant kept in use lives on.
func (b *Bridge) updateGrant(ctx context.Context, g *store.BridgeGrant, edit func(*store.BridgeGrant) error) error {
	updated, err := b.grants.UpdateRenewing(ctx, g.ClientID, func(old store.BridgeGrant) (store.BridgeGrant, error) {
		if !bytes.Equal(old.Sealed, g.Sealed) {
			return old, errGrantChanged
		}
		return old, edit(&old)
	})
	if err == nil {
		*g = updated
	}
	return err
}

// revoke answers POST /bridge/revoke: the bridged client authenticates and
// its grant is deleted (the upstream grant is no longer usable through
// Gatehouse). Attempts are limited per remote address (behind
// server.trusted_proxies, the one the outermost trusted proxy saw).
func (b *Bridge) revoke(c *fiber.Ctx) error {
	if ok, retry := b.revokers.Take(oauth.ClientIP(c, b.cfg.Server.TrustedProxies), time.Now()); !ok {
		c.Set(fiber.HeaderRetryAfter, fmt.Sprint(int(retry.Seconds())+1))
		return oauth.JSON(c, fiber.StatusTooManyRequests, fiber.Map{
			"error": "slow_down", "error_description": "too many revocation requests from this address"})
	}
	p, err := oauth.Parse(c)
	if err != nil {
		return err
	}
	cred, err := oauth.ReadCredentials(c, p)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(cred.ClientID, BridgeClientPrefix) {
		return b.invalidClient(cred)
	}
	g, err := b.authenticate(c.UserContext(), cred)
	if err != nil {
		return err
	}
	if err := b.grants.Delete(c.UserContext(), g.ClientID); err != nil {
		return oauth.ErrServerError().WithParent(err)
	}
	slog.InfoContext(c.UserContext(), "bridge: client revoked", "client_id", g.ClientID)
	return oauth.JSON(c, fiber.StatusOK, fiber.Map{})
}
