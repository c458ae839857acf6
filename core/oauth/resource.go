package oauth

import (
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-auth/gatehouse/core/store"
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
// other that trusts this issuer. It has three layers: what every client
// may name (tokens.resources and the URIs always allowed), what only
// registered clients may name (tokens.registered_resources), and the
// client's own list (its `resources` metadata), which narrows the other
// two. An entry with `*` is a URL pattern (core/urlpattern: host label by
// label, path segment by segment, a final `**` the rest); any other entry
// is an absolute URI compared exactly. Immutable; safe for concurrent use.
type ResourcePolicy struct {
	anyClient  resourceList
	registered resourceList
	always     []string
}

// resourceList is one layer of the policy.
type resourceList struct {
	exact    []string
	patterns urlpattern.List
}

func newResourceList(entries []string) resourceList {
	var l resourceList
	for _, e := range entries {
		if e == "" {
			continue
		}
		if !strings.Contains(e, "*") {
			l.exact = append(l.exact, e)
			continue
		}
		if pat, err := urlpattern.Parse(e); err == nil {
			l.patterns = append(l.patterns, pat)
		}
	}
	return l
}

func (l resourceList) allows(r string) bool {
	return slices.Contains(l.exact, r) || l.patterns.Match(r)
}

// NewResourcePolicy builds the policy from the entries every client may
// name, those only registered clients may, and the URIs that are always
// allowed (the issuer, a default audience). A malformed pattern is left
// out, which narrows the list (config.Validate reports it).
func NewResourcePolicy(anyClient, registered []string, always ...string) *ResourcePolicy {
	return &ResourcePolicy{
		anyClient:  newResourceList(append(slices.Clone(anyClient), always...)),
		registered: newResourceList(registered),
		always:     slices.DeleteFunc(slices.Clone(always), func(s string) bool { return s == "" }),
	}
}

// OfferedTo reports whether the server issues tokens for r to a client of
// kind (store.ClientRegistered or store.ClientDynamic), whatever the
// client's own list says.
func (p *ResourcePolicy) OfferedTo(kind, r string) bool {
	return p.anyClient.allows(r) || kind == store.ClientRegistered && p.registered.allows(r)
}

// Allows reports whether client c may name resource r: offered to its
// kind and, when it registered resources, one of them (the URIs always
// allowed stay allowed).
func (p *ResourcePolicy) Allows(c *store.Client, r string) bool {
	if !p.OfferedTo(c.Kind(), r) {
		return false
	}
	return len(c.Resources) == 0 || slices.Contains(c.Resources, r) || slices.Contains(p.always, r)
}

// Check is CheckResources followed by the allow-list: a resource that is
// well formed but not allowed to c is invalid_target (RFC 8707 §2).
func (p *ResourcePolicy) Check(c *store.Client, raw []string) ([]string, *Error) {
	resources, oerr := CheckResources(raw)
	if oerr != nil {
		return nil, oerr
	}
	if oerr := p.CheckAllowed(c, resources); oerr != nil {
		return nil, oerr
	}
	return resources, nil
}

// CheckAllowed refuses the first resource of resources not allowed to c
// with invalid_target, saying which layer refused it.
func (p *ResourcePolicy) CheckAllowed(c *store.Client, resources []string) *Error {
	for _, r := range resources {
		switch {
		case p.Allows(c, r):
		case !p.OfferedTo(store.ClientRegistered, r):
			return ErrInvalidTarget().WithDescription("resource '%s' is not one this server issues tokens for (RFC 8707 section 2)", CleanDescription(r, 100))
		case !p.OfferedTo(c.Kind(), r):
			return ErrInvalidTarget().WithDescription("resource '%s' is issued only to clients registered with the initial access token (RFC 8707 section 2)", CleanDescription(r, 100))
		default:
			return ErrInvalidTarget().WithDescription("resource '%s' is not among the resources the client registered (RFC 8707 section 2)", CleanDescription(r, 100))
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
