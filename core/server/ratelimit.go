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
// each limited route.
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
	if route == "register" {
		return rate.Limit(l.cfg.RegisterPerSecond), l.cfg.RegisterBurst
	}
	return rate.Limit(l.cfg.TokenPerSecond), l.cfg.TokenBurst
}

// allow takes a token from the bucket for key and reports how long to wait
// if there was none.
func (l *rateLimiter) allow(route, key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
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
	res := b.limiter.ReserveN(now, 1)
	if delay := res.DelayFrom(now); delay > 0 {
		res.CancelAt(now)
		return false, delay
	}
	return true, 0
}

func (l *rateLimiter) middleware(route string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		now := time.Now()
		keys := []string{"ip:" + oauth.ClientIP(c, l.trustedProxies)}
		if id := requestClientID(c); id != "" {
			keys = append(keys, "client:"+id)
		}
		for _, key := range keys {
			if ok, wait := l.allow(route, key, now); !ok {
				metrics.RateLimited.WithLabelValues(route).Inc()
				c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(wait.Seconds()))))
				return oauth.WriteError(c, oauth.ErrTooManyRequests())
			}
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
