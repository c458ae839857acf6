// Package testclient drives a running Gatehouse over HTTP the way its real
// clients do, for end-to-end tests: registration, the guest identity, and
// the authorization-code flow approved through the consent-session API.
package testclient

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"
)

// NoRedirect is an HTTP client that returns redirects instead of following them.
var NoRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Do sends req and decodes a JSON answer (nil for an empty body).
func Do(req *http.Request) (int, map[string]any, error) {
	resp, err := NoRedirect.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	var out map[string]any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			return resp.StatusCode, nil, fmt.Errorf("%s %s: %d, body not JSON: %.200s", req.Method, req.URL, resp.StatusCode, data)
		}
	}
	return resp.StatusCode, out, nil
}

// PostJSON posts body as JSON, with a bearer token when not empty.
func PostJSON(url, bearer string, body any) (int, map[string]any, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(raw)))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return Do(req)
}

// PostForm posts form values, with Basic client authentication when id is not empty.
func PostForm(endpoint, id, secret string, form url.Values) (int, map[string]any, error) {
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	return Do(req)
}

// GetJSON fetches url and decodes its JSON answer.
func GetJSON(url string) (int, map[string]any, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	return Do(req)
}

// Client is a registered client as the registration response describes it.
type Client struct {
	ID, Secret, RegistrationToken, RegistrationURI string
}

// Register registers a client (RFC 7591) at issuer.
func Register(issuer string, metadata map[string]any) (Client, error) {
	return RegisterWith(issuer, "", metadata)
}

// RegisterWith registers a client presenting bearer (an initial access
// token or the admin token) when it is not empty.
func RegisterWith(issuer, bearer string, metadata map[string]any) (Client, error) {
	status, body, err := PostJSON(issuer+"/v1/register", bearer, metadata)
	if err != nil {
		return Client{}, err
	}
	if status != http.StatusCreated {
		return Client{}, fmt.Errorf("register: %d %v", status, body)
	}
	str := func(k string) string { v, _ := body[k].(string); return v }
	return Client{str("client_id"), str("client_secret"), str("registration_access_token"), str("registration_client_uri")}, nil
}

// GuestToken signs in as the guest, as Backstage's frontend does locally.
func GuestToken(issuer string) (string, error) {
	status, body, err := PostJSON(issuer+"/guest/refresh", "", nil)
	if err != nil {
		return "", err
	}
	identity, _ := body["backstageIdentity"].(map[string]any)
	token, _ := identity["token"].(string)
	if status != http.StatusOK || token == "" {
		return "", fmt.Errorf("guest refresh: %d %v", status, body)
	}
	return token, nil
}

// Approve follows authURL to the consent page at appURL, approves the
// session through the API with the guest identity, and returns the
// redirect the server answers.
func Approve(issuer, appURL, authURL string) (*url.URL, error) {
	resp, err := NoRedirect.Get(authURL)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return nil, fmt.Errorf("authorize: status %d, want 302", resp.StatusCode)
	}
	consent := resp.Header.Get("Location")
	prefix := appURL + "/oauth2/authorize/"
	if !strings.HasPrefix(consent, prefix) {
		return nil, fmt.Errorf("authorize redirected to %q, want the consent page under %s", consent, prefix)
	}
	session := strings.TrimPrefix(consent, prefix)
	status, body, err := GetJSON(issuer + "/v1/sessions/" + session)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK || body["id"] != session {
		return nil, fmt.Errorf("session: %d %v", status, body)
	}
	guest, err := GuestToken(issuer)
	if err != nil {
		return nil, err
	}
	status, body, err = PostJSON(issuer+"/v1/sessions/"+session+"/approve", guest, nil)
	if err != nil {
		return nil, err
	}
	redirect, _ := body["redirectUrl"].(string)
	if status != http.StatusOK || redirect == "" {
		return nil, fmt.Errorf("approve: %d %v", status, body)
	}
	return url.Parse(redirect)
}

// Must returns a check that fails the test on err and otherwise returns v,
// so that a two-valued call reads Must(Register(...))(t).
func Must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// RandomVerifier returns a PKCE code verifier (RFC 7636 §4.1).
func RandomVerifier() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// UserAgent is an HTTP client that behaves like a browser for tests that
// follow redirects themselves: it keeps cookies and does not follow
// redirects.
func UserAgent(tb testing.TB) *http.Client {
	tb.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
