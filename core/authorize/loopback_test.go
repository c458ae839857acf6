package authorize

import "testing"

// TestLoopbackMatch: a loopback redirect URI matches on any port (RFC 8252
// §7.3) and on nothing else: scheme, host, path and query stay exact.
func TestLoopbackMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		registered, given string
		want              bool
	}{
		{"http://127.0.0.1:4181/cb", "http://127.0.0.1:4187/cb", true},
		{"http://127.0.0.1:4181/cb", "http://127.0.0.1/cb", true},
		{"http://127.0.0.1/cb", "http://127.0.0.1:65535/cb", true},
		{"http://[::1]:4181/cb", "http://[::1]:4187/cb", true},
		{"http://[::1]/cb", "http://[::1]:1/cb", true},
		{"http://localhost:4181/cb", "http://localhost:50123/cb", true},
		{"http://127.0.0.1:4181/cb?app=a", "http://127.0.0.1:4187/cb?app=a", true},
		{"http://127.0.0.1:4181", "http://127.0.0.1:4187", true},

		{"http://127.0.0.1:4181/cb", "http://127.0.0.1:4187/cb/", false},
		{"http://127.0.0.1:4181/cb", "http://127.0.0.1:4187/CB", false},
		{"http://127.0.0.1:4181/cb", "http://127.0.0.1:4187/cb?x=1", false},
		{"http://127.0.0.1:4181/cb?app=a", "http://127.0.0.1:4187/cb", false},
		{"http://127.0.0.1:4181/cb", "http://127.0.0.1:4187/cb#f", false},
		{"http://127.0.0.1:4181/cb", "http://127.0.0.2:4187/cb", false},
		{"http://127.0.0.1:4181/cb", "http://localhost:4187/cb", false},
		{"http://127.0.0.1:4181/cb", "http://[::1]:4187/cb", false},
		{"http://127.0.0.1:4181/cb", "https://127.0.0.1:4187/cb", false},
		{"http://127.0.0.1:4181/cb", "HTTP://127.0.0.1:4187/cb", false},
		{"http://127.0.0.1:4181/cb", "http://x@127.0.0.1:4187/cb", false},
		{"http://127.0.0.1:4181/cb", "http://127.0.0.1:4187@evil.test/cb", false},
		{"http://127.0.0.1:4181/cb", "http://127.0.0.1:/cb", false},
		{"http://127.0.0.1:4181/cb", "http://127.0.0.1:0/cb", false},
		{"http://127.0.0.1:4181/cb", "http://127.0.0.1:65536/cb", false},
		{"http://127.0.0.1:4181/cb", "http://127.0.0.1:04187/cb", false},
		{"http://127.0.0.1:4181/cb", "http://127.0.0.1:+4187/cb", false},
		{"http://127.0.0.1:4181/cb", "http://127.0.0.1:4187\\@evil.test/cb", false},
		{"http://127.0.0.1.evil.test:4181/cb", "http://127.0.0.1.evil.test:4187/cb", false},
		{"https://app.example.com:4181/cb", "https://app.example.com:4187/cb", false},
		{"http://localhost.example.com:4181/cb", "http://localhost.example.com:4187/cb", false},
		{"com.example.app:/cb", "com.example.app:/cb", false}, // exact matching covers it
	}
	for _, tt := range tests {
		if got := loopbackMatch(tt.registered, tt.given); got != tt.want {
			t.Errorf("loopbackMatch(%q, %q) = %v, want %v", tt.registered, tt.given, got, tt.want)
		}
	}
}
