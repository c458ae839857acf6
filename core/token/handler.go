package token

import (
	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// Handler serves userinfo, revocation and introspection.
type Handler struct {
	cfg    *config.Config
	st     *store.Store
	issuer *Issuer
}

// NewHandler returns the handler.
func NewHandler(cfg *config.Config, st *store.Store, issuer *Issuer) *Handler {
	return &Handler{cfg: cfg, st: st, issuer: issuer}
}

// Register mounts /v1/userinfo, /v1/revoke and /v1/introspect on r.
func (h *Handler) Register(r fiber.Router) {}
