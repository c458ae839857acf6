package server

import (
	"log/slog"
	"net/url"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/metrics"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
)

// recoverPanics turns a panic into a logged server_error instead of a
// dropped connection.
func recoverPanics(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			slog.Error("panic serving request", "path", c.Path(), "panic", r, "stack", string(debug.Stack()))
			err = oauth.ErrServerError()
		}
	}()
	return c.Next()
}

// requestID gives every request an id, echoed in X-Request-Id and logs.
func requestID(c *fiber.Ctx) error {
	id := c.Get(fiber.HeaderXRequestID)
	if id == "" || len(id) > 128 {
		id = oauth.RandomToken(12)
	}
	c.Set(fiber.HeaderXRequestID, id)
	c.Locals("request_id", id)
	return c.Next()
}

// accessLog logs each request and records its metrics.
func accessLog(trustedProxies int) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		err := c.Next()
		if err != nil {
			// Let the error handler write the response so that the
			// status we log and count is the one the client gets.
			if herr := c.App().ErrorHandler(c, err); herr != nil {
				_ = c.SendStatus(fiber.StatusInternalServerError)
			}
			err = nil
		}
		status := c.Response().StatusCode()
		route := c.Route().Path
		elapsed := time.Since(start)
		// c.Method() aliases fasthttp's reusable header buffer (fiber's
		// zero-copy strings): a label kept by the registry must be a copy,
		// or a later request rewrites it ("GET" → "POS") and /metrics
		// fails with a duplicate series.
		metrics.Requests.WithLabelValues(route, strings.Clone(c.Method()), strconv.Itoa(status)).Inc()
		metrics.Latency.WithLabelValues(route).Observe(elapsed.Seconds())
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		slog.Log(c.UserContext(), level, "request",
			"method", c.Method(), "path", c.Path(), "status", status,
			"duration", elapsed, "remote", oauth.ClientIP(c, trustedProxies), "request_id", c.Locals("request_id"))
		return err
	}
}

// refuseContentCoding answers 415 to any request with a compressed body,
// before a route runs: besides oauth.Body, fasthttp's FormValue (the CSRF
// check, the page forms, the provider routes) inflates gzip multipart
// bodies without bound.
func refuseContentCoding(c *fiber.Ctx) error {
	if err := oauth.CheckContentEncoding(c); err != nil {
		return err
	}
	return c.Next()
}

// securityHeaders sets the headers every response should carry.
func securityHeaders(c *fiber.Ctx) error {
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Referrer-Policy", "no-referrer")
	c.Set("Cross-Origin-Opener-Policy", "same-origin")
	c.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	if c.Protocol() == "https" {
		c.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
	return c.Next()
}

// cors allows the configured app origins (and the app_url's origin) to call
// the API with credentials, as Backstage's frontend does.
func cors(cfg *config.Config) fiber.Handler {
	origins := slices.Clone(cfg.Server.CORSOrigins)
	if u, err := url.Parse(cfg.AppURL()); err == nil {
		origins = append(origins, u.Scheme+"://"+u.Host)
	}
	return func(c *fiber.Ctx) error {
		origin := c.Get(fiber.HeaderOrigin)
		if origin == "" || !slices.Contains(origins, origin) {
			return c.Next()
		}
		c.Vary(fiber.HeaderOrigin)
		c.Set(fiber.HeaderAccessControlAllowOrigin, origin)
		c.Set(fiber.HeaderAccessControlAllowCredentials, "true")
		if c.Method() == fiber.MethodOptions && c.Get(fiber.HeaderAccessControlRequestMethod) != "" {
			c.Set(fiber.HeaderAccessControlAllowMethods, "GET, POST, PUT, DELETE, OPTIONS")
			c.Set(fiber.HeaderAccessControlAllowHeaders, "Authorization, Content-Type, X-Requested-With")
			c.Set(fiber.HeaderAccessControlMaxAge, "600")
			return c.SendStatus(fiber.StatusNoContent)
		}
		return c.Next()
	}
}
