package server

import (
	"encoding/base64"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/time/rate"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/metrics"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
)

// rateLimiter keeps a token bucket per remote address and per client id for
// each limited route. Every request costs its address a token, failed
// client authentications included; a client's bucket is charged only once
// the request has authenticated it (~800 wrong secrets naming a client
// used to empty its bucket and lock the real client out).
type rateLimiter struct {
	cfg            config.RateLimit
	trustedProxies int
	mu             sync.Mutex
	buckets        map[string]*bucket
	lastSweep      time.Time
}

type bucket struct {
	limiter  *rate.Limiter
	lastSeen time.Time
}

func newRateLimiter(cfg config.RateLimit, trustedProxies int) *rateLimiter {
	if !cfg.Enabled {
		return nil
	}
	return &rateLimiter{cfg: cfg, trustedProxies: trustedProxies, buckets: map[string]*bucket{}, lastSweep: time.Now()}
}

func (l *rateLimiter) limits(route string) (rate.Limit, int) {
	switch route {
	case "register":
		return rate.Limit(l.cfg.RegisterPerSecond), l.cfg.RegisterBurst
	case "authorize":
		return rate.Limit(l.cfg.AuthorizePerSecond), l.cfg.AuthorizeBurst
	}
	return rate.Limit(l.cfg.TokenPerSecond), l.cfg.TokenBurst
}

// bucketLocked returns the bucket of route and key, sweeping idle ones
// now and then. l.mu is held.
func (l *rateLimiter) bucketLocked(route, key string, now time.Time) *bucket {
	if now.Sub(l.lastSweep) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.lastSeen) > 5*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b, ok := l.buckets[route+"|"+key]
	if !ok {
		r, burst := l.limits(route)
		b = &bucket{limiter: rate.NewLimiter(r, burst)}
		l.buckets[route+"|"+key] = b
	}
	b.lastSeen = now
	return b
}

// allow takes a token from the bucket for key and reports how long to wait
// if there was none.
func (l *rateLimiter) allow(route, key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	res := l.bucketLocked(route, key, now).limiter.ReserveN(now, 1)
	if delay := res.DelayFrom(now); delay > 0 {
		res.CancelAt(now)
		return false, delay
	}
	return true, 0
}

// empty reports whether the bucket for key has no token left, and how
// long until it has one, without taking any.
func (l *rateLimiter) empty(route, key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.bucketLocked(route, key, now).limiter
	if tokens := lim.TokensAt(now); tokens < 1 {
		return true, time.Duration((1 - tokens) / float64(lim.Limit()) * float64(time.Second))
	}
	return false, 0
}

// charge takes a token after the fact, going into debt if there is none,
// so that the next request waits for it.
func (l *rateLimiter) charge(route, key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bucketLocked(route, key, now).limiter.ReserveN(now, 1)
}

func (l *rateLimiter) middleware(route string) fiber.Handler {
	refuse := func(c *fiber.Ctx, wait time.Duration) error {
		metrics.RateLimited.WithLabelValues(route).Inc()
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		return oauth.WriteError(c, oauth.ErrTooManyRequests())
	}
	return func(c *fiber.Ctx) error {
		now := time.Now()
		ip := "ip:" + oauth.ClientIP(c, l.trustedProxies)
		if ok, wait := l.allow(route, ip, now); !ok {
			return refuse(c, wait)
		}
		// The claimed client's bucket is looked at, not charged: only an
		// authenticated request costs its client a token.
		if id := requestClientID(c); id != "" {
			if empty, wait := l.empty(route, "client:"+id, now); empty {
				return refuse(c, wait)
			}
		}
		err := c.Next()
		if id, ok := oauth.AuthenticatedClient(c); ok {
			l.charge(route, "client:"+id, now)
		}
		return err
	}
}

// addressOnly limits route per remote address alone (a 429 JSON answer
// with Retry-After, before anything is read).
func (l *rateLimiter) addressOnly(route string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if ok, wait := l.allow(route, "ip:"+oauth.ClientIP(c, l.trustedProxies), time.Now()); !ok {
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
