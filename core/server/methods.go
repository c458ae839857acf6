package server

import (
	"slices"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"
)

// notFound is the last handler: a path no route serves is 404, and a path
// some route serves with other methods is 405 with Allow (RFC 9110
// §15.5.6). The route table is read on the first miss, once every route
// is mounted.
func notFound(app *fiber.App) fiber.Handler {
	table := sync.OnceValue(func() []routePath {
		var out []routePath
		for _, r := range app.GetRoutes(true) {
			out = append(out, routePath{method: r.Method, segments: splitPath(r.Path)})
		}
		return out
	})
	return func(c *fiber.Ctx) error {
		path := splitPath(c.Path())
		var allow []string
		for _, r := range table() {
			if r.matches(path) && !slices.Contains(allow, r.method) {
				allow = append(allow, r.method)
			}
		}
		if len(allow) == 0 {
			return fiber.ErrNotFound
		}
		slices.Sort(allow)
		c.Set(fiber.HeaderAllow, strings.Join(allow, ", "))
		return fiber.ErrMethodNotAllowed
	}
}

// routePath is a route's method and its path, split into segments.
type routePath struct {
	method   string
	segments []string
}

// splitPath splits a path into its segments, ignoring a trailing slash as
// Fiber's non-strict routing does.
func splitPath(p string) []string {
	return strings.Split(strings.Trim(p, "/"), "/")
}

// matches reports whether the route serves path the way Fiber's router
// does: ":name" matches one non-empty segment (":name?" also none), "*"
// and "+" the rest, other segments exactly but for case.
func (r routePath) matches(path []string) bool {
	for i, seg := range r.segments {
		switch {
		case seg == "*" || seg == "+":
			return seg == "*" || i < len(path)
		case i >= len(path):
			return strings.HasPrefix(seg, ":") && strings.HasSuffix(seg, "?") && i == len(r.segments)-1
		case strings.HasPrefix(seg, ":"):
			if path[i] == "" && !strings.HasSuffix(seg, "?") {
				return false
			}
		case !strings.EqualFold(seg, path[i]):
			return false
		}
	}
	return len(path) == len(r.segments)
}
