package discovery

import (
	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/keyset"
)

// Handler serves this package's endpoints.
type Handler struct {
	cfg *config.Config
}

// New returns the handler.
func New(cfg *config.Config, keys *keyset.Keyset) *Handler {
	return &Handler{cfg: cfg}
}

// Register mounts the endpoints on r (already under the base path).
func (h *Handler) Register(r fiber.Router) {}
