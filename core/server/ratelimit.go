package server

import (
	"encoding/base64"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/metrics"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/ratelimit"
)

// rateLimiter keeps a token bucket per remote address and per client id for
// each limited route (core/ratelimit, counted in this process). Every
// request costs its address a token, failed client authentications
// included; a client's bucket is charged only once the request has
// authenticated it (~800 wrong secrets naming a client used to empty its
// bucket and lock the real client out).
type rateLimiter struct {
	trustedProxies int
	routes         map[string]*ratelimit.Buckets
}

func newRateLimiter(cfg config.RateLimit, trustedProxies int) *rateLimiter {
	if !cfg.Enabled {
		return nil
	}
	token := func() *ratelimit.Buckets { return ratelimit.NewBuckets(cfg.TokenPerSecond, cfg.TokenBurst) }
	return &rateLimiter{trustedProxies: trustedProxies, routes: map[string]*ratelimit.Buckets{
		"token":       token(),
		"backchannel": token(), // the token endpoint's limits, in buckets of its own
		"register":    ratelimit.NewBuckets(cfg.RegisterPerSecond, cfg.RegisterBurst),
		"authorize":   ratelimit.NewBuckets(cfg.AuthorizePerSecond, cfg.AuthorizeBurst),
	}}
}

func (l *rateLimiter) middleware(route string) fiber.Handler {
	refuse := func(c *fiber.Ctx, wait time.Duration) error {
		metrics.RateLimited.WithLabelValues(route).Inc()
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		return oauth.WriteError(c, oauth.ErrTooManyRequests())
	}
	buckets := l.routes[route]
	return func(c *fiber.Ctx) error {
		now := time.Now()
		ip := "ip:" + oauth.ClientIP(c, l.trustedProxies)
		if ok, wait := buckets.Take(ip, now); !ok {
			return refuse(c, wait)
		}
		// The claimed client's bucket is looked at, not charged: only an
		// authenticated request costs its client a token.
		if id := requestClientID(c); id != "" {
			if empty, wait := buckets.Empty("client:"+id, now); empty {
				return refuse(c, wait)
			}
		}
		err := c.Next()
		if id, ok := oauth.AuthenticatedClient(c); ok {
			buckets.Charge("client:"+id, now)
		}
		return err
	}
}

// addressOnly limits route per remote address alone (a 429 JSON answer
// with Retry-After, before anything is read).
func (l *rateLimiter) addressOnly(route string) fiber.Handler {
	buckets := l.routes[route]
	return func(c *fiber.Ctx) error {
		if ok, wait := buckets.Take("ip:"+oauth.ClientIP(c, l.trustedProxies), time.Now()); !ok {
			metrics.RateLimited.WithLabelValues(route).Inc()
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			return oauth.WriteError(c, oauth.ErrTooManyRequests())
		}
		return c.Next()
	}
}

// requestClientID finds the client id a request claims, without
// authenticating it: from Basic credentials or a form client_id.
func requestClientID(c *fiber.Ctx) string {
	if scheme, value, ok := strings.Cut(c.Get(fiber.HeaderAuthorization), " "); ok && strings.EqualFold(scheme, "Basic") {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
		if err == nil {
			id, _, _ := strings.Cut(string(raw), ":")
			if id, err := url.QueryUnescape(id); err == nil {
				return id
			}
		}
		return ""
	}
	if strings.HasPrefix(string(c.Request().Header.ContentType()), fiber.MIMEApplicationForm) {
		return string(c.Request().PostArgs().Peek("client_id"))
	}
	return ""
}
