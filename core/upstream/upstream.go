package upstream

import (
	"fmt"
	"sort"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/identity"
	"github.com/gatehouse-auth/gatehouse/core/outbound"
	"github.com/gatehouse-auth/gatehouse/core/plugin"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

// Providers are the sign-in providers of one server: their routes, the
// login sessions they start, the CSRF protection of their forms, and the
// registry of those the configuration enables, which the pages' login step
// offers in order.
type Providers struct {
	identity.Pages
	guest *Guest
	// Providers are the configured upstream providers, by id order.
	providers []*Provider
	// Bridge is the client bridge, nil when it is off.
	Bridge *Bridge
}

// New sets up the providers configured in cfg. hooks resolves who signs
// in (sign_in, auth_handler); the server passes its plugin host. Calls to
// the upstreams go through out.
func New(cfg *config.Config, st *store.Store, issuer *token.Issuer, hooks plugin.Hooks, out *outbound.Client) (*Providers, error) {
	p := &Providers{Pages: identity.Pages{
		Sessions: identity.NewSessions(cfg, st),
		CSRF:     identity.CSRF(cfg, st),
	}}
	p.guest = NewGuest(cfg, issuer, p.Sessions, p.CSRF)
	var methods []identity.LoginMethod
	ids := make([]string, 0, len(cfg.Providers))
	for id := range cfg.Providers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	client := out.HTTP(outbound.Policy{Timeout: upstreamTimeout})
	for _, id := range ids {
		pr, err := newProvider(id, cfg.Providers[id], cfg, st, issuer, p.Sessions, p.CSRF, hooks, client)
		if err != nil {
			return nil, fmt.Errorf("upstream: %w", err)
		}
		p.providers = append(p.providers, pr)
		methods = append(methods, pr)
	}
	bridge, err := newBridge(cfg, st, client, hooks)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	p.Bridge = bridge
	if p.guest.Enabled() {
		methods = append(methods, p.guest)
	}
	logins, err := identity.NewRegistry(methods...)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	p.Logins = logins
	return p, nil
}

// Register mounts every provider's routes on r (already under the base
// path). A disabled provider's routes answer 404.
func (p *Providers) Register(r fiber.Router) {
	p.guest.Register(r)
	for _, pr := range p.providers {
		pr.Register(r)
	}
	if p.Bridge != nil {
		p.Bridge.Register(r)
	}
}

// EndSignIn ends what a sign-in left on the server besides the login
// session rec (ended by the caller, identity.Sessions.Logout): the
// provider session it started, and in the browser every provider's
// refresh cookie, whose path the caller's route may not be under (a
// sign-in through Backstage's popup has a provider session and no login
// session). The upstream's own session is the upstream's.
func (p *Providers) EndSignIn(c *fiber.Ctx, rec store.LoginSession) error {
	for _, pr := range p.providers {
		if rec.ProviderSession != "" && rec.Provider == pr.id {
			if err := pr.providers.Delete(c.UserContext(), rec.ProviderSession); err != nil {
				return fmt.Errorf("upstream: end provider session of %s: %w", pr.id, err)
			}
		}
		pr.setCookie(c, pr.refreshCookie(), "", time.Unix(0, 0))
	}
	return nil
}
