package identity

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// SessionCookie is the name of the login session cookie.
const SessionCookie = "gatehouse_session"

// maxCookieLen bounds the cookie value we look up; ours are 43 characters.
const maxCookieLen = 128

// Sessions manages login sessions: a random cookie value in the browser,
// and the session stored under its SHA-256 (store.HashID), so that a copy
// of the database holds no usable cookie.
type Sessions struct {
	st     *store.Store
	ttl    time.Duration
	path   string
	secure bool
	now    func() time.Time
}

// NewSessions returns the login sessions of cfg's server.
func NewSessions(cfg *config.Config, st *store.Store) *Sessions {
	return &Sessions{
		st:     st,
		ttl:    cfg.Tokens.LoginSessionTTL,
		path:   CookiePath(cfg),
		secure: Secure(cfg),
		now:    time.Now,
	}
}

// CookiePath is the path of Gatehouse's cookies: the base path, or "/".
func CookiePath(cfg *config.Config) string {
	if cfg.Server.BasePath == "" {
		return "/"
	}
	return cfg.Server.BasePath
}

// Secure reports whether cookies must be Secure: when the issuer is https.
func Secure(cfg *config.Config) bool {
	return strings.HasPrefix(strings.ToLower(cfg.Issuer()), "https://")
}

// Start signs u in: it stores a new session and sets its cookie. A session
// the browser already had is ended first, so that a sign-in always gets a
// fresh cookie value (no session fixation).
func (s *Sessions) Start(c *fiber.Ctx, u User) (User, error) {
	ctx := c.UserContext()
	if old := c.Cookies(SessionCookie); old != "" && len(old) <= maxCookieLen {
		if err := s.st.LoginSessions.Delete(ctx, store.HashID(old)); err != nil {
			return User{}, fmt.Errorf("identity: end previous session: %w", err)
		}
	}
	now := s.now()
	if u.AuthTime.IsZero() {
		u.AuthTime = now
	}
	u.AuthTime = u.AuthTime.UTC().Truncate(time.Second)
	value := oauth.RandomToken(32)
	rec := store.LoginSession{
		Subject:   u.Subject,
		Ownership: u.Ownership,
		Profile:   u.Profile,
		Claims:    u.Claims,
		Provider:  u.Provider,
		AuthTime:  u.AuthTime,
		ExpiresAt: now.Add(s.ttl),

		ProviderSession: u.ProviderSession,
	}
	if err := s.st.LoginSessions.Create(ctx, store.HashID(value), rec); err != nil {
		return User{}, fmt.Errorf("identity: store session: %w", err)
	}
	s.setCookie(c, value, rec.ExpiresAt)
	return u, nil
}

// Current returns the user signed in on this request's browser; ok is
// false when there is no live session. An error means the store failed.
func (s *Sessions) Current(c *fiber.Ctx) (u User, ok bool, err error) {
	value := c.Cookies(SessionCookie)
	if value == "" || len(value) > maxCookieLen {
		return User{}, false, nil
	}
	rec, err := s.st.LoginSessions.Get(c.UserContext(), store.HashID(value))
	if errors.Is(err, store.ErrNotFound) {
		return User{}, false, nil
	}
	if err != nil {
		return User{}, false, fmt.Errorf("identity: read session: %w", err)
	}
	if !s.now().Before(rec.ExpiresAt) {
		return User{}, false, nil
	}
	return User{
		Subject:   rec.Subject,
		Ownership: rec.Ownership,
		Profile:   rec.Profile,
		Claims:    rec.Claims,
		Provider:  rec.Provider,
		AuthTime:  rec.AuthTime,
	}, true, nil
}

// End signs the browser out: the stored session is deleted and the cookie
// expired. Ending when nobody is signed in is not an error.
func (s *Sessions) End(c *fiber.Ctx) error {
	_, _, err := s.Logout(c)
	return err
}

// Logout is End that also returns the session it ended (ok false when the
// browser had none, or it had expired), for the caller to end what the
// sign-in started with it (the provider session).
func (s *Sessions) Logout(c *fiber.Ctx) (rec store.LoginSession, ok bool, err error) {
	if value := c.Cookies(SessionCookie); value != "" && len(value) <= maxCookieLen {
		id := store.HashID(value)
		rec, err = s.st.LoginSessions.Get(c.UserContext(), id)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return rec, false, fmt.Errorf("identity: read session: %w", err)
		default:
			ok = s.now().Before(rec.ExpiresAt)
		}
		if err := s.st.LoginSessions.Delete(c.UserContext(), id); err != nil {
			return rec, false, fmt.Errorf("identity: delete session: %w", err)
		}
	}
	s.setCookie(c, "", time.Unix(0, 0))
	return rec, ok, nil
}

func (s *Sessions) setCookie(c *fiber.Ctx, value string, expires time.Time) {
	c.Cookie(&fiber.Cookie{
		Name:     SessionCookie,
		Value:    value,
		Path:     s.path,
		Expires:  expires,
		Secure:   s.secure,
		HTTPOnly: true,
		SameSite: fiber.CookieSameSiteLaxMode,
	})
}
