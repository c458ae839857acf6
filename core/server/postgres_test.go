package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-auth/gatehouse/core/store/postgres/pgtest"
)

// TestPostgresUnavailable: with its database gone, the server on the
// postgres backend says so on /readyz and answers requests that need the
// database 503 temporarily_unavailable with Retry-After, never 500.
func TestPostgresUnavailable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL of its own")
	}
	db, err := pgtest.Start() // its own server, to stop it under the test
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Stop() })
	dsn, err := db.NewDatabase(t)
	if err != nil {
		t.Fatal(err)
	}
	s := startServerDSN(t, "", "postgres", dsn)
	client := s.register(t, map[string]any{
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_basic",
	})
	cc := clientcredentials.Config{ClientID: client.ID, ClientSecret: client.Secret, TokenURL: s.issuer + "/v1/token"}
	if _, err := cc.Token(context.Background()); err != nil {
		t.Fatalf("token with the database up: %v", err)
	}
	if status, body := getJSON(t, s.issuer+"/readyz"); status != http.StatusOK {
		t.Fatalf("/readyz with the database up = %d %v", status, body)
	}

	if err := db.Stop(); err != nil {
		t.Fatal(err)
	}
	if status, body := getJSON(t, s.issuer+"/readyz"); status != http.StatusServiceUnavailable || body["status"] != "storage unavailable" {
		t.Fatalf("/readyz with the database down = %d %v, want 503 storage unavailable", status, body)
	}
	req, err := http.NewRequest(http.MethodPost, s.issuer+"/v1/token", strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client.ID, client.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusServiceUnavailable || body.Error != "temporarily_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("token with the database down = %d %q (Retry-After %q), want 503 temporarily_unavailable with Retry-After",
			resp.StatusCode, body.Error, resp.Header.Get("Retry-After"))
	}
}
