package keyset

import (
	"log/slog"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
)

// RegisterAdmin mounts POST /keys/rotate on r, an /admin group that the
// caller has already guarded (core/admin.Guard). It rotates the signing key
// of a running server, which `gatehouse keys rotate` cannot do while the
// server holds the data directory.
func (k *Keyset) RegisterAdmin(r fiber.Router) {
	r.Post("/keys/rotate", k.rotateHandler)
}

// rotation answers a rotation: kid and alg are the new keys.algorithm key
// (access and identity tokens), rotated lists every new key.
type rotation struct {
	KeyID     string   `json:"kid"`
	Algorithm string   `json:"alg"`
	Rotated   []Key    `json:"rotated"`
	Published []string `json:"published"` // kids in the JWKS, active first
}

func (k *Keyset) rotateHandler(c *fiber.Ctx) error {
	made, err := k.Rotate(c.UserContext())
	if err != nil {
		return err
	}
	slog.InfoContext(c.UserContext(), "signing keys rotated by the admin endpoint", "kid", made[0].ID, "count", len(made))
	resp := rotation{KeyID: made[0].ID, Algorithm: made[0].Algorithm, Rotated: made}
	for _, key := range k.JWKS().Keys {
		resp.Published = append(resp.Published, key.KeyID)
	}
	return oauth.JSON(c, fiber.StatusOK, resp)
}
