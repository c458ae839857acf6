// Package urlpattern is the server's one URL matcher, for every allow-list
// and pattern an operator writes (redirect URI patterns, plugin http_allow).
//
// A pattern and a candidate URL are both parsed first and then compared
// part by part, never as one string glob: the scheme exactly; the host
// label by label, where `*` is exactly one label; the port exactly (an
// omitted port is the scheme's default, `*` is any port); the path
// segment by segment, where `*` is exactly one non-empty segment and a
// final `**` is the rest of the path, however long. The query and the
// fragment are never part of the match.
//
// A candidate the matcher cannot read one way only is refused outright,
// whatever the patterns: user information, dot segments (`.`, `..`, also
// percent-encoded), encoded slashes and backslashes (`%2f`, `%5c`, `\`),
// percent-encoded or empty host labels, non-ASCII bytes, and opaque URIs
// (`scheme:x` without a slash). What is left is read by every browser and
// HTTP client the way it is read here.
package urlpattern

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Wildcards of a pattern.
const (
	one  = "*"  // one host label, one path segment, or (as the port) any port
	rest = "**" // the rest of the path: zero or more segments, last only
	// anySegment stands for `*` among decoded path segments: no decoded
	// segment holds a slash, so a literal `%2A` stays a literal.
	anySegment = "/"
)

// Pattern is a parsed URL pattern. The zero value matches nothing.
type Pattern struct {
	raw    string
	scheme string
	// authority records whether the pattern has "//" after the scheme.
	authority bool
	host      []string // lower-case labels, "*" for any one label
	port      string   // canonical decimal, "" for none, "*" for any
	path      []string // decoded segments, anySegment for any one
	rest      bool     // the path ends with "**"
}

// Parse reads a pattern: `scheme://host[:port][/path]` or, for a scheme
// without an authority (a native app's private-use scheme, RFC 8252 §7.1),
// `scheme:/path`. Wildcards stand for whole labels and segments only
// (`*.example.com`, `/users/*`, `/api/**`; not `api-*.example.com` or
// `/cb-*`), and a pattern has no user information, query or fragment. The
// errors say what is wrong, to be shown with the configuration key.
func Parse(s string) (*Pattern, error) {
	if s == "" {
		return nil, errors.New("is empty")
	}
	if err := checkBytes(s); err != nil {
		return nil, err
	}
	if strings.ContainsAny(s, "?#") {
		return nil, errors.New("has a query or fragment; patterns match the scheme, host, port and path only")
	}
	scheme, after, ok := strings.Cut(s, ":")
	if !ok || !validScheme(scheme) {
		return nil, errors.New("must be an absolute URL starting with a scheme such as https://")
	}
	p := &Pattern{raw: s, scheme: strings.ToLower(scheme)}
	pathPart := after
	if strings.HasPrefix(after, "//") {
		p.authority = true
		auth := after[2:]
		pathPart = ""
		if i := strings.IndexByte(auth, '/'); i >= 0 {
			auth, pathPart = auth[:i], auth[i:]
		}
		if strings.Contains(auth, "@") {
			return nil, errors.New("must not contain user information")
		}
		host, port, err := splitHostPort(auth)
		if err != nil {
			return nil, err
		}
		if p.host, err = patternHost(host); err != nil {
			return nil, err
		}
		if p.port, err = patternPort(port, p.scheme); err != nil {
			return nil, err
		}
		if len(p.host) == 0 && (p.scheme == "http" || p.scheme == "https") {
			return nil, errors.New("must name a host")
		}
	} else if !strings.HasPrefix(after, "/") {
		return nil, errors.New("must be scheme://host/path or scheme:/path")
	}
	segs := splitPath(pathPart)
	for i, seg := range segs {
		switch {
		case seg == rest && i == len(segs)-1:
			p.rest = true
			continue
		case seg == rest:
			return nil, errors.New("may use ** only as the last path segment")
		case seg == one:
			p.path = append(p.path, anySegment)
			continue
		case strings.Contains(seg, "*"):
			return nil, fmt.Errorf("path segment %q: a wildcard must be a whole segment (* or a final **)", seg)
		}
		dec, err := segment(seg)
		if err != nil {
			return nil, err
		}
		p.path = append(p.path, dec)
	}
	return p, nil
}

// MustParse is Parse for patterns written in code.
func MustParse(s string) *Pattern {
	p, err := Parse(s)
	if err != nil {
		panic(fmt.Sprintf("urlpattern: %q %v", s, err))
	}
	return p
}

// String returns the pattern as written.
func (p *Pattern) String() string { return p.raw }

// Web reports whether the pattern is for http or https URLs.
func (p *Pattern) Web() bool { return p.scheme == "http" || p.scheme == "https" }

// Match reports whether the URL raw is allowed by p. A URL that ParseURL
// refuses matches nothing.
func (p *Pattern) Match(raw string) bool {
	u, err := ParseURL(raw)
	return err == nil && p.MatchURL(u)
}

// MatchURL reports whether u is allowed by p.
func (p *Pattern) MatchURL(u *URL) bool {
	if p == nil || u == nil || p.scheme == "" || p.scheme != u.scheme || p.authority != u.authority {
		return false
	}
	if len(p.host) != len(u.host) {
		return false
	}
	for i, label := range p.host {
		if label != one && label != u.host[i] {
			return false
		}
	}
	if p.port != one && p.port != u.port {
		return false
	}
	if len(u.path) < len(p.path) || (!p.rest && len(u.path) != len(p.path)) {
		return false
	}
	for i, seg := range p.path {
		if seg == anySegment && u.path[i] == "" || seg != anySegment && seg != u.path[i] {
			return false
		}
	}
	return true
}

// List is a set of patterns; a URL is allowed when one of them matches.
type List []*Pattern

// ParseList parses every pattern, and reports every one that is wrong,
// each with its index.
func ParseList(patterns []string) (List, error) {
	l := make(List, 0, len(patterns))
	var errs []error
	for i, s := range patterns {
		p, err := Parse(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("[%d] %q %w", i, s, err))
			continue
		}
		l = append(l, p)
	}
	return l, errors.Join(errs...)
}

// Match reports whether raw is a URL one of the patterns allows.
func (l List) Match(raw string) bool {
	u, err := ParseURL(raw)
	return err == nil && l.MatchURL(u)
}

// MatchURL reports whether one of the patterns allows u.
func (l List) MatchURL(u *URL) bool {
	for _, p := range l {
		if p.MatchURL(u) {
			return true
		}
	}
	return false
}

// URL is a candidate URL as the matcher reads it.
type URL struct {
	scheme    string
	authority bool
	host      []string
	port      string
	path      []string
}

// ParseURL reads a candidate URL, refusing one that could be read more
// than one way (see the package comment); the error says why.
func ParseURL(raw string) (*URL, error) {
	if err := checkBytes(raw); err != nil {
		return nil, err
	}
	parsed, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("is not a valid URL")
	}
	if parsed.Scheme == "" {
		return nil, errors.New("is not an absolute URL")
	}
	if parsed.Opaque != "" {
		return nil, errors.New("is an opaque URI (no slash after the scheme)")
	}
	if parsed.User != nil {
		return nil, errors.New("contains user information")
	}
	u := &URL{scheme: parsed.Scheme} // net/url lower-cases the scheme
	if rest := raw[len(parsed.Scheme)+1:]; strings.HasPrefix(rest, "//") {
		u.authority = true
		// The authority as written: net/url has already decoded escapes in it.
		auth := rest[2:]
		if i := strings.IndexAny(auth, "/?#"); i >= 0 {
			auth = auth[:i]
		}
		if strings.Contains(auth, "%") {
			return nil, errors.New("has a percent-encoded host")
		}
		if u.host, err = urlHost(parsed.Hostname()); err != nil {
			return nil, err
		}
		if u.port, err = urlPort(parsed.Port(), u.scheme); err != nil {
			return nil, err
		}
	}
	for _, seg := range splitPath(parsed.EscapedPath()) {
		dec, err := segment(seg)
		if err != nil {
			return nil, err
		}
		u.path = append(u.path, dec)
	}
	return u, nil
}

// checkBytes refuses what no well-formed URL holds unencoded: controls,
// spaces, non-ASCII, and the backslash, which browsers read as a slash in
// http(s) URLs while net/url does not.
func checkBytes(s string) error {
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b <= ' ' || b >= 0x7f:
			return errors.New("contains a space, control or non-ASCII byte (percent-encode it)")
		case b == '\\':
			return errors.New("contains a backslash")
		}
	}
	return nil
}

func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i] | 0x20 // lower-case letters
		switch {
		case 'a' <= b && b <= 'z':
		case i > 0 && ('0' <= s[i] && s[i] <= '9' || s[i] == '+' || s[i] == '-' || s[i] == '.'):
		default:
			return false
		}
	}
	return true
}

// splitHostPort splits a pattern's authority; an IPv6 literal is bracketed.
func splitHostPort(auth string) (host, port string, err error) {
	if strings.HasPrefix(auth, "[") {
		end := strings.IndexByte(auth, ']')
		if end < 0 {
			return "", "", errors.New("has an IPv6 host without its closing ]")
		}
		host, after := auth[:end+1], auth[end+1:]
		if after == "" {
			return host, "", nil
		}
		if after[0] != ':' {
			return "", "", errors.New("has something other than a port after its IPv6 host")
		}
		return host, after[1:], nil
	}
	host, port, _ = strings.Cut(auth, ":")
	if strings.Contains(port, ":") {
		return "", "", errors.New("has more than one port (bracket an IPv6 host: [::1])")
	}
	return host, port, nil
}

// patternHost reads a pattern's host into labels.
func patternHost(host string) ([]string, error) {
	if host == "" {
		return nil, nil
	}
	if strings.HasPrefix(host, "[") {
		label, err := ipv6Label(host[1 : len(host)-1])
		if err != nil {
			return nil, err
		}
		return []string{label}, nil
	}
	labels := strings.Split(strings.ToLower(host), ".")
	for _, label := range labels {
		switch {
		case label == one:
		case label == rest:
			return nil, errors.New("uses ** in the host; * stands for exactly one label")
		case strings.Contains(label, "*"):
			return nil, fmt.Errorf("host label %q: a wildcard must be a whole label (*.example.com)", label)
		case !validLabel(label):
			return nil, fmt.Errorf("host label %q is not a DNS label (letters, digits, - and _)", label)
		}
	}
	return labels, nil
}

// urlHost reads a candidate's host (without brackets) into labels.
func urlHost(host string) ([]string, error) {
	if host == "" {
		return nil, nil
	}
	if strings.Contains(host, ":") {
		label, err := ipv6Label(host)
		if err != nil {
			return nil, err
		}
		return []string{label}, nil
	}
	labels := strings.Split(strings.ToLower(host), ".")
	for _, label := range labels {
		if !validLabel(label) {
			return nil, fmt.Errorf("has host label %q, which is not a DNS label", label)
		}
	}
	return labels, nil
}

// ipv6Label is the canonical bracketed form of an IPv6 literal, so that
// [::1] and [0:0::1] are one host.
func ipv6Label(s string) (string, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() || a.Zone() != "" {
		return "", fmt.Errorf("has %q as host, which is not an IPv6 address", s)
	}
	return "[" + a.String() + "]", nil
}

func validLabel(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || '0' <= b && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}

// defaultPorts are the ports a URL without one means (RFC 3986 §6.2.3).
var defaultPorts = map[string]string{"http": "80", "https": "443"}

func patternPort(port, scheme string) (string, error) {
	if port == one {
		return one, nil
	}
	p, err := urlPort(port, scheme)
	if err != nil {
		return "", fmt.Errorf("has port %q: want a number from 1 to 65535, or *", port)
	}
	return p, nil
}

func urlPort(port, scheme string) (string, error) {
	if port == "" {
		return defaultPorts[scheme], nil
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || strings.ContainsAny(port, "+-") {
		return "", fmt.Errorf("has port %q, which is not a number from 1 to 65535", port)
	}
	return strconv.Itoa(n), nil
}

// splitPath splits an escaped path into its segments; an empty path is
// "/" (RFC 3986 §6.2.3), one empty segment.
func splitPath(p string) []string {
	return strings.Split(strings.TrimPrefix(p, "/"), "/")
}

// segment decodes one escaped path segment, refusing what would let the
// segment be read as more than one, or as a step up or aside.
func segment(seg string) (string, error) {
	lower := strings.ToLower(seg)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
		return "", errors.New("has an encoded slash or backslash (%2F, %5C) in its path")
	}
	dec, err := url.PathUnescape(seg)
	if err != nil {
		return "", errors.New("has a malformed percent-encoding in its path")
	}
	if dec == "." || dec == ".." {
		return "", errors.New("has a dot segment (. or ..) in its path")
	}
	return dec, nil
}
