package identity

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

// SetClock replaces the sessions' clock, for tests of expiry.
func SetClock(s *Sessions, now func() time.Time) { s.now = now }

// CSRFStorage is the storage of the CSRF middleware on st.
func CSRFStorage(st *store.Store) fiber.Storage { return &csrfStorage{tokens: st.CSRF} }
