// Package authorize is the front channel of the authorization-code flow:
// the authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2), the
// consent sessions it creates, the session API Backstage's consent page
// drives (/v1/sessions/{id}, approve, reject), and Gatehouse's built-in
// consent page at /oauth2/authorize/{id}.
package authorize

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/identity"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

//go:embed templates/authorize.html
var templates embed.FS

// Handler serves this package's endpoints.
type Handler struct {
	cfg    *config.Config
	st     *store.Store
	issuer *token.Issuer
	pages  identity.Pages
	page   *identity.Page
	dir    *identity.Directory
	iss    string
	now    func() time.Time
	// scopes are the scope values the server offers (config.RegistrableScopes).
	scopes config.Scopes
	// clients finds the requests' clients: the store's unless WithClients.
	clients oauth.ClientGetter
	// resources is the RFC 8707 allow-list (tokens.resources,
	// tokens.registered_resources, the client's own).
	resources *oauth.ResourcePolicy
	// open caps the undecided consent sessions per client and address.
	open *openSessions
}

// WithDirectory makes approvals through the session API complete the
// profile of an identity token that lacks one from the user directory.
func (h *Handler) WithDirectory(d *identity.Directory) *Handler {
	h.dir = d
	return h
}

// New returns the handler.
func New(cfg *config.Config, st *store.Store, issuer *token.Issuer, pages identity.Pages) (*Handler, error) {
	page, err := identity.ParsePage(cfg, templates, "templates/authorize.html")
	if err != nil {
		return nil, fmt.Errorf("authorize: consent page: %w", err)
	}
	h := &Handler{
		cfg: cfg, st: st, issuer: issuer, pages: pages, page: page,
		iss: cfg.Issuer(), now: time.Now, scopes: cfg.RegistrableScopes(), clients: st.Clients,
		resources: oauth.NewResourcePolicy(cfg.Tokens.Resources, cfg.Tokens.RegisteredResources, cfg.FixedResources()...),
		open:      newOpenSessions(cfg.Authorization.MaxOpenPerClient, cfg.Authorization.MaxOpenPerAddress),
	}
	h.open.stillOpen = h.sessionOpen
	return h, nil
}

// sessionOpen reports whether consent session id is stored and
// undecided; a store that cannot tell counts it open.
func (h *Handler) sessionOpen(ctx context.Context, id string) bool {
	req, err := h.st.AuthRequests.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	return err != nil || (req.Decision == "" && h.now().Before(req.ExpiresAt))
}

// WithClients finds clients through clients (client.Clients: the store's
// and those of client ID metadata documents). Call it before Register.
func (h *Handler) WithClients(clients oauth.ClientGetter) *Handler {
	h.clients = clients
	return h
}

// Register mounts the endpoints on r (already under the base path).
func (h *Handler) Register(r fiber.Router) {
	// The request and the consent page may run in a popup opened by the
	// client's origin: they keep its window.opener.
	r.Get("/v1/authorize", identity.AllowOpener, h.authorize)
	r.Post("/v1/authorize", identity.AllowOpener, h.authorize)

	r.Get("/v1/sessions/:id", h.getSession)
	r.Post("/v1/sessions/:id/approve", h.approveSession)
	r.Post("/v1/sessions/:id/reject", h.rejectSession)

	r.Get(pagePath+":id", identity.AllowOpener, h.pages.CSRF, h.showPage)
	r.Post(pagePath+":id", identity.AllowOpener, h.pages.CSRF, h.submitPage)
}
