// Package upstream holds the ways people sign in to Gatehouse: each is an
// identity.LoginMethod offered by the pages' login step, with the routes
// Backstage's auth backend has for a provider (/{provider}/start,
// /{provider}/refresh, /{provider}/logout): the guest section's routes,
// and the configured providers (oidc, oauth2, guest).
package upstream

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/identity"
	"github.com/gatehouse-auth/gatehouse/core/locale"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

// GuestID is the guest provider's ID, and the first segment of its routes.
const GuestID = "guest"

// guestDisplayName is the guest's profile name, as Backstage shows it.
const guestDisplayName = "Guest"

// Guest signs anyone in as the configured guest user, as Backstage's guest
// provider does for local development. It is enabled by configuration
// (guest.enabled, on only in the embedded local configuration): when it is
// off, its routes answer 404 and the pages do not offer it.
type Guest struct {
	cfg      *config.Config
	issuer   *token.Issuer
	sessions *identity.Sessions
	csrf     fiber.Handler
}

var (
	_ identity.LoginMethod     = (*Guest)(nil)
	_ identity.LogoutMethod    = (*Guest)(nil)
	_ identity.LocalizedMethod = (*Guest)(nil)
)

// NewGuest returns the guest provider. csrf protects its page forms
// (identity.CSRF).
func NewGuest(cfg *config.Config, issuer *token.Issuer, sessions *identity.Sessions, csrf fiber.Handler) *Guest {
	return &Guest{cfg: cfg, issuer: issuer, sessions: sessions, csrf: csrf}
}

// Enabled reports whether the configuration turns the guest on.
func (g *Guest) Enabled() bool { return g.cfg.Guest.Enabled }

func (g *Guest) ID() string          { return GuestID }
func (g *Guest) DisplayName() string { return "Continue as guest" }

// Label is the login step's button in the page's language.
func (g *Guest) Label(l *locale.Localizer) string { return l.Text("login.guest") }

// LoginForm posts to /guest/start, which signs the browser in and sends it
// back to returnTo.
func (g *Guest) LoginForm(returnTo string) identity.Form {
	return identity.Form{
		Method: fiber.MethodPost,
		Action: g.cfg.Server.BasePath + "/guest/start",
		Fields: []identity.Field{{Name: "returnTo", Value: returnTo}},
	}
}

// LogoutForm posts to /guest/logout, which ends the login session.
func (g *Guest) LogoutForm(returnTo string) identity.Form {
	return identity.Form{
		Method: fiber.MethodPost,
		Action: g.cfg.Server.BasePath + "/guest/logout",
		Fields: []identity.Field{{Name: "returnTo", Value: returnTo}},
	}
}

// Register mounts the guest routes on r (already under the base path).
func (g *Guest) Register(r fiber.Router) {
	r.Get("/guest/refresh", g.enabled, g.refresh)
	r.Post("/guest/refresh", g.enabled, g.refresh)
	// The page forms' targets: the consent page they return to may be in
	// a popup that must keep its opener (identity.AllowOpener).
	r.Post("/guest/start", identity.AllowOpener, g.enabled, g.csrf, g.start)
	r.Post("/guest/logout", identity.AllowOpener, g.enabled, g.csrf, g.logout)
}

// enabled answers 404 for every guest route when the guest is off, before
// anything else (CSRF included) runs.
func (g *Guest) enabled(c *fiber.Ctx) error {
	if !g.cfg.Guest.Enabled {
		return oauth.ErrNotFound().WithDescription("the guest sign-in is not enabled")
	}
	return c.Next()
}

// user is who the guest is.
func (g *Guest) user() identity.User { return guestUser(g.cfg, GuestID) }

// guestUser is the guest of cfg's guest section, signed in through
// provider (the guest section's routes, or a provider of type guest).
func guestUser(cfg *config.Config, provider string) identity.User {
	ent := slices.Clone(cfg.Guest.OwnershipEntityRefs)
	if len(ent) == 0 {
		// Backstage's guest owns through its own entity ref by default.
		ent = []string{cfg.Guest.UserEntityRef}
	}
	return identity.User{
		Subject:   cfg.Guest.UserEntityRef,
		Ownership: ent,
		Profile:   guestProfile(cfg),
		Provider:  provider,
	}
}

// guestProfile is the guest's profile: Backstage's display name, and the
// email of the guest section, verified if the operator says so.
func guestProfile(cfg *config.Config) store.Profile {
	p := store.Profile{DisplayName: guestDisplayName, Email: cfg.Guest.Email}
	if p.Email != "" {
		verified := cfg.Guest.EmailVerified
		p.EmailVerified = &verified
	}
	return p
}

// guestCode is the only authorization code of a guestUpstream.
const guestCode = "guest"

// guestUpstream is an environment of a provider of type guest: there is
// no upstream, so its "authorization endpoint" is the provider's own frame
// handler, answered at once with the round trip's state. Start, the frame
// handler (state bound to the browser, single use), refresh and logout run
// as for any provider; Provider.resolve signs in the guest section's user.
type guestUpstream struct {
	callback string
}

var _ Upstream = (*guestUpstream)(nil)

func (u *guestUpstream) AuthCodeURL(_ context.Context, state, _, _ string, _ []string) (string, error) {
	sep := "?"
	if strings.Contains(u.callback, "?") {
		sep = "&"
	}
	return u.callback + sep + url.Values{"state": {state}, "code": {guestCode}}.Encode(), nil
}

func (u *guestUpstream) Exchange(_ context.Context, code, _, _ string) (*Result, error) {
	if code != guestCode {
		return nil, errors.New("upstream: not a guest sign-in")
	}
	// The sealed grant must hold a token: an empty one, never sent anywhere.
	return &Result{Token: &oauth2.Token{}, Claims: map[string]any{}, Profile: store.Profile{DisplayName: guestDisplayName}}, nil
}

// backstageResponse is Backstage's ClientAuthResponse for a sign-in
// without an upstream session: the identity and the profile.
type backstageResponse struct {
	BackstageIdentity backstageIdentity `json:"backstageIdentity"`
	Profile           profile           `json:"profile"`
}

type backstageIdentity struct {
	Token            string           `json:"token"`
	ExpiresInSeconds int64            `json:"expiresInSeconds"`
	Identity         backstageUserRef `json:"identity"`
}

type backstageUserRef struct {
	Type                string   `json:"type"`
	UserEntityRef       string   `json:"userEntityRef"`
	OwnershipEntityRefs []string `json:"ownershipEntityRefs"`
}

type profile struct {
	Email       string `json:"email,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	Picture     string `json:"picture,omitempty"`
}

// refresh answers GET|POST /guest/refresh as Backstage's guest provider
// does: a fresh identity token for the guest. Backstage's frontend calls it
// on every load; the query (env) and body are not needed.
func (g *Guest) refresh(c *fiber.Ctx) error {
	u := g.user()
	// Every refresh signs the guest in anew: auth_time is now.
	tok, ttl, err := g.issuer.IdentityToken(c.UserContext(), token.Identity{
		Subject: u.Subject, Ownership: u.Ownership, Profile: u.Profile, AuthTime: time.Now(),
	})
	if err != nil {
		return oauth.ErrServerError().WithParent(err)
	}
	slog.LogAttrs(c.UserContext(), slog.LevelInfo, "guest identity issued",
		slog.String("sub", u.Subject), slog.Any("request_id", c.Locals("request_id")))
	return oauth.JSON(c, fiber.StatusOK, backstageResponse{
		BackstageIdentity: backstageIdentity{
			Token:            tok,
			ExpiresInSeconds: int64(ttl.Seconds()),
			Identity: backstageUserRef{
				Type:                "user",
				UserEntityRef:       u.Subject,
				OwnershipEntityRefs: u.Ownership,
			},
		},
		Profile: profile{
			Email:       u.Profile.Email,
			DisplayName: u.Profile.DisplayName,
			Picture:     u.Profile.Picture,
		},
	})
}

// start signs the browser in as the guest (a login session cookie) and
// sends it back to returnTo, a path on this server. The CSRF middleware
// has already checked the form.
func (g *Guest) start(c *fiber.Ctx) error {
	returnTo, ok := identity.LocalReturnTo(g.cfg, c.FormValue("returnTo"))
	if !ok {
		return identity.ErrorPage(g.cfg, c, fiber.StatusBadRequest, "error.sign_in_title", "error.sign_in_form")
	}
	u, err := g.sessions.Start(c, g.user())
	if err != nil {
		return oauth.ErrServerError().WithParent(err)
	}
	slog.LogAttrs(c.UserContext(), slog.LevelInfo, "signed in",
		slog.String("provider", GuestID), slog.String("sub", u.Subject), slog.Any("request_id", c.Locals("request_id")))
	return c.Redirect(returnTo, fiber.StatusSeeOther)
}

// logout ends the browser's login session and sends it back to returnTo.
func (g *Guest) logout(c *fiber.Ctx) error {
	returnTo, ok := identity.LocalReturnTo(g.cfg, c.FormValue("returnTo"))
	if !ok {
		return identity.ErrorPage(g.cfg, c, fiber.StatusBadRequest, "error.sign_out_title", "error.sign_out_form")
	}
	if err := g.sessions.End(c); err != nil {
		return oauth.ErrServerError().WithParent(err)
	}
	slog.LogAttrs(c.UserContext(), slog.LevelInfo, "signed out",
		slog.String("provider", GuestID), slog.Any("request_id", c.Locals("request_id")))
	return c.Redirect(returnTo, fiber.StatusSeeOther)
}
