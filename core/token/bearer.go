package token

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
)

// VerifyBearerIdentity checks the Backstage identity token a request
// carries in its Authorization header (RFC 6750 §2.1), as the APIs a
// user's own front end calls (consent sessions, CIBA authorization
// device) take it, and returns the identity in it. Only the header is
// read: these APIs take no form-encoded token.
func (i *Issuer) VerifyBearerIdentity(c *fiber.Ctx) (Identity, error) {
	auth := c.Get(fiber.HeaderAuthorization)
	scheme, raw, found := strings.Cut(auth, " ")
	if auth == "" || !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		// RFC 6750 §3.1: no error code when the request has no credentials.
		return Identity{}, oauth.ErrInvalidToken().
			WithDescription("a Backstage identity token is required as a Bearer token").
			WithChallenge(`Bearer realm="gatehouse"`)
	}
	return i.VerifyIdentityToken(c.UserContext(), strings.TrimSpace(raw))
}
