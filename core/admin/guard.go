// Package admin guards the operator endpoints under /admin.
package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
)

// Guard admits requests bearing the configured admin token. With no token
// configured the admin endpoints do not exist (404).
func Guard(cfg *config.Config) fiber.Handler {
	want := sha256.Sum256([]byte(cfg.Admin.Token))
	return func(c *fiber.Ctx) error {
		if cfg.Admin.Token == "" {
			return fiber.ErrNotFound
		}
		scheme, token, _ := strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
		got := sha256.Sum256([]byte(token))
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			return oauth.ErrInvalidToken().WithDescription("a valid admin token is required").
				WithChallenge(`Bearer realm="gatehouse-admin"`)
		}
		return c.Next()
	}
}
