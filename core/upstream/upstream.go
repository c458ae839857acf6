package upstream

import (
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/identity"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

// Providers are the sign-in providers of one server: their routes, the
// login sessions they start, the CSRF protection of their forms, and the
// registry of those the configuration enables, which the pages' login step
// offers in order.
type Providers struct {
	Sessions *identity.Sessions
	CSRF     fiber.Handler
	Logins   *identity.Registry
	guest    *Guest
}

// New sets up the providers configured in cfg.
func New(cfg *config.Config, st *store.Store, issuer *token.Issuer) (*Providers, error) {
	p := &Providers{
		Sessions: identity.NewSessions(cfg, st),
		CSRF:     identity.CSRF(cfg, st),
	}
	p.guest = NewGuest(cfg, issuer, p.Sessions, p.CSRF)
	var methods []identity.LoginMethod
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
}
