package authorize

import (
	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

// Handler serves this package's endpoints.
type Handler struct {
	cfg *config.Config
}

// New returns the handler.
func New(cfg *config.Config, st *store.Store, issuer *token.Issuer) *Handler {
	return &Handler{cfg: cfg}
}

// Register mounts the endpoints on r (already under the base path).
func (h *Handler) Register(r fiber.Router) {}
