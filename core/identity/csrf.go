package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/csrf"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// CSRF cookie and form field of every form on Gatehouse's pages.
const (
	CSRFCookie = "gatehouse_csrf"
	CSRFField  = "_csrf"
	csrfLocal  = "gatehouse.csrf"
)

// storageTimeout bounds one CSRF token lookup or write: fiber.Storage
// carries no request context.
const storageTimeout = 5 * time.Second

// CSRF protects the pages' forms with Fiber's double-submit cookie: a safe
// request (GET) gets a token in an HttpOnly cookie and in the page (see
// CSRFToken); an unsafe one must send the same token in the form field
// _csrf, and the token must be one this server issued (kept in the store,
// so that every middleware instance and every replica knows it). Over
// https Fiber also requires a same-origin Referer, which is why the pages
// send Referrer-Policy: same-origin. A refused request gets a 403 page and
// reaches no handler, so nothing changes.
func CSRF(cfg *config.Config, st *store.Store) fiber.Handler {
	return csrf.New(csrf.Config{
		KeyLookup:         "form:" + CSRFField,
		CookieName:        CSRFCookie,
		CookiePath:        CookiePath(cfg),
		CookieSecure:      Secure(cfg),
		CookieHTTPOnly:    true,
		CookieSameSite:    fiber.CookieSameSiteLaxMode,
		CookieSessionOnly: true,
		Expiration:        cfg.Tokens.ConsentSessionTTL,
		KeyGenerator:      func() string { return oauth.RandomToken(32) },
		Storage:           &csrfStorage{tokens: st.CSRF},
		ContextKey:        csrfLocal,
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			slog.InfoContext(c.UserContext(), "form refused: CSRF check failed",
				"path", c.Path(), "reason", err.Error(), "request_id", c.Locals("request_id"))
			return ErrorPage(cfg, c, fiber.StatusForbidden, "error.csrf_title", "error.csrf")
		},
	})
}

// CSRFToken is the token the CSRF middleware issued for this request, to
// put in the page's forms.
func CSRFToken(c *fiber.Ctx) string {
	token, _ := c.Locals(csrfLocal).(string)
	return token
}

// csrfStorage keeps Fiber's CSRF tokens in the store, under their SHA-256.
type csrfStorage struct {
	tokens store.Space
}

var _ fiber.Storage = (*csrfStorage)(nil)

func (s *csrfStorage) Get(token string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), storageTimeout)
	defer cancel()
	v, err := s.tokens.Get(ctx, store.HashID(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("identity: read CSRF token: %w", err)
	}
	return v, nil
}

func (s *csrfStorage) Set(token string, val []byte, exp time.Duration) error {
	if token == "" || len(val) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), storageTimeout)
	defer cancel()
	var expiresAt time.Time
	if exp > 0 {
		expiresAt = time.Now().Add(exp)
	}
	if err := s.tokens.Put(ctx, store.HashID(token), val, expiresAt); err != nil {
		return fmt.Errorf("identity: store CSRF token: %w", err)
	}
	return nil
}

func (s *csrfStorage) Delete(token string) error {
	ctx, cancel := context.WithTimeout(context.Background(), storageTimeout)
	defer cancel()
	if err := s.tokens.Delete(ctx, store.HashID(token)); err != nil {
		return fmt.Errorf("identity: delete CSRF token: %w", err)
	}
	return nil
}

// resetPage is how many CSRF tokens one read of Reset takes.
const resetPage = 256

// Reset deletes every CSRF token, reading them a page at a time and
// deleting as it goes.
func (s *csrfStorage) Reset() error {
	ctx, cancel := context.WithTimeout(context.Background(), storageTimeout)
	defer cancel()
	after := ""
	for {
		ids, next, err := s.tokens.ListPage(ctx, store.Page{After: after, Limit: resetPage})
		if err != nil {
			return fmt.Errorf("identity: list CSRF tokens: %w", err)
		}
		for _, id := range ids {
			if err := s.tokens.Delete(ctx, id); err != nil {
				return fmt.Errorf("identity: delete CSRF token: %w", err)
			}
		}
		if next == "" {
			return nil
		}
		after = next
	}
}

// Close does nothing: the store belongs to the server.
func (s *csrfStorage) Close() error { return nil }

// Pages is what a page of Gatehouse's own (the consent page, the CIBA
// approval page) needs from this package: who is signed in, how to sign
// in, and CSRF protection for its forms. The sign-in providers make it.
type Pages struct {
	Sessions *Sessions
	Logins   *Registry
	CSRF     fiber.Handler
}
