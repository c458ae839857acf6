package client

import (
	"fmt"
	"net/url"
	"strings"
)

// maxURILength bounds every URI a client registers, so that a registration
// cannot store (and the consent page cannot show) arbitrarily long values.
const maxURILength = 2000

// deniedSchemes are refused as redirect URIs: a browser sent to them would
// run code, read local data, or leave OAuth's redirect model, so none of
// them is a private-use scheme in the sense of RFC 8252 §7.1.
var deniedSchemes = map[string]bool{
	"javascript":  true,
	"vbscript":    true,
	"data":        true,
	"file":        true,
	"blob":        true,
	"filesystem":  true,
	"about":       true,
	"view-source": true,
	"ftp":         true,
	"ws":          true,
	"wss":         true,
}

// loopbackHosts may be reached over plain http (RFC 8252 §7.3, §8.3): the
// response never leaves the user's machine.
var loopbackHosts = []string{"localhost", "127.0.0.1", "::1"}

// checkRedirectURI returns why raw cannot be a redirect URI, or "" when it
// can: absolute, no fragment (RFC 6749 §3.1.2), no user information, and
// either https, http on a loopback host (RFC 8252 §7.3), or a private-use
// scheme for a native app (RFC 8252 §7.1, such as com.example.app:/cb or
// cursor://callback).
func checkRedirectURI(raw string) string {
	u, reason := parseURI(raw)
	if reason != "" {
		return reason
	}
	if strings.Contains(raw, "#") {
		return "must not contain a fragment (RFC 6749 §3.1.2)"
	}
	switch scheme := u.Scheme; {
	case scheme == "https":
		if u.Host == "" {
			return "must name a host"
		}
	case scheme == "http":
		if !isLoopback(u.Hostname()) {
			return "may use http only with a loopback host (localhost, 127.0.0.1 or [::1]); use https (RFC 8252 §7.3)"
		}
	case deniedSchemes[scheme]:
		return fmt.Sprintf("uses the %s scheme, which is refused", scheme)
	default:
		if u.Host == "" && u.Path == "" && u.Opaque == "" {
			return "must have a path after its private-use scheme (RFC 8252 §7.1)"
		}
	}
	return ""
}

// checkWebURI returns why raw cannot be one of the informational URIs
// (client_uri, logo_uri, tos_uri, policy_uri, jwks_uri), or "" when it can:
// an absolute http(s) URL naming a host, without user information.
func checkWebURI(raw string) string {
	u, reason := parseURI(raw)
	if reason != "" {
		return reason
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "must be an http or https URL"
	}
	if u.Host == "" {
		return "must name a host"
	}
	return ""
}

// parseURI applies the rules every registered URI shares.
func parseURI(raw string) (*url.URL, string) {
	if raw == "" {
		return nil, "must not be empty"
	}
	if len(raw) > maxURILength {
		return nil, fmt.Sprintf("must be at most %d characters", maxURILength)
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] <= ' ' || raw[i] >= 0x7f {
			return nil, "must contain only printable ASCII characters (percent-encode the others, RFC 3986 §2.1)"
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "is not a valid URI"
	}
	if u.Scheme == "" {
		return nil, "must be an absolute URI"
	}
	if u.User != nil {
		return nil, "must not contain user information"
	}
	return u, ""
}

func isLoopback(host string) bool {
	for _, h := range loopbackHosts {
		if strings.EqualFold(host, h) {
			return true
		}
	}
	return false
}

// quote shows an untrusted value in an error description, shortened.
func quote(s string) string {
	const max = 80
	if len(s) > max {
		s = s[:max] + "..."
	}
	return fmt.Sprintf("%q", s)
}
