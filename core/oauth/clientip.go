package oauth

import (
	"net"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// ClientIP is the request's remote address, or with trustedProxies
// (server.trusted_proxies) reverse proxies in front, the address the
// outermost trusted proxy saw: counted from the right of X-Forwarded-For,
// the only entries a client cannot forge (RFC 7239 §7.4 on forged
// forwarding headers). Every per-address limit uses it, so that behind a
// proxy they count clients, not the proxy.
func ClientIP(c *fiber.Ctx, trustedProxies int) string {
	remote := c.Context().RemoteIP().String()
	if trustedProxies <= 0 {
		return remote
	}
	var hops []string
	for _, part := range strings.Split(c.Get(fiber.HeaderXForwardedFor), ",") {
		if part = strings.TrimSpace(part); part != "" {
			hops = append(hops, part)
		}
	}
	if len(hops) < trustedProxies {
		if len(hops) > 0 {
			return hops[0]
		}
		return remote
	}
	ip := hops[len(hops)-trustedProxies]
	if net.ParseIP(ip) == nil {
		return remote
	}
	return ip
}
