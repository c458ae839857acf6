package oauth_test

import (
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
)

func TestClientIP(t *testing.T) {
	tests := []struct {
		name    string
		trusted int
		xff     string
		want    string
	}{
		{"no proxies: the socket, whatever the header says", 0, "203.0.113.9", "0.0.0.0"},
		{"one proxy: the rightmost entry", 1, "198.51.100.7, 203.0.113.9", "203.0.113.9"},
		{"two proxies: the second from the right", 2, "198.51.100.7, 203.0.113.9, 10.0.0.2", "203.0.113.9"},
		{"forged left entries are not read", 1, "1.2.3.4, 5.6.7.8, 203.0.113.9", "203.0.113.9"},
		{"fewer hops than proxies: the leftmost", 3, "203.0.113.9, 10.0.0.2", "203.0.113.9"},
		{"no header: the socket", 1, "", "0.0.0.0"},
		{"not an address: the socket", 1, "unknown", "0.0.0.0"},
		{"IPv6", 1, "2001:db8::1", "2001:db8::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := fiber.New()
			app.Get("/", func(c *fiber.Ctx) error { return c.SendString(oauth.ClientIP(c, tt.trusted)) })
			req := httptest.NewRequest(fiber.MethodGet, "/", nil)
			if tt.xff != "" {
				req.Header.Set(fiber.HeaderXForwardedFor, tt.xff)
			}
			resp, err := app.Test(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			buf := make([]byte, 64)
			n, _ := resp.Body.Read(buf)
			if got := string(buf[:n]); got != tt.want {
				t.Errorf("ClientIP = %q, want %q", got, tt.want)
			}
		})
	}
}
