package upstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/entityref"
	"github.com/gatehouse-auth/gatehouse/core/identity"
	"github.com/gatehouse-auth/gatehouse/core/locale"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/plugin"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/token"
	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// stateTTL bounds a round trip to the upstream: start to frame handler.
const stateTTL = 10 * time.Minute

// sealedGrant is the upstream grant inside store.UpstreamSession.Sealed and
// bridge records.
type sealedGrant struct {
	Token   *oauth2.Token `json:"token"`
	IDToken string        `json:"id_token,omitempty"`
}

// Provider is one configured sign-in provider, all its environments. It is
// an identity.LoginMethod: the pages' login step offers it.
type Provider struct {
	id        string
	display   string
	defEnv    string
	envs      map[string]Upstream
	scopes    map[string][]string      // env → configured scopes
	ttl       map[string]time.Duration // env → provider session lifetime
	cfg       *config.Config
	issuer    *token.Issuer
	sessions  *identity.Sessions
	hooks     plugin.Hooks
	csrf      fiber.Handler
	states    store.Collection[store.UpstreamState]
	providers store.Collection[store.UpstreamSession]
}

var (
	_ identity.LoginMethod     = (*Provider)(nil)
	_ identity.LogoutMethod    = (*Provider)(nil)
	_ identity.LocalizedMethod = (*Provider)(nil)
)

// newProvider builds provider id from its configured environments.
func newProvider(id string, envs map[string]config.Provider, cfg *config.Config, st *store.Store,
	issuer *token.Issuer, sessions *identity.Sessions, csrf fiber.Handler, hooks plugin.Hooks, client *http.Client) (*Provider, error) {
	p := &Provider{
		id: id, cfg: cfg, issuer: issuer, sessions: sessions, csrf: csrf, hooks: hooks, envs: map[string]Upstream{},
		scopes: map[string][]string{}, ttl: map[string]time.Duration{},
		states:    st.UpstreamStates,
		providers: st.UpstreamSessions,
	}
	names := slices.Sorted(maps.Keys(envs))
	for _, env := range names {
		pc := envs[env]
		callback := pc.CallbackURL
		if callback == "" {
			callback = cfg.Issuer() + "/" + id + "/handler/frame"
		}
		u, err := newUpstream(pc, callback, client)
		if err != nil {
			return nil, fmt.Errorf("provider %s env %s: %w", id, env, err)
		}
		p.envs[env] = u
		p.scopes[env] = configuredScopes(pc)
		p.ttl[env] = cfg.SessionTTL(pc)
	}
	// The pages sign in with the first environment in name order, or
	// production when there is one.
	p.defEnv = names[0]
	if _, ok := envs["production"]; ok {
		p.defEnv = "production"
	}
	p.display = envs[p.defEnv].DisplayName
	return p, nil
}

func (p *Provider) ID() string { return p.id }

// DisplayName is the configured display_name, else "Sign in with" and the
// provider's id.
func (p *Provider) DisplayName() string {
	if p.display != "" {
		return p.display
	}
	return "Sign in with " + p.id
}

// Label is the login step's button: the configured display_name as
// written (the operator's words), else "Sign in with" and the provider's
// id in the page's language.
func (p *Provider) Label(l *locale.Localizer) string {
	if p.display != "" {
		return p.display
	}
	return l.Text("login.with", "provider", p.id)
}

// LoginForm is a link to /{provider}/start: the upstream's round trip is
// protected by its state, so the form needs no CSRF token.
func (p *Provider) LoginForm(returnTo string) identity.Form {
	return identity.Form{
		Method: fiber.MethodGet,
		Action: p.cfg.Server.BasePath + "/" + p.id + "/start",
		Fields: []identity.Field{{Name: "env", Value: p.defEnv}, {Name: "returnTo", Value: returnTo}},
	}
}

// LogoutForm posts to /{provider}/signout, which ends the page's login
// session and the provider session ("Not you?" on the consent page).
func (p *Provider) LogoutForm(returnTo string) identity.Form {
	return identity.Form{
		Method: fiber.MethodPost,
		Action: p.cfg.Server.BasePath + "/" + p.id + "/signout",
		Fields: []identity.Field{{Name: "returnTo", Value: returnTo}},
	}
}

// Register mounts the provider's Backstage routes on r, and the pages'
// sign-out form.
func (p *Provider) Register(r fiber.Router) {
	prefix := "/" + p.id
	// The round trip runs in the app's popup, or in one showing the
	// consent page: it keeps window.opener (identity.AllowOpener).
	r.Get(prefix+"/start", identity.AllowOpener, p.start)
	r.Get(prefix+"/handler/frame", identity.AllowOpener, p.frame)
	r.Post(prefix+"/handler/frame", identity.AllowOpener, p.frame)
	r.Get(prefix+"/refresh", p.refresh)
	r.Post(prefix+"/refresh", p.refresh)
	r.Post(prefix+"/logout", p.logout)
	r.Post(prefix+"/signout", identity.AllowOpener, p.csrf, p.signout)
}

func (p *Provider) cookiePath() string { return p.cfg.Server.BasePath + "/" + p.id }

// nonceCookie binds a round trip to the browser; refreshCookie names its
// provider session, as Backstage's <provider>-nonce and
// <provider>-refresh-token cookies do.
func (p *Provider) nonceCookie() string   { return "gatehouse_" + p.id + "_nonce" }
func (p *Provider) refreshCookie() string { return "gatehouse_" + p.id + "_refresh" }

func (p *Provider) setCookie(c *fiber.Ctx, name, value string, expires time.Time) {
	c.Cookie(&fiber.Cookie{
		Name: name, Value: value, Path: p.cookiePath(), Expires: expires,
		Secure: identity.Secure(p.cfg), HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode,
	})
}

// upstreamFor picks the environment named by the env parameter.
func (p *Provider) upstreamFor(env string) (string, Upstream, bool) {
	if env == "" {
		env = p.defEnv
	}
	u, ok := p.envs[env]
	return env, u, ok
}

// start answers GET /{provider}/start: it records the round trip and
// redirects the browser to the upstream's authorization endpoint.
func (p *Provider) start(c *fiber.Ctx) error {
	ctx := c.UserContext()
	env, up, ok := p.upstreamFor(c.Query("env"))
	if !ok {
		return oauth.ErrInvalidRequest().WithDescription("env names no configured environment of this provider")
	}
	st := store.UpstreamState{Provider: p.id, Env: env, ExpiresAt: time.Now().Add(stateTTL)}
	origins := p.cfg.AppOrigins()
	switch {
	case c.Query("returnTo") != "":
		rt, ok := identity.LocalReturnTo(p.cfg, c.Query("returnTo"))
		if !ok {
			return identity.ErrorPage(p.cfg, c, fiber.StatusBadRequest, "error.sign_in_title", "error.sign_in_link")
		}
		st.ReturnTo = rt
	case c.Query("flow") == "redirect":
		raw := c.Query("redirectUrl")
		if !slices.Contains(origins, originOf(raw)) {
			return oauth.ErrInvalidRequest().WithDescription("redirectUrl must be on an allowed app origin")
		}
		st.RedirectURL = raw
	default:
		st.Origin = origins[0]
		if o := c.Query("origin"); o != "" {
			if !slices.Contains(origins, o) {
				return oauth.ErrInvalidRequest().WithDescription("origin is not an allowed app origin")
			}
			st.Origin = o
		}
	}
	st.Scope = p.askScopes(c, env)
	state, binding := oauth.RandomToken(32), oauth.RandomToken(32)
	st.Verifier, st.Nonce, st.BindingHash = oauth2.GenerateVerifier(), oauth.RandomToken(16), store.HashID(binding)
	target, err := up.AuthCodeURL(ctx, state, st.Nonce, st.Verifier, st.Scope)
	if err != nil {
		slog.WarnContext(ctx, "upstream provider unavailable", "provider", p.id, "env", env, "error", err)
		return oauth.ErrTemporarilyUnavailable().WithDescription("the sign-in provider cannot be reached").WithParent(err)
	}
	if err := p.states.Create(ctx, store.HashID(state), st); err != nil {
		return oauth.ErrServerError().WithParent(err)
	}
	p.setCookie(c, p.nonceCookie(), binding, st.ExpiresAt)
	oauth.NoStore(c)
	return c.Redirect(target, fiber.StatusFound)
}

// askScopes is what a sign-in through env asks the upstream for, as
// Backstage's CookieScopeManager: the configured scopes, those this
// browser's provider session was granted, and the scope parameter's.
// A provider of type guest has no upstream to ask.
func (p *Provider) askScopes(c *fiber.Ctx, env string) []string {
	if _, ok := p.envs[env].(*guestUpstream); ok {
		return nil
	}
	var granted []string
	if rec, _, err := p.session(c); err == nil && rec.Env == env {
		granted = rec.Scope
	}
	return mergeScopes(p.scopes[env], granted, splitScope(c.Query("scope")))
}

// grantedScope is what the upstream granted of asked: the token
// response's scope when it names one (RFC 6749 §5.1), asked otherwise.
func grantedScope(tok *oauth2.Token, asked []string) []string {
	if s, ok := tok.Extra("scope").(string); ok && strings.TrimSpace(s) != "" {
		return mergeScopes(splitScope(s))
	}
	return asked
}

// originOf is the origin of an absolute http(s) URL, "" otherwise.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// signInError is a sign-in that did not produce a user; Message is for
// the person signing in.
type signInError struct {
	// Message is what the app's popup is told (in English) and, without
	// a key, what the error page shows: a sign_in plugin's own words.
	Message string
	// Key and Args are the server's own message (locale), for the error
	// page in the user's language.
	Key  string
	Args []any
	Err  error
}

// failure is a sign-in error in the server's own words: the message key
// key with args (name, value pairs).
func failure(err error, key string, args ...any) *signInError {
	return &signInError{Message: locale.Default.DefaultLocalizer().Text(key, args...), Key: key, Args: args, Err: err}
}

// page is the error page's detail in l's language.
func (e *signInError) page(l *locale.Localizer) string {
	if e.Key == "" {
		return e.Message
	}
	return l.Text(e.Key, e.Args...)
}

func (e *signInError) Error() string { return e.Message + ": " + e.Err.Error() }
func (e *signInError) Unwrap() error { return e.Err }

// frame answers GET|POST /{provider}/handler/frame, the upstream's
// redirect back (RFC 6749 §4.1.2): verify state, exchange the code, run
// the hooks, and answer the way the round trip asked.
func (p *Provider) frame(c *fiber.Ctx) error {
	ctx := c.UserContext()
	param := func(k string) string {
		if c.Method() == fiber.MethodPost {
			return c.FormValue(k)
		}
		return c.Query(k)
	}
	rawState := param("state")
	if rawState == "" || len(rawState) > 256 {
		return p.plainError(c, "error.sign_in_state")
	}
	id := store.HashID(rawState)
	st, err := p.states.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (st.Provider != p.id || time.Now().After(st.ExpiresAt))) {
		return p.plainError(c, "error.sign_in_used")
	}
	if err != nil {
		return oauth.ErrServerError().WithParent(err)
	}
	binding := c.Cookies(p.nonceCookie())
	if binding == "" || subtle.ConstantTimeCompare([]byte(store.HashID(binding)), []byte(st.BindingHash)) != 1 {
		slog.InfoContext(ctx, "upstream answer refused: state not bound to this browser", "provider", p.id)
		return p.plainError(c, "error.sign_in_browser")
	}
	// Single use: the state is spent whatever happens next.
	if err := p.states.Delete(ctx, id); err != nil {
		return oauth.ErrServerError().WithParent(err)
	}
	p.setCookie(c, p.nonceCookie(), "", time.Unix(0, 0))

	res, err := p.finish(c, &st, param)
	if err != nil {
		var se *signInError
		if !errors.As(err, &se) {
			return oauth.ErrServerError().WithParent(err)
		}
		slog.InfoContext(ctx, "sign-in refused", "provider", p.id, "env", st.Env, "reason", se.Err.Error(),
			"request_id", c.Locals("request_id"))
		if st.Origin != "" {
			return postMessage(c, st.Origin, webMessage{Type: "authorization_response", Error: &webError{Name: "Error", Message: se.Message}})
		}
		return identity.ErrorPageText(p.cfg, c, fiber.StatusForbidden, "error.sign_in_title", se.page(identity.Localizer(c)))
	}
	slog.LogAttrs(ctx, slog.LevelInfo, "signed in", slog.String("provider", p.id), slog.String("env", st.Env),
		slog.String("sub", res.BackstageIdentity.Identity.UserEntityRef), slog.Any("request_id", c.Locals("request_id")))
	switch {
	case st.ReturnTo != "":
		return c.Redirect(st.ReturnTo, fiber.StatusSeeOther)
	case st.RedirectURL != "":
		return c.Redirect(st.RedirectURL, fiber.StatusSeeOther)
	}
	return postMessage(c, st.Origin, webMessage{Type: "authorization_response", Response: res})
}

// finish turns the upstream's answer into a signed-in user: a provider
// session (refresh cookie), and for the pages a login session.
func (p *Provider) finish(c *fiber.Ctx, st *store.UpstreamState, param func(string) string) (*clientAuthResponse, error) {
	ctx := c.UserContext()
	if e := param("error"); e != "" {
		return nil, failure(fmt.Errorf("upstream error %q", e), "error.sign_in_refused",
			"reason", truncate(e+" "+param("error_description"), 200))
	}
	code := param("code")
	if code == "" {
		return nil, failure(errors.New("no code"), "error.sign_in_no_code")
	}
	up := p.envs[st.Env]
	if up == nil {
		return nil, failure(errors.New("env gone"), "error.sign_in_env_gone")
	}
	r, err := up.Exchange(ctx, code, st.Verifier, st.Nonce)
	if err != nil {
		return nil, failure(err, "error.sign_in_unverified")
	}
	u, err := p.resolve(ctx, st.Env, r.Profile, r.Claims)
	if err != nil {
		return nil, err
	}
	u.AuthTime = time.Now().UTC().Truncate(time.Second)
	scope := grantedScope(r.Token, st.Scope)
	if u.ProviderSession, err = p.startSession(c, st.Env, u, r, scope); err != nil {
		return nil, err
	}
	if st.ReturnTo != "" {
		if _, err := p.sessions.Start(c, u); err != nil {
			return nil, err
		}
	}
	return p.response(ctx, u, r, scope)
}

// resolve runs auth_handler (when bound) then sign_in: who the upstream's
// person is here. A plugin's refusal is shown to the user; any other
// failure refuses too (fail closed).
func (p *Provider) resolve(ctx context.Context, env string, prof store.Profile, claims map[string]any) (identity.User, error) {
	if _, ok := p.envs[env].(*guestUpstream); ok {
		// Type guest: the guest section says who this is, as for /guest/*.
		return guestUser(p.cfg, p.id), nil
	}
	return signIn(ctx, p.hooks, p.id, env, prof, claims)
}

// signIn runs provider's auth_handler (when bound) then its sign_in hook
// on what the upstream said: the provider's sign-in and the bridge's.
func signIn(ctx context.Context, hooks plugin.Hooks, provider, env string, prof store.Profile, claims map[string]any) (identity.User, error) {
	if claims == nil {
		claims = map[string]any{}
	}
	raw, err := json.Marshal(claims)
	if err != nil {
		return identity.User{}, &signInError{Message: "Sign-in is not available right now.", Err: fmt.Errorf("upstream claims: %w", err)}
	}
	in := hook.SignInInput{Provider: provider, Env: env, Profile: hook.Profile(prof), Claims: raw}
	shaped, err := hooks.AuthHandler(ctx, provider, in)
	switch {
	case err == nil:
		in.Profile = hook.Profile(shapedProfile(prof, store.Profile(shaped.Profile)))
	case !errors.Is(err, plugin.ErrNotBound):
		return identity.User{}, hookError(err)
	}
	out, err := hooks.SignIn(ctx, provider, in)
	if err != nil {
		return identity.User{}, hookError(err)
	}
	if out.Sub == "" {
		return identity.User{}, failure(errors.New("sign_in returned no sub"), "error.sign_in_unavailable")
	}
	ent := out.Ent
	if len(ent) == 0 {
		ent = []string{out.Sub}
	}
	// What the plugin names becomes the token's subject and ownership:
	// anything that is not an entity ref fails the sign-in closed.
	if err := checkRefs(out.Sub, ent); err != nil {
		name, _ := hooks.For(hook.SignIn, provider)
		slog.WarnContext(ctx, "sign_in answer refused", "provider", provider, "plugin", name, "error", err)
		return identity.User{}, failure(fmt.Errorf("sign_in plugin %s: %w", name, err), "error.sign_in_unavailable")
	}
	// The profile claims among the extra claims (email, name...) become
	// the user's profile, released by scope; the others ride along into
	// the identity token and the tokens issued to clients for this user.
	// The issuer drops registered names (sub, iss, ent...), so a plugin
	// cannot rename who signed in.
	prof, claims, err = liftProfile(store.Profile(in.Profile), out.Claims)
	if err != nil {
		name, _ := hooks.For(hook.SignIn, provider)
		slog.WarnContext(ctx, "sign_in answer refused", "provider", provider, "plugin", name, "error", err)
		return identity.User{}, failure(fmt.Errorf("sign_in plugin %s: %w", name, err), "error.sign_in_unavailable")
	}
	return identity.User{Subject: out.Sub, Ownership: ent, Profile: prof, Claims: claims, Provider: provider}, nil
}

// shapedProfile is the auth_handler's profile, which replaces the
// upstream's; a plugin written before username and email_verified existed
// answers neither, so the upstream's carry over (email_verified only for
// the same address: a verification is of one address).
func shapedProfile(upstream, shaped store.Profile) store.Profile {
	if shaped.Username == "" {
		shaped.Username = upstream.Username
	}
	if shaped.EmailVerified == nil && shaped.Email != "" && strings.EqualFold(shaped.Email, upstream.Email) {
		shaped.EmailVerified = upstream.EmailVerified
	}
	return shaped
}

// profileClaims are the OIDC Core §5.4 claims a sign_in plugin may set
// among its extra claims, and the profile field each one sets.
var profileClaims = map[string]func(p *store.Profile, v any) bool{
	"name":               stringInto(func(p *store.Profile) *string { return &p.DisplayName }),
	"preferred_username": stringInto(func(p *store.Profile) *string { return &p.Username }),
	"picture":            stringInto(func(p *store.Profile) *string { return &p.Picture }),
	"email":              stringInto(func(p *store.Profile) *string { return &p.Email }),
	"email_verified": func(p *store.Profile, v any) bool {
		b, ok := v.(bool)
		if ok {
			p.EmailVerified = &b
		}
		return ok
	},
}

func stringInto(field func(*store.Profile) *string) func(*store.Profile, any) bool {
	return func(p *store.Profile, v any) bool {
		s, ok := v.(string)
		if ok {
			*field(p) = s
		}
		return ok
	}
}

// liftProfile moves the profile claims of a sign_in result into the
// profile (they override what the upstream said) and returns the other
// claims. A profile claim of the wrong type (email: 42) is an error. An
// email set without email_verified is unverified, unless it is the
// address the profile had.
func liftProfile(prof store.Profile, claims map[string]any) (store.Profile, map[string]any, error) {
	var found bool
	for name := range claims {
		if profileClaims[name] != nil {
			found = true
			break
		}
	}
	if !found {
		return prof, claims, nil
	}
	was := prof.Email
	rest := make(map[string]any, len(claims))
	_, verifiedSet := claims["email_verified"]
	for name, v := range claims {
		set := profileClaims[name]
		if set == nil {
			rest[name] = v
			continue
		}
		if !set(&prof, v) {
			return prof, nil, fmt.Errorf("claim %s: want a %s, got %T", name, claimType(name), v)
		}
	}
	if !verifiedSet && !strings.EqualFold(prof.Email, was) {
		prof.EmailVerified = nil
	}
	if len(rest) == 0 {
		rest = nil
	}
	return prof, rest, nil
}

func claimType(name string) string {
	if name == "email_verified" {
		return "boolean"
	}
	return "string"
}

// checkRefs checks a plugin's sub and ent: each must be an entity ref.
func checkRefs(sub string, ent []string) error {
	if _, err := entityref.Parse(sub); err != nil {
		return fmt.Errorf("sub: %w", err)
	}
	for i, ref := range ent {
		if _, err := entityref.Parse(ref); err != nil {
			return fmt.Errorf("ent[%d]: %w", i, err)
		}
	}
	return nil
}

// hookError: a refusal's message reaches the user verbatim; a failure
// (trap, timeout, unbound hook) is logged by the host and shown as
// unavailable.
func hookError(err error) error {
	var r *plugin.Refusal
	if errors.As(err, &r) {
		return &signInError{Message: r.Message, Err: err}
	}
	return failure(err, "error.sign_in_unavailable")
}

// startSession stores the provider session, sets its refresh cookie and
// returns its store id.
func (p *Provider) startSession(c *fiber.Ctx, env string, u identity.User, r *Result, scope []string) (string, error) {
	value := oauth.RandomToken(32)
	id := store.HashID(value)
	sealed, err := sealGrant(value, sealSession, id, r)
	if err != nil {
		return "", err
	}
	rec := store.UpstreamSession{
		Provider: p.id, Env: env, Subject: u.Subject, Profile: r.Profile, Claims: r.Claims, Sealed: sealed,
		Scope: scope, ExpiresAt: time.Now().Add(p.ttl[env]), AuthTime: u.AuthTime,
	}
	if err := p.providers.Create(c.UserContext(), id, rec); err != nil {
		return "", fmt.Errorf("upstream: store provider session: %w", err)
	}
	p.setCookie(c, p.refreshCookie(), value, rec.ExpiresAt)
	return id, nil
}

func sealGrant(secret, info, id string, r *Result) ([]byte, error) {
	plain, err := json.Marshal(sealedGrant{Token: r.Token, IDToken: r.IDToken})
	if err != nil {
		return nil, fmt.Errorf("upstream: encode grant: %w", err)
	}
	return sealWith(secret, info, id, plain)
}

func unsealGrant(secret, info, id string, sealed []byte) (sealedGrant, error) {
	var g sealedGrant
	plain, err := unseal(secret, info, id, sealed)
	if err != nil {
		return g, err
	}
	if err := json.Unmarshal(plain, &g); err != nil || g.Token == nil {
		return g, errCannotOpen
	}
	return g, nil
}

// refresh answers GET|POST /{provider}/refresh as Backstage's providers
// do: a fresh identity while the provider session lives. The upstream
// grant is refreshed when it has a refresh token, and the hooks run again,
// so that a changed resolver or upstream profile takes effect.
//
// The upstream refresh is claimed in the store (compare-and-swap on the
// provider session, as the bridge claims its grants), so that of
// concurrent refreshes of one session, on any replica sharing the store,
// exactly one refreshes upstream with a given refresh token, which an
// upstream that rotates refresh tokens and revokes on reuse requires. The
// others wait for its result and answer with it, or, past claimRounds
// waits, with temporarily_unavailable.
func (p *Provider) refresh(c *fiber.Ctx) error {
	ctx := c.UserContext()
	if err := requireXHR(c); err != nil {
		return err
	}
	var first []byte // the sealed grant as this request first read it
	for round := range claimRounds {
		rec, value, err := p.session(c)
		if errors.Is(err, store.ErrNotFound) {
			return errNoSession()
		}
		if err != nil {
			return oauth.ErrServerError().WithParent(err)
		}
		id := store.HashID(value)
		if env := c.Query("env"); env != "" && env != rec.Env {
			return errNoSession()
		}
		if round == 0 {
			first = rec.Sealed
		}
		err = p.refreshSession(c, rec, value, id, !bytes.Equal(rec.Sealed, first))
		switch {
		case errors.Is(err, errGrantChanged):
			continue // refreshed elsewhere meanwhile: read it again
		case errors.Is(err, errRefreshClaimed):
			select {
			case <-ctx.Done():
				return oauth.ErrTemporarilyUnavailable().WithParent(ctx.Err())
			case <-time.After(claimWait):
			}
			continue
		}
		return err
	}
	return oauth.ErrTemporarilyUnavailable().WithDescription("the provider session is being refreshed: try again")
}

// refreshSession answers refresh from the provider session rec, read with
// the cookie value, whose store id is id. refreshed says another request
// refreshed the session since this one first read it: its result is
// answered as it is, unless this request asks for more scopes. It returns
// errGrantChanged or errRefreshClaimed when the session is to be read
// again.
func (p *Provider) refreshSession(c *fiber.Ctx, rec store.UpstreamSession, value, id string, refreshed bool) error {
	ctx := c.UserContext()
	g, err := unsealGrant(value, sealSession, id, rec.Sealed)
	if err != nil {
		return oauth.ErrServerError().WithParent(err)
	}
	r := &Result{Token: g.Token, IDToken: g.IDToken, Claims: rec.Claims, Profile: rec.Profile}
	// A scope parameter naming scopes not granted yet asks the upstream
	// for them with the refresh (RFC 6749 §6 scope), as Backstage does;
	// otherwise the grant is refreshed as it is.
	scope := rec.Scope
	var widen []string
	if _, guest := p.envs[rec.Env].(*guestUpstream); !guest {
		asked := mergeScopes(p.scopes[rec.Env], rec.Scope, splitScope(c.Query("scope")))
		if len(asked) > len(mergeScopes(p.scopes[rec.Env], rec.Scope)) {
			widen = asked
		}
	}
	rf, canRefresh := p.envs[rec.Env].(Refresher)
	canRefresh = canRefresh && g.Token.RefreshToken != ""
	if widen != nil && !canRefresh {
		return errNotGranted(p.id)
	}
	claimed := canRefresh && (widen != nil || !refreshed)
	if claimed {
		switch err := p.claimRefresh(ctx, id, rec.Sealed); {
		case errors.Is(err, store.ErrNotFound):
			return errNoSession()
		case err != nil:
			return err
		}
		fresh, err := rf.Refresh(ctx, g.Token, widen)
		if err != nil && widen != nil {
			// The grant itself may be fine: the session stays, and the
			// app signs in again for the new scopes (the upstream's consent).
			p.releaseRefresh(ctx, id, rec.Sealed)
			slog.InfoContext(ctx, "upstream refused the added scopes", "provider", p.id, "scope", strings.Join(widen, " "), "error", err)
			return errNotGranted(p.id).WithParent(err)
		}
		if err != nil {
			slog.InfoContext(ctx, "upstream refresh failed: provider session ended", "provider", p.id, "error", err)
			_ = p.providers.Delete(ctx, id)
			return errNoSession()
		}
		if widen != nil {
			scope = widen
		}
		scope = grantedScope(fresh.Token, scope)
		if fresh.Token.RefreshToken == "" {
			fresh.Token.RefreshToken = g.Token.RefreshToken
		}
		if fresh.IDToken == "" {
			fresh.IDToken = g.IDToken
		}
		r = fresh
	}
	u, err := p.resolve(ctx, rec.Env, r.Profile, r.Claims)
	if err != nil {
		if claimed {
			p.releaseRefresh(ctx, id, rec.Sealed)
		}
		var se *signInError
		if errors.As(err, &se) {
			_ = p.providers.Delete(ctx, id)
			return oauth.ErrAccessDenied().WithDescription("%s", se.Message).WithParent(se.Err)
		}
		return err
	}
	// A refresh is not a sign-in: auth_time stays the upstream sign-in's.
	u.AuthTime = rec.AuthTime
	if !refreshed || claimed {
		sealed, err := sealGrant(value, sealSession, id, r)
		if err != nil {
			if claimed {
				p.releaseRefresh(ctx, id, rec.Sealed)
			}
			return oauth.ErrServerError().WithParent(err)
		}
		// Only over the session as it was read (and, after a refresh,
		// still claimed by this request): a result stored meanwhile wins.
		_, err = p.providers.Update(ctx, id, func(old store.UpstreamSession) (store.UpstreamSession, error) {
			if !bytes.Equal(old.Sealed, rec.Sealed) {
				return old, errGrantChanged
			}
			old.Subject, old.Profile, old.Claims, old.Sealed, old.Scope = u.Subject, r.Profile, r.Claims, sealed, scope
			old.RefreshingUntil = time.Time{}
			return old, nil
		})
		switch {
		case errors.Is(err, store.ErrNotFound):
			return errNoSession() // signed out meanwhile
		case errors.Is(err, errGrantChanged) && claimed:
			// Another request took the claim over (this one outlived it)
			// and stored its result; the upstream grant this one holds
			// may be spent.
			slog.WarnContext(ctx, "upstream refreshed but the provider session changed meanwhile", "provider", p.id)
			return oauth.ErrTemporarilyUnavailable().WithDescription("the provider session changed meanwhile: try again")
		case err != nil:
			return err
		}
	}
	res, err := p.response(ctx, u, r, scope)
	if err != nil {
		return oauth.ErrServerError().WithParent(err)
	}
	return oauth.JSON(c, fiber.StatusOK, res)
}

// claimRefresh claims the upstream refresh of the provider session id
// for this request, by compare-and-swap: errGrantChanged if the session
// no longer holds sealed (refreshed elsewhere), errRefreshClaimed while
// another request's claim is live.
func (p *Provider) claimRefresh(ctx context.Context, id string, sealed []byte) error {
	now := time.Now()
	_, err := p.providers.Update(ctx, id, func(old store.UpstreamSession) (store.UpstreamSession, error) {
		if !bytes.Equal(old.Sealed, sealed) {
			return old, errGrantChanged
		}
		if now.Before(old.RefreshingUntil) {
			return old, errRefreshClaimed
		}
		old.RefreshingUntil = now.Add(refreshClaim)
		return old, nil
	})
	return err
}

// releaseRefresh gives back this request's claim on the session's
// refresh, when nothing was stored.
func (p *Provider) releaseRefresh(ctx context.Context, id string, sealed []byte) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, err := p.providers.Update(rctx, id, func(old store.UpstreamSession) (store.UpstreamSession, error) {
		if !bytes.Equal(old.Sealed, sealed) {
			return old, errGrantChanged
		}
		old.RefreshingUntil = time.Time{}
		return old, nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, errGrantChanged) {
		slog.WarnContext(rctx, "upstream: cannot give the refresh claim back", "provider", p.id, "error", err)
	}
}

// session is the live provider session the browser's refresh cookie
// names, and the cookie's value (the key of its sealed grant);
// store.ErrNotFound when there is none.
func (p *Provider) session(c *fiber.Ctx) (store.UpstreamSession, string, error) {
	value := c.Cookies(p.refreshCookie())
	if value == "" || len(value) > 128 {
		return store.UpstreamSession{}, "", store.ErrNotFound
	}
	rec, err := p.providers.Get(c.UserContext(), store.HashID(value))
	if err != nil {
		return store.UpstreamSession{}, "", err
	}
	if rec.Provider != p.id || time.Now().After(rec.ExpiresAt) {
		return store.UpstreamSession{}, "", store.ErrNotFound
	}
	return rec, value, nil
}

// logout answers POST /{provider}/logout: the provider session ends and
// its cookie is cleared.
func (p *Provider) logout(c *fiber.Ctx) error {
	if err := requireXHR(c); err != nil {
		return err
	}
	if err := p.endProviderSession(c); err != nil {
		return err
	}
	return oauth.JSON(c, fiber.StatusOK, fiber.Map{})
}

// signout ends the browser's login session and its provider session, then
// sends it back to returnTo (a local page). CSRF is checked before.
func (p *Provider) signout(c *fiber.Ctx) error {
	returnTo, ok := identity.LocalReturnTo(p.cfg, c.FormValue("returnTo"))
	if !ok {
		return identity.ErrorPage(p.cfg, c, fiber.StatusBadRequest, "error.sign_out_title", "error.sign_out_form")
	}
	if err := p.sessions.End(c); err != nil {
		return oauth.ErrServerError().WithParent(err)
	}
	if err := p.endProviderSession(c); err != nil {
		return err
	}
	return c.Redirect(returnTo, fiber.StatusSeeOther)
}

// endProviderSession deletes the provider session the browser's refresh
// cookie names and clears the cookie: the sign-out that the API (logout)
// and the pages (signout) share.
func (p *Provider) endProviderSession(c *fiber.Ctx) error {
	if value := c.Cookies(p.refreshCookie()); value != "" && len(value) <= 128 {
		if err := p.providers.Delete(c.UserContext(), store.HashID(value)); err != nil {
			return oauth.ErrServerError().WithParent(err)
		}
	}
	p.setCookie(c, p.refreshCookie(), "", time.Unix(0, 0))
	slog.InfoContext(c.UserContext(), "signed out", "provider", p.id, "request_id", c.Locals("request_id"))
	return nil
}

// requireXHR: Backstage's frontend sends X-Requested-With: XMLHttpRequest
// on refresh and logout. A cross-origin page cannot set it without a CORS
// preflight the server only grants to app origins, so it stops CSRF.
func requireXHR(c *fiber.Ctx) error {
	if c.Get("X-Requested-With") != "XMLHttpRequest" {
		return oauth.ErrInvalidRequest().WithDescription("X-Requested-With: XMLHttpRequest is required")
	}
	return nil
}

// errNotGranted: the scopes a refresh asked for need the user's consent
// at the upstream, which only a new sign-in through /start can ask.
func errNotGranted(provider string) *oauth.Error {
	return oauth.ErrLoginRequired().WithDescription("the provider has not granted the scope asked for: sign in again through /%s/start with it", provider).
		WithStatus(fiber.StatusUnauthorized)
}

func errNoSession() *oauth.Error {
	return oauth.ErrLoginRequired().WithDescription("no sign-in session with this provider: sign in again").
		WithStatus(fiber.StatusUnauthorized)
}

// clientAuthResponse is Backstage's ClientAuthResponse of an OAuth
// provider: the upstream session, the profile and the identity.
type clientAuthResponse struct {
	ProviderInfo      providerInfo      `json:"providerInfo"`
	Profile           profile           `json:"profile"`
	BackstageIdentity backstageIdentity `json:"backstageIdentity"`
}

type providerInfo struct {
	AccessToken      string `json:"accessToken"`
	IDToken          string `json:"idToken,omitempty"`
	Scope            string `json:"scope"`
	ExpiresInSeconds int64  `json:"expiresInSeconds,omitempty"`
}

func (p *Provider) response(ctx context.Context, u identity.User, r *Result, scope []string) (*clientAuthResponse, error) {
	tok, ttl, err := p.issuer.IdentityToken(ctx, token.Identity{
		Subject: u.Subject, Ownership: u.Ownership, Profile: u.Profile, Claims: u.Claims, AuthTime: u.AuthTime,
	})
	if err != nil {
		return nil, err
	}
	var expires int64
	if !r.Token.Expiry.IsZero() {
		expires = max(int64(time.Until(r.Token.Expiry).Seconds()), 0)
	}
	return &clientAuthResponse{
		ProviderInfo: providerInfo{AccessToken: r.Token.AccessToken, IDToken: r.IDToken, Scope: strings.Join(scope, " "), ExpiresInSeconds: expires},
		Profile:      profile{Email: u.Profile.Email, DisplayName: u.Profile.DisplayName, Picture: u.Profile.Picture},
		BackstageIdentity: backstageIdentity{
			Token:            tok,
			ExpiresInSeconds: int64(ttl.Seconds()),
			Identity:         backstageUserRef{Type: "user", UserEntityRef: u.Subject, OwnershipEntityRefs: u.Ownership},
		},
	}, nil
}

// webMessage is what Backstage's login popup listens for.
type webMessage struct {
	Type     string              `json:"type"`
	Response *clientAuthResponse `json:"response,omitempty"`
	Error    *webError           `json:"error,omitempty"`
}

type webError struct {
	Name    string `json:"name"`
	Message string `json:"message"`
}

// postMessage answers the popup page that hands msg to its opener, only
// if the opener is at origin (the browser enforces postMessage's target
// origin), as Backstage's sendWebMessageResponse does. The script is the
// only one the page's CSP admits, by hash.
func postMessage(c *fiber.Ctx, origin string, msg webMessage) error {
	data, err := json.Marshal(msg) // escapes <, >, & and U+2028/9: safe in a script
	if err != nil {
		return oauth.ErrServerError().WithParent(err)
	}
	o, err := json.Marshal(origin)
	if err != nil {
		return oauth.ErrServerError().WithParent(err)
	}
	script := "var authResponse = " + string(data) + ";\nvar origin = " + string(o) + ";\n" +
		"var target = window.opener || window.parent;\n" +
		"target.postMessage({type: 'config_info', targetOrigin: origin}, '*');\n" +
		"target.postMessage(authResponse, origin);\n" +
		"setTimeout(function () { window.close(); }, 100);\n"
	sum := sha256.Sum256([]byte(script))
	c.Set("Content-Security-Policy", "default-src 'none'; script-src 'sha256-"+
		base64.StdEncoding.EncodeToString(sum[:])+"'; frame-ancestors 'self'; base-uri 'none'")
	c.Set("X-Frame-Options", "SAMEORIGIN")
	// The server's COOP same-origin would sever window.opener, and the
	// opener is who this page exists to answer.
	c.Set("Cross-Origin-Opener-Policy", "unsafe-none")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	oauth.NoStore(c)
	return c.Status(fiber.StatusOK).SendString("<!doctype html><html><body><script>" + script + "</script></body></html>")
}

// plainError is a frame-handler failure that cannot say where the popup
// came from: an error page; detail is a message key (locale).
func (p *Provider) plainError(c *fiber.Ctx, detail string) error {
	return identity.ErrorPage(p.cfg, c, fiber.StatusBadRequest, "error.sign_in_title", detail)
}

// truncate bounds an upstream's error text shown to the user, without
// cutting a character in two.
func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return strings.ToValidUTF8(s[:n], "")
	}
	return s
}
