package oauth_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
)

// TestParseBodyContentEncoding: a body with any content coding but
// identity is refused with 415 before it is read; an identity one is read
// as sent. Every Content-Encoding header counts, not only the first.
func TestParseBodyContentEncoding(t *testing.T) {
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, _ = zw.Write([]byte("grant_type=client_credentials"))
	_ = zw.Close()
	tests := []struct {
		name      string
		encodings []string
		body      []byte
		refused   bool
	}{
		{"none", nil, []byte("grant_type=client_credentials"), false},
		{"identity", []string{"identity"}, []byte("grant_type=client_credentials"), false},
		{"identity upper case", []string{"IDENTITY"}, []byte("grant_type=client_credentials"), false},
		{"empty", []string{""}, []byte("grant_type=client_credentials"), false},
		{"gzip", []string{"gzip"}, zipped.Bytes(), true},
		{"gzip upper case", []string{"GZIP"}, zipped.Bytes(), true},
		{"gzip twice", []string{"gzip, gzip"}, zipped.Bytes(), true},
		{"identity then gzip", []string{"identity, gzip"}, zipped.Bytes(), true},
		{"deflate", []string{"deflate"}, zipped.Bytes(), true},
		{"br", []string{"br"}, zipped.Bytes(), true},
		{"zstd", []string{"zstd"}, zipped.Bytes(), true},
		{"unknown coding", []string{"x-custom"}, zipped.Bytes(), true},
		{"second header", []string{"identity", "gzip"}, zipped.Bytes(), true},
	}
	app := fiber.New(fiber.Config{ErrorHandler: func(c *fiber.Ctx, err error) error { return oauth.WriteError(c, err) }})
	app.Post("/", func(c *fiber.Ctx) error {
		p, err := oauth.ParseBody(c)
		if err != nil {
			return err
		}
		return c.SendString(p.Get("grant_type"))
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for _, e := range tt.encodings {
				req.Header.Add("Content-Encoding", e)
			}
			resp, err := app.Test(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if !tt.refused {
				if resp.StatusCode != http.StatusOK || string(raw) != "client_credentials" {
					t.Fatalf("got %d %q, want 200 client_credentials", resp.StatusCode, raw)
				}
				return
			}
			var e oauth.Error
			if err := json.Unmarshal(raw, &e); err != nil || resp.StatusCode != http.StatusUnsupportedMediaType || e.Code != "invalid_request" {
				t.Fatalf("got %d %s, want 415 invalid_request", resp.StatusCode, raw)
			}
			if got := resp.Header.Get("Accept-Encoding"); got != "identity" {
				t.Errorf("Accept-Encoding %q, want identity", got)
			}
		})
	}
}
