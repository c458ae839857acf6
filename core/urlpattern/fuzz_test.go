package urlpattern

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzMatch feeds arbitrary patterns and URLs to the matcher. Neither may
// panic, and whenever a URL matches, net/url (what the HTTP client and
// the redirect use) must read it as the pattern says: the same scheme, a
// host with the pattern's labels, no user information, and a path
// without dot segments or encoded slashes.
func FuzzMatch(f *testing.F) {
	seeds := [][2]string{
		{"https://*.example.com/callback", "https://evil.test/.example.com/callback"},
		{"https://*.example.com/callback", "https://evil.test?.example.com/callback"},
		{"http://*.example.com/*", "http://127.0.0.1:7113?.example.com/x"},
		{"http://*.example.com/*", "http://127.0.0.1:7113#.example.com/"},
		{"https://api.example.com/users/*", "https://api.example.com/users/.."},
		{"https://api.example.com/api/**", "https://api.example.com/api/a%2f..%2fb"},
		{"http://localhost:*/callback", "http://localhost:4187/callback"},
		{"http://[::1]:*/cb", "http://[::1]:80/cb"},
		{"com.example.app:/cb", "com.example.app:/cb"},
		{"https://a.example.com/%2A", "https://a.example.com/%2a"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, raw string) {
		p, err := Parse(pattern)
		if err != nil {
			return
		}
		if !p.Match(raw) {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("%q matched %q, which net/url cannot parse: %v", pattern, raw, err)
		}
		if u.User != nil || strings.Contains(raw, "\\") {
			t.Fatalf("%q matched %q, with user information or a backslash", pattern, raw)
		}
		if u.Scheme != p.scheme {
			t.Fatalf("%q matched %q: scheme %q", pattern, raw, u.Scheme)
		}
		host := strings.ToLower(u.Hostname())
		var labels []string
		if host != "" {
			labels = strings.Split(host, ".")
		}
		if !strings.Contains(host, ":") { // IPv6 literals compare canonically
			if len(labels) != len(p.host) {
				t.Fatalf("%q matched %q: host %q", pattern, raw, host)
			}
			for i, l := range p.host {
				if l != one && l != labels[i] {
					t.Fatalf("%q matched %q: host %q", pattern, raw, host)
				}
			}
		}
		for _, seg := range strings.Split(u.EscapedPath(), "/") {
			dec, _ := url.PathUnescape(seg)
			if dec == "." || dec == ".." || strings.ContainsAny(dec, "/\\") {
				t.Fatalf("%q matched %q: path segment %q", pattern, raw, seg)
			}
		}
	})
}
