package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// TestIntrospectionOnlyByOwnerOrResourceServer: a client learns about its
// own tokens only; another confidential client is told {"active": false}
// about them, as if they did not exist (RFC 7662 §2.2, §4); a client the
// operator registered as a resource server sees every client's access
// tokens but no other client's refresh tokens.
func TestIntrospectionOnlyByOwnerOrResourceServer(t *testing.T) {
	s := startServer(t, "")
	ctx := context.Background()
	const redirectURI = "http://127.0.0.1:9/cb"
	a := s.register(t, map[string]any{
		"client_name": "A", "redirect_uris": []string{redirectURI},
		"grant_types": []string{"authorization_code", "refresh_token", "client_credentials"},
		"scope":       "openid offline_access catalog.read",
	})
	b := s.register(t, map[string]any{"client_name": "B", "grant_types": []string{"client_credentials"}})
	rs := testclient.Must(testclient.RegisterWith(s.issuer, flowAdminToken, map[string]any{
		"client_name": "RS", "grant_types": []string{"client_credentials"}, "resource_server": true}))(t)

	machine, err := (&clientcredentials.Config{ClientID: a.ID, ClientSecret: a.Secret,
		TokenURL: s.issuer + "/v1/token", Scopes: []string{"catalog.read"}}).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{ClientID: a.ID, ClientSecret: a.Secret, RedirectURL: redirectURI,
		Endpoint: oauth2.Endpoint{AuthURL: s.issuer + "/v1/authorize", TokenURL: s.issuer + "/v1/token"},
		Scopes:   []string{"openid", "offline_access"}}
	verifier := oauth2.GenerateVerifier()
	redirect := s.approve(t, conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
	user, err := conf.Exchange(ctx, redirect.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if user.RefreshToken == "" {
		t.Fatal("no refresh token")
	}

	ask := func(caller testclient.Client, token string) map[string]any {
		t.Helper()
		status, body, err := testclient.PostForm(s.issuer+"/v1/introspect", caller.ID, caller.Secret, url.Values{"token": {token}})
		if err != nil || status != http.StatusOK {
			t.Fatalf("introspect: %d %v %v", status, body, err)
		}
		return body
	}
	for _, tc := range []struct {
		name   string
		caller testclient.Client
		token  string
		active bool
	}{
		{"A, its client_credentials token", a, machine.AccessToken, true},
		{"A, its user's access token", a, user.AccessToken, true},
		{"A, its refresh token", a, user.RefreshToken, true},
		{"B, A's client_credentials token", b, machine.AccessToken, false},
		{"B, A's user's access token", b, user.AccessToken, false},
		{"B, A's refresh token", b, user.RefreshToken, false},
		{"resource server, A's client_credentials token", rs, machine.AccessToken, true},
		{"resource server, A's user's access token", rs, user.AccessToken, true},
		{"resource server, A's refresh token", rs, user.RefreshToken, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := ask(tc.caller, tc.token)
			if active, _ := body["active"].(bool); active != tc.active {
				t.Fatalf("active = %v, want %v: %v", body["active"], tc.active, body)
			}
			if tc.active && body["client_id"] != a.ID {
				t.Errorf("client_id %v, want %s", body["client_id"], a.ID)
			}
			// §2.2: an inactive answer says nothing else.
			if !tc.active && len(body) != 1 {
				t.Errorf("inactive answer with more than active: %v", body)
			}
		})
	}
}

// TestResourceServerFlagIsTheOperators: no client makes itself a resource
// server: open registration refuses resource_server (with no bearer, or a
// bearer that is not the operator's), an RFC 7592 update cannot add it
// (but can drop it), and the initial access token or the admin token can
// set it.
func TestResourceServerFlagIsTheOperators(t *testing.T) {
	s := startServer(t, "")
	rsMeta := map[string]any{"client_name": "RS", "grant_types": []string{"client_credentials"}, "resource_server": true}
	register := func(bearer string, meta map[string]any) (int, map[string]any) {
		t.Helper()
		status, body, err := testclient.PostJSON(s.issuer+"/v1/register", bearer, meta)
		if err != nil {
			t.Fatal(err)
		}
		return status, body
	}
	for _, bearer := range []string{"", "not-the-admin-token"} {
		if status, body := register(bearer, rsMeta); status != http.StatusBadRequest || body["error"] != "invalid_client_metadata" {
			t.Errorf("open registration (bearer %q) with resource_server: %d %v, want 400 invalid_client_metadata", bearer, status, body)
		}
	}
	if status, body := register(flowAdminToken, map[string]any{"client_name": "RS", "token_endpoint_auth_method": "none",
		"redirect_uris": []string{"http://127.0.0.1:9/cb"}, "resource_server": true}); status != http.StatusBadRequest || body["error"] != "invalid_client_metadata" {
		t.Errorf("public resource server: %d %v, want 400 invalid_client_metadata", status, body)
	}

	// An ordinary client's update cannot promote it.
	plain := s.register(t, map[string]any{"client_name": "plain", "grant_types": []string{"client_credentials"}})
	put := func(c testclient.Client, meta map[string]any) (int, map[string]any) {
		t.Helper()
		raw := map[string]any{"client_id": c.ID}
		for k, v := range meta {
			raw[k] = v
		}
		req := testclient.Must(http.NewRequest(http.MethodPut, c.RegistrationURI, jsonBody(t, raw)))(t)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+c.RegistrationToken)
		status, body, err := testclient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return status, body
	}
	if status, body := put(plain, rsMeta); status != http.StatusBadRequest || body["error"] != "invalid_client_metadata" {
		t.Errorf("update adding resource_server: %d %v, want 400 invalid_client_metadata", status, body)
	}

	// The admin token sets it; the client keeps it through an update that
	// repeats it, and may give it up.
	status, body := register(flowAdminToken, rsMeta)
	if status != http.StatusCreated || body["resource_server"] != true {
		t.Fatalf("registration with the admin token: %d %v", status, body)
	}
	rs := testclient.Client{ID: body["client_id"].(string), RegistrationToken: body["registration_access_token"].(string),
		RegistrationURI: body["registration_client_uri"].(string)}
	if status, body := put(rs, rsMeta); status != http.StatusOK || body["resource_server"] != true {
		t.Errorf("update keeping resource_server: %d %v", status, body)
	}
	if status, body := put(rs, map[string]any{"client_name": "RS", "grant_types": []string{"client_credentials"}}); status != http.StatusOK || body["resource_server"] != nil {
		t.Errorf("update dropping resource_server: %d %v", status, body)
	}
	if status, body := put(rs, rsMeta); status != http.StatusBadRequest || body["error"] != "invalid_client_metadata" {
		t.Errorf("update taking resource_server back: %d %v, want 400 invalid_client_metadata", status, body)
	}

	// With registration behind an initial access token, the token sets it.
	l := servertest.Start(t, func(cfg *config.Config) {
		cfg.Registration.Open = false
		cfg.Registration.InitialAccessToken = "initial-token"
	})
	status, body, err := testclient.PostJSON(l.Issuer+"/v1/register", "initial-token", rsMeta)
	if err != nil || status != http.StatusCreated || body["resource_server"] != true {
		t.Errorf("registration with the initial access token: %d %v %v", status, body, err)
	}
}

func jsonBody(t *testing.T, v any) io.Reader {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(raw)
}
