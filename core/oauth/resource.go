package oauth

import (
	"net/url"
	"slices"
	"strings"
)

// Bounds on the resource indicators of one request.
const (
	maxResources   = 10
	maxResourceLen = 2000
)

// CheckResources is RFC 8707 §2: each resource an absolute URI without a
// fragment, at most ten of them; repeats are dropped. Failures are
// invalid_target.
func CheckResources(raw []string) ([]string, *Error) {
	if len(raw) > maxResources {
		return nil, ErrInvalidTarget().WithDescription("at most %d resource parameters are accepted", maxResources)
	}
	var out []string
	for _, r := range raw {
		if len(r) > maxResourceLen {
			return nil, ErrInvalidTarget().WithDescription("a resource is longer than %d bytes", maxResourceLen)
		}
		u, err := url.Parse(r)
		if err != nil || !u.IsAbs() || strings.Contains(r, "#") {
			return nil, ErrInvalidTarget().WithDescription("resource must be an absolute URI without a fragment (RFC 8707 section 2)")
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}
