package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/servertest"
)

// TestBackstageDCRProofOfConcept runs the flow of Backstage's DCR
// proof-of-concept client, request for request as its README describes,
// against `gatehouse serve` on its embedded configuration (only the port
// and the data directory changed): base URL http://localhost:PORT/api/auth,
// discovery, registration as client_secret_basic, the authorization
// redirect read for the session id, GET /guest/refresh, approval with
// {"userEntityRef": ...}, and the code exchanged with the client's id and
// secret in the form body (the README's request), or in the body and the
// Basic header at once (the script's requests call).
func TestBackstageDCRProofOfConcept(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	_, port, err := net.SplitHostPort(servertest.FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	addr := "localhost:" + port
	p := servertest.StartProcess(t, addr, t.TempDir())
	base := "http://" + addr + "/api/auth" // the client's default, on the test's port
	if p.Base != base {
		t.Fatalf("the embedded configuration serves %s, the client expects %s", p.Base, base)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	for _, tc := range []struct {
		name  string
		basic bool // Basic header as well as the body
	}{{"credentials in the body", false}, {"credentials in the body and the header", true}} {
		t.Run(tc.name, func(t *testing.T) {
			// Discovery.
			var disc struct {
				Issuer                string `json:"issuer"`
				AuthorizationEndpoint string `json:"authorization_endpoint"`
				TokenEndpoint         string `json:"token_endpoint"`
				RegistrationEndpoint  string `json:"registration_endpoint"`
				JWKSURI               string `json:"jwks_uri"`
			}
			pocDo(t, http.DefaultClient, http.MethodGet, base+"/.well-known/openid-configuration", nil, "", http.StatusOK, &disc)
			if disc.AuthorizationEndpoint == "" || disc.TokenEndpoint == "" || disc.RegistrationEndpoint == "" {
				t.Fatalf("discovery misses an endpoint: %+v", disc)
			}

			// Registration: the client's metadata, as JSON.
			metadata := map[string]any{
				"client_name":                "lightspeed-stack (local dev)",
				"redirect_uris":              []string{"http://localhost:8080/auth/callback", "http://localhost:8080/auth/backstage/callback"},
				"grant_types":                []string{"authorization_code"},
				"response_types":             []string{"code"},
				"token_endpoint_auth_method": "client_secret_basic",
				"scope":                      "openid profile email",
				"software_id":                "lightspeed-stack-local",
				"software_version":           "0.1.0",
			}
			body, _ := json.Marshal(metadata)
			var reg struct {
				ClientID     string `json:"client_id"`
				ClientSecret string `json:"client_secret"`
			}
			pocDo(t, http.DefaultClient, http.MethodPost, disc.RegistrationEndpoint, bytes.NewReader(body), "application/json", http.StatusCreated, &reg)
			if reg.ClientID == "" || reg.ClientSecret == "" {
				t.Fatalf("registration returned no credentials: %+v", reg)
			}

			// Authorization request, redirects not followed: the session id
			// is the last segment of the Location path.
			verifier := pocRandom(t, 64)
			sum := sha256.Sum256([]byte(verifier))
			state := pocRandom(t, 16)
			redirectURI := "http://localhost:8080/auth/callback"
			q := url.Values{
				"response_type": {"code"}, "client_id": {reg.ClientID}, "redirect_uri": {redirectURI},
				"scope": {"openid profile email"}, "state": {state},
				"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
			}
			resp, err := noRedirect.Get(disc.AuthorizationEndpoint + "?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("authorize: status %d, want 302 or 303", resp.StatusCode)
			}
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil || loc.Path == "" {
				t.Fatalf("authorize: Location %q", resp.Header.Get("Location"))
			}
			segments := strings.FieldsFunc(loc.Path, func(r rune) bool { return r == '/' })
			sessionID := segments[len(segments)-1]

			// A guest identity token, then the approval.
			req, _ := http.NewRequest(http.MethodGet, base+"/guest/refresh", nil)
			req.Header.Set("Content", "application/json")
			var guest struct {
				BackstageIdentity struct {
					Token string `json:"token"`
				} `json:"backstageIdentity"`
			}
			pocSend(t, http.DefaultClient, req, http.StatusOK, &guest)
			if guest.BackstageIdentity.Token == "" {
				t.Fatal("guest refresh returned no token")
			}
			body, _ = json.Marshal(map[string]string{"userEntityRef": "user:default/guest"})
			req, _ = http.NewRequest(http.MethodPost, base+"/v1/sessions/"+sessionID+"/approve", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+guest.BackstageIdentity.Token)
			var approved struct {
				RedirectURL string `json:"redirectUrl"`
			}
			pocSend(t, http.DefaultClient, req, http.StatusOK, &approved)
			back, err := url.Parse(approved.RedirectURL)
			if err != nil {
				t.Fatal(err)
			}
			code := back.Query().Get("code")
			if code == "" || back.Query().Get("state") != state {
				t.Fatalf("approval redirect %q lacks the code or the state", approved.RedirectURL)
			}

			// The code exchange, credentials in the body.
			form := url.Values{
				"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
				"code_verifier": {verifier}, "client_id": {reg.ClientID}, "client_secret": {reg.ClientSecret},
			}
			req, _ = http.NewRequest(http.MethodPost, disc.TokenEndpoint, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.basic {
				req.SetBasicAuth(reg.ClientID, reg.ClientSecret)
			}
			var tok struct {
				AccessToken string `json:"access_token"`
				IDToken     string `json:"id_token"`
				TokenType   string `json:"token_type"`
			}
			pocSend(t, http.DefaultClient, req, http.StatusOK, &tok)
			if tok.AccessToken == "" || tok.IDToken == "" || !strings.EqualFold(tok.TokenType, "bearer") {
				t.Fatalf("token response %+v", tok)
			}
		})
	}
}

func pocDo(t *testing.T, c *http.Client, method, u string, body io.Reader, contentType string, want int, out any) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	pocSend(t, c, req, want, out)
}

func pocSend(t *testing.T, c *http.Client, req *http.Request, want int, out any) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", req.Method, req.URL, resp.StatusCode, want, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("%s %s: %v: %s", req.Method, req.URL, err, raw)
	}
}

// pocRandom is a URL-safe random string of n bytes' entropy.
func pocRandom(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(fmt.Errorf("random: %w", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
