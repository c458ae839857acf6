package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/servertest"
)

// TestOversizedBodyGets413: a client still sending a body over the limit
// when the server refuses it reads the 413 answer, not a connection reset
// (the server drains what it did not read before closing).
func TestOversizedBodyGets413(t *testing.T) {
	live := servertest.Start(t, nil)
	body := "grant_type=client_credentials&pad=" + strings.Repeat("a", 4*live.Cfg.Server.BodyLimit)
	for i := range 20 {
		resp, err := http.Post(live.Issuer+"/v1/token", "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			t.Fatalf("request %d: %v, want a 413 answer", i, err)
		}
		var e struct {
			Error string `json:"error"`
		}
		err = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || err != nil || e.Error != "invalid_request" {
			t.Fatalf("request %d: %d %+v (%v), want 413 invalid_request", i, resp.StatusCode, e, err)
		}
	}
}
