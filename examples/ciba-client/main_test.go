package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// recorder remembers the auth_req_id the server answered, so that the test
// can approve the request as the user's device would.
type recorder struct {
	mu        sync.Mutex
	authReqID string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/v1/backchannel/authorize") {
		return resp, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var v struct {
		AuthReqID string `json:"auth_req_id"`
	}
	_ = json.Unmarshal(body, &v)
	r.mu.Lock()
	r.authReqID = v.AuthReqID
	r.mu.Unlock()
	return resp, nil
}

// TestClientAgainstGatehouse runs the example against a real server: the
// request is pending, then the client polls too fast and slows down, then
// the guest approves by API and the client gets the tokens.
func TestClientAgainstGatehouse(t *testing.T) {
	issuer := servertest.Start(t, func(cfg *config.Config) {
		cfg.CIBA.Interval = time.Second
		// The first-party plugins the binary embeds.
		cfg.Plugins.Dir, cfg.Plugins.Watch = "", false
	}).Issuer

	cl := testclient.Must(testclient.Register(issuer, map[string]any{
		"client_name": "CIBA example", "grant_types": []string{grantType},
		"backchannel_token_delivery_mode": "poll", "scope": "openid profile",
	}))(t)
	guest := testclient.Must(testclient.GuestToken(issuer))(t)
	rec := &recorder{}
	var log bytes.Buffer
	sleeps := 0
	c := &Client{
		Issuer: issuer, ID: cl.ID, Secret: cl.Secret, HTTP: &http.Client{Transport: rec, Timeout: 10 * time.Second}, Log: &log,
		Sleep: func(ctx context.Context, d time.Duration) error {
			sleeps++
			if sleeps == 3 {
				// The user approves on their device.
				rec.mu.Lock()
				id := rec.authReqID
				rec.mu.Unlock()
				req, _ := http.NewRequest(http.MethodPost, issuer+"/v1/backchannel/complete",
					strings.NewReader(url.Values{"auth_req_id": {id}, "action": {"approve"}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Authorization", "Bearer "+guest)
				if status, body, err := testclient.Do(req); err != nil || status != 200 {
					t.Errorf("approve: %d %v %v", status, body, err)
				}
			}
			return nil // poll at once: the server answers slow_down
		},
	}
	tokens, err := c.Authenticate(context.Background(), Request{Scope: "openid profile", LoginHint: "guest", BindingMessage: "W4SCT"})
	if err != nil {
		t.Fatalf("authenticate: %v\n%s", err, log.String())
	}
	if tokens.AccessToken == "" || tokens.IDToken == "" || tokens.TokenType != "Bearer" {
		t.Fatalf("tokens %+v", tokens)
	}
	for _, want := range []string{"waiting for the user", "slowing down to one poll every 10s", "approved"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}

// TestRunFlags: missing flags are an error, not a request.
func TestRunFlags(t *testing.T) {
	if err := run(context.Background(), []string{"--client-id", "x"}, io.Discard); err == nil {
		t.Fatal("accepted missing flags")
	}
}
