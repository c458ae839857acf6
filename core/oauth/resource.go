package oauth

import (
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-auth/gatehouse/core/urlpattern"
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

// ResourcePolicy is the allow-list of RFC 8707 resources (§2: "the
// authorization server ... SHOULD [refuse] a resource it does not
// recognise or that the client is not allowed"): the audiences a client
// may get an access token for. Without it any URI a client names becomes
// aud, and a token minted for one resource server could be aimed at any
// other that trusts this issuer. An entry with `*` is a URL pattern
// (core/urlpattern: host label by label, path segment by segment, a final
// `**` the rest); any other entry is an absolute URI compared exactly.
// Immutable; safe for concurrent use.
type ResourcePolicy struct {
	exact    []string
	patterns urlpattern.List
}

// NewResourcePolicy builds the allow-list from entries and the URIs that
// are always allowed (the issuer, a default audience). A malformed pattern
// is left out, which narrows the list (config.Validate reports it).
func NewResourcePolicy(entries []string, always ...string) *ResourcePolicy {
	p := &ResourcePolicy{}
	for _, e := range append(slices.Clone(entries), always...) {
		if e == "" {
			continue
		}
		if !strings.Contains(e, "*") {
			p.exact = append(p.exact, e)
			continue
		}
		if pat, err := urlpattern.Parse(e); err == nil {
			p.patterns = append(p.patterns, pat)
		}
	}
	return p
}

// Allows reports whether resource r is on the list.
func (p *ResourcePolicy) Allows(r string) bool {
	return slices.Contains(p.exact, r) || p.patterns.Match(r)
}

// Check is CheckResources followed by the allow-list: a resource that is
// well formed but not on it is invalid_target (RFC 8707 §2).
func (p *ResourcePolicy) Check(raw []string) ([]string, *Error) {
	resources, oerr := CheckResources(raw)
	if oerr != nil {
		return nil, oerr
	}
	if oerr := p.CheckAllowed(resources); oerr != nil {
		return nil, oerr
	}
	return resources, nil
}

// CheckAllowed refuses the first resource of resources not on the list
// with invalid_target.
func (p *ResourcePolicy) CheckAllowed(resources []string) *Error {
	for _, r := range resources {
		if !p.Allows(r) {
			return ErrInvalidTarget().WithDescription("resource '%s' is not one this server issues tokens for (RFC 8707 section 2)", CleanDescription(r, 100))
		}
	}
	return nil
}

// CleanDescription cuts what a client sent to at most n bytes that fit an
// error description (RFC 6749 §5.2: %x20-21 / %x23-5B / %x5D-7E).
func CleanDescription(s string, n int) string {
	b := make([]byte, 0, min(len(s), n))
	for i := 0; i < len(s) && len(b) < n; i++ {
		if c := s[i]; c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			b = append(b, c)
		}
	}
	return string(b)
}
