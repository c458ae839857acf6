package client

import (
	"strings"
	"testing"
)

// TestRedirectURIPatterns: registration.redirect_uri_patterns are matched
// structurally (core/urlpattern). The whole-string glob they replace let
// https://*.example.com/callback admit hosts other than example.com's
// (issue 12, "Redirect URI patterns").
func TestRedirectURIPatterns(t *testing.T) {
	t.Parallel()
	p := newPolicy([]string{"https://*.example.com/callback", "http://localhost:*/callback", "com.example.app:/cb"})
	tests := []struct {
		uri    string
		reason string // "" when allowed
	}{
		{"https://app.example.com/callback", ""},
		{"https://app.example.com/callback?tenant=a", ""},
		{"http://localhost:4187/callback", ""},
		{"com.example.app:/cb", ""},
		{"https://evil.test/.example.com/callback", "not allowed by this server's redirect URI patterns"},
		{"https://evil.test?.example.com/callback", "not allowed by this server's redirect URI patterns"},
		{"https://evil.test/x?.example.com/callback", "not allowed by this server's redirect URI patterns"},
		{"https://example.com/callback", "not allowed by this server's redirect URI patterns"},
		{"https://a.b.example.com/callback", "not allowed by this server's redirect URI patterns"},
		{"https://app.example.com/callback/../admin", "dot segment"},
		{"https://app.example.com/x%2f..%2fcallback", "encoded slash"},
		{"https://localhost.evil.test:4187/callback", "not allowed by this server's redirect URI patterns"},
		{"com.example.app:cb", "opaque"},
	}
	for _, tt := range tests {
		_, err := parseRegistration([]byte(`{"redirect_uris":["`+tt.uri+`"]}`), p)
		switch {
		case tt.reason == "" && err != nil:
			t.Errorf("%s refused: %v", tt.uri, err.Description)
		case tt.reason != "" && err == nil:
			t.Errorf("%s registered, want refused (%s)", tt.uri, tt.reason)
		case tt.reason != "" && (err.Code != "invalid_redirect_uri" || !strings.Contains(err.Description, tt.reason)):
			t.Errorf("%s: %s %q, want invalid_redirect_uri about %q", tt.uri, err.Code, err.Description, tt.reason)
		}
	}

	// A pattern configuration validation would refuse narrows the policy;
	// it never leaves registration unrestricted.
	bad := newPolicy([]string{"https://app-*.example.com/cb"})
	if _, err := parseRegistration([]byte(`{"redirect_uris":["https://evil.test/cb"]}`), bad); err == nil {
		t.Error("with only an unreadable pattern, any redirect URI registers")
	}
}
