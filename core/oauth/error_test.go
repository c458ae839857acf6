package oauth_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// TestStorageUnavailableIs503: a store that cannot serve now (a full disk)
// is answered 503 temporarily_unavailable with Retry-After, whether the
// endpoint returned the store's error or wrapped it in server_error; any
// other failure stays 500 without Retry-After.
func TestStorageUnavailableIs503(t *testing.T) {
	full := fmt.Errorf("badger: %w", store.ErrFull)
	tests := []struct {
		name       string
		err        error
		status     int
		code       string
		retryAfter string
	}{
		{"bare", full, 503, "temporarily_unavailable", "30"},
		{"wrapped in server_error", oauth.ErrServerError().WithParent(fmt.Errorf("client: store: %w", full)), 503, "temporarily_unavailable", "30"},
		{"unavailable", store.ErrUnavailable, 503, "temporarily_unavailable", "30"},
		{"other failure", oauth.ErrServerError().WithParent(errors.New("boom")), 500, "server_error", ""},
		{"client error keeps its status", oauth.ErrInvalidGrant().WithParent(full), 400, "invalid_grant", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app := fiber.New()
			app.Get("/", func(c *fiber.Ctx) error { return oauth.WriteError(c, tc.err) })
			resp, err := app.Test(httptest.NewRequest("GET", "/", nil))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			var body map[string]any
			_ = json.Unmarshal(raw, &body)
			if resp.StatusCode != tc.status || body["error"] != tc.code || resp.Header.Get("Retry-After") != tc.retryAfter {
				t.Errorf("answered %d %s Retry-After %q, want %d %s %q", resp.StatusCode, raw, resp.Header.Get("Retry-After"), tc.status, tc.code, tc.retryAfter)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", resp.Header.Get("Cache-Control"))
			}
		})
	}
}
