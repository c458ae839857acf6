package urlpattern_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/urlpattern"
)

// TestMatch is the matcher's table: each pattern against URLs it must
// allow and URLs it must refuse. The refusals include every bypass the
// whole-string globs it replaced let through (issue 9 §4, issue 12).
func TestMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern string
		allow   []string
		refuse  []string
	}{
		{"https://*.example.com/callback",
			[]string{"https://app.example.com/callback", "https://APP.Example.COM/callback", "https://app.example.com:443/callback",
				"https://app.example.com/callback?x=1", "https://app.example.com/callback#f"},
			[]string{
				"https://evil.test/.example.com/callback", // the host is evil.test
				"https://evil.test?.example.com/callback", // so it is here
				"https://evil.test#.example.com/callback",
				"https://evil.test\\.example.com/callback", // a browser reads host evil.test
				"https://user@app.example.com/callback",
				"https://evil.test@app.example.com/callback",
				"https://example.com/callback",          // * is exactly one label
				"https://a.b.example.com/callback",      // not two
				"https://app.example.com.evil/callback", // nor a suffix
				"https://app.example.com./callback",     // trailing dot: an empty label
				"https://app%2eevil.example.com/callback",
				"http://app.example.com/callback",       // scheme exact
				"https://app.example.com:8443/callback", // port exact
				"https://app.example.com/callback/",
				"https://app.example.com/callback/x",
				"https://app.example.com/x/../callback",
				"https://app.example.com/Callback",
				"//app.example.com/callback",
				"https://app.example.com/callback\x00",
			}},
		{"http://*.example.com/*",
			[]string{"http://api.example.com/x", "http://api.example.com:80/x", "http://api.example.com/x?y=/../z"},
			[]string{
				"http://127.0.0.1:7113?.example.com/x",
				"http://127.0.0.1:7113#.example.com/",
				"http://127.0.0.1:7113/.example.com/x",
				"http://api.example.com/",    // * is one non-empty segment
				"http://api.example.com",     // the empty path is "/"
				"http://api.example.com/x/y", // and one only
				"http://api.example.com/..",  // never a dot segment
				"http://api.example.com/%2e%2E",
				"http://api.example.com/.",
				"http://api.example.com/a%2fb", // nor an encoded slash
				"http://api.example.com/a%5Cb",
				"http://api.example.com/a\\b",
				"http://api.example.com:8080/x",
			}},
		{"https://api.example.com/users/*",
			[]string{"https://api.example.com/users/alice", "https://api.example.com/users/al%20ice", "https://api.example.com/users/%41"},
			[]string{"https://api.example.com/users/..", "https://api.example.com/users/../admin", "https://api.example.com/users/%2e%2e",
				"https://api.example.com/users/a/b", "https://api.example.com/users", "https://api.example.com/users/",
				"https://api.example.com/users//", "https://api.example.com/admin/x"}},
		{"https://api.example.com/api/**",
			[]string{"https://api.example.com/api", "https://api.example.com/api/", "https://api.example.com/api/a/b/c", "https://api.example.com/api//x"},
			[]string{"https://api.example.com/apix", "https://api.example.com/", "https://api.example.com/api/../admin", "https://api.example.com/api/a%2F..%2F..%2Fadmin"}},
		{"https://api.example.com/**",
			[]string{"https://api.example.com", "https://api.example.com/", "https://api.example.com/a/b"},
			[]string{"https://api.example.com./", "https://x.api.example.com/"}},
		{"https://api.example.com", // no path: the root only
			[]string{"https://api.example.com", "https://api.example.com/"},
			[]string{"https://api.example.com/x"}},
		{"https://api.example.com/users/%41", // literals compare decoded
			[]string{"https://api.example.com/users/A", "https://api.example.com/users/%41"},
			[]string{"https://api.example.com/users/a"}},
		{"https://api.example.com/%2A", // an encoded star is a literal star
			[]string{"https://api.example.com/*", "https://api.example.com/%2a"},
			[]string{"https://api.example.com/x"}},
		{"http://localhost:*/callback",
			[]string{"http://localhost/callback", "http://localhost:4187/callback", "http://LOCALHOST:1/callback"},
			[]string{"http://localhost.evil.test:4187/callback", "http://evil.test/localhost:4187/callback", "https://localhost:4187/callback"}},
		{"http://127.0.0.1:8080/cb",
			[]string{"http://127.0.0.1:8080/cb", "http://127.0.0.1:08080/cb"},
			[]string{"http://127.0.0.1/cb", "http://127.0.0.2:8080/cb", "http://2130706433:8080/cb", "http://127.0.0.1:8081/cb"}},
		{"http://[::1]:*/cb",
			[]string{"http://[::1]:5000/cb", "http://[0:0::1]/cb"},
			[]string{"http://[::2]:5000/cb", "http://[::1%25eth0]:5000/cb", "http://127.0.0.1:5000/cb"}},
		{"https://example.com:443/x", // the default port is the same port
			[]string{"https://example.com/x"},
			[]string{"https://example.com:444/x"}},
		{"https://*/x",
			[]string{"https://intranet/x"},
			[]string{"https://a.b/x"}},
		{"com.example.app:/oauth2redirect",
			[]string{"com.example.app:/oauth2redirect", "COM.EXAMPLE.APP:/oauth2redirect"},
			[]string{"com.example.app:oauth2redirect", "com.example.app://oauth2redirect", "com.example.app:/oauth2redirect/x"}},
		{"cursor://*/callback",
			[]string{"cursor://anysphere/callback"},
			[]string{"cursor:/callback", "cursor://a.b/callback"}},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			p, err := urlpattern.Parse(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range tt.allow {
				if !p.Match(u) {
					t.Errorf("refused %q", u)
				}
			}
			for _, u := range tt.refuse {
				if p.Match(u) {
					t.Errorf("allowed %q", u)
				}
			}
		})
	}
}

// TestParseRefuses: malformed patterns are refused with a reason, never
// read as something the operator did not mean.
func TestParseRefuses(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"":                               "empty",
		"*":                              "absolute URL",
		"example.com/*":                  "absolute URL",
		"/callback":                      "absolute URL",
		"https://api-*.example.com/":     "whole label",
		"https://**.example.com/":        "exactly one label",
		"https://api.example.com/cb-*":   "whole segment",
		"https://api.example.com/**/x":   "last path segment",
		"https://api.example.com/*?x=1":  "query or fragment",
		"https://api.example.com/#x":     "query or fragment",
		"https://user@api.example.com/":  "user information",
		"https://api.example.com:80x/":   "port",
		"https://api.example.com:0/":     "port",
		"https://api.example.com:65536/": "port",
		"https://api.example.com:1:2/":   "more than one port",
		"https://[::1/":                  "closing ]",
		"https://[example]/":             "IPv6",
		"https://[::1]x/":                "port",
		"https:///cb":                    "name a host",
		"https://api..example.com/":      "DNS label",
		"https://api.example.com./":      "DNS label",
		"https://ap%69.example.com/":     "DNS label",
		"https://api.example.com/a/../b": "dot segment",
		"https://api.example.com/%2e":    "dot segment",
		"https://api.example.com/a%2Fb":  "encoded slash",
		"https://api.example.com/a%zz":   "percent-encoding",
		"https://api.example.com/a\\b":   "backslash",
		"https://api.example.com/a b":    "space",
		"com.example.app:cb":             "scheme:/path",
		"1https://api.example.com/":      "absolute URL",
		"https://api.example.com/\u00e9": "non-ASCII",
	}
	for pattern, want := range tests {
		_, err := urlpattern.Parse(pattern)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error about %q", pattern, err, want)
		}
	}
}

// TestParseList reports every bad pattern with its index, at once.
func TestParseList(t *testing.T) {
	t.Parallel()
	l, err := urlpattern.ParseList([]string{"https://a.example.com/*", "https://b-*.example.com/", "https://c.example.com/**", ""})
	if err == nil || !strings.Contains(err.Error(), `[1] "https://b-*.example.com/"`) || !strings.Contains(err.Error(), "[3]") {
		t.Fatalf("err = %v", err)
	}
	if len(l) != 2 || !l.Match("https://c.example.com/x/y") || l.Match("https://b-1.example.com/") {
		t.Errorf("list %v", l)
	}
	var none urlpattern.List
	if none.Match("https://a.example.com/") {
		t.Error("an empty list allowed a URL")
	}
	var zero urlpattern.Pattern
	if zero.Match("https://a.example.com/") {
		t.Error("the zero pattern allowed a URL")
	}
}

// TestParseURLRefuses: candidates that could be read two ways are refused
// before any pattern sees them, with the reason.
func TestParseURLRefuses(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"https://u:p@example.com/":     "user information",
		"https://example.com/a/../b":   "dot segment",
		"https://example.com/%2E%2e/b": "dot segment",
		"https://example.com/a%2fb":    "encoded slash",
		"https://example.com/a%5cb":    "encoded slash",
		"https://example.com\\@evil/":  "backslash",
		"https://ex%C3%A4mple.com/":    "percent-encoded host",
		"https://exa%6dple.com/":       "valid URL",
		"https://example..com/":        "DNS label",
		"mailto:someone@example.com":   "opaque",
		"/relative":                    "absolute",
		"https://example.com:99999/":   "port",
		"https://example.com/\t":       "control",
	}
	for raw, want := range tests {
		_, err := urlpattern.ParseURL(raw)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseURL(%q) = %v, want an error about %q", raw, err, want)
		}
	}
}

// BenchmarkMatch: what http_request and registration pay per URL, parsing
// the patterns each time (as the plugin host does) and once.
func BenchmarkMatch(b *testing.B) {
	patterns := []string{"https://api.example.com/users/*", "https://*.example.com/v1/**", "http://127.0.0.1:*/callback"}
	const u = "https://eu.example.com/v1/users/alice/groups?page=2"
	b.Run("parse patterns and match", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			l, _ := urlpattern.ParseList(patterns)
			if !l.Match(u) {
				b.Fatal("no match")
			}
		}
	})
	b.Run("match", func(b *testing.B) {
		l, _ := urlpattern.ParseList(patterns)
		b.ReportAllocs()
		for b.Loop() {
			if !l.Match(u) {
				b.Fatal("no match")
			}
		}
	})
}
