package e2e_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// authorizeOnce sends one valid authorization request for client without
// following the redirect; it answers the response and the consent
// session id when one was created.
func authorizeOnce(t *testing.T, l *live, client string) (*http.Response, string) {
	t.Helper()
	q := url.Values{"client_id": {client}, "response_type": {"code"}, "redirect_uri": {liveRedirect}, "scope": {"openid"},
		"code_challenge": {strings.Repeat("A", 43)}, "code_challenge_method": {"S256"}, "state": {"s"}}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(l.base + "/v1/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if i := strings.LastIndex(loc, "/oauth2/authorize/"); resp.StatusCode == http.StatusFound && i >= 0 {
		return resp, loc[i+len("/oauth2/authorize/"):]
	}
	return resp, ""
}

// TestAuthorizeOpenSessionCap: /v1/authorize stored a consent session
// for every valid request, without limit (460-630/s from one
// connection). Now a client, and an address, may have only so many that
// nobody has decided: past the cap the request is refused (429
// temporarily_unavailable with Retry-After, nothing stored), and a
// decision frees a place.
func TestAuthorizeOpenSessionCap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(*config.Config)
	}{
		{"per client", func(c *config.Config) { c.Authorization.MaxOpenPerClient, c.Authorization.MaxOpenPerAddress = 2, 0 }},
		{"per address", func(c *config.Config) { c.Authorization.MaxOpenPerClient, c.Authorization.MaxOpenPerAddress = 0, 2 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := startLive(t, tc.edit)
			l.client(t, "app", store.ClientMetadata{ResponseTypes: []string{"code"}})
			var ids []string
			for range 2 {
				resp, id := authorizeOnce(t, l, "app")
				if id == "" {
					t.Fatalf("authorize: %d Location %q, want the consent page", resp.StatusCode, resp.Header.Get("Location"))
				}
				ids = append(ids, id)
			}
			before := l.snapshot(t)
			q := url.Values{"client_id": {"app"}, "response_type": {"code"}, "redirect_uri": {liveRedirect}, "scope": {"openid"},
				"code_challenge": {strings.Repeat("A", 43)}, "code_challenge_method": {"S256"}}
			a := l.do(t, request{method: http.MethodGet, path: "/v1/authorize?" + q.Encode()})
			if a.status != http.StatusTooManyRequests || !strings.Contains(string(a.raw), ">temporarily_unavailable<") || a.header.Get("Retry-After") == "" {
				t.Fatalf("third open session: %d Retry-After %q %.300s, want 429 temporarily_unavailable with Retry-After",
					a.status, a.header.Get("Retry-After"), a.raw)
			}
			unchanged(t, before, l.snapshot(t))

			// Rejecting one frees a place.
			guest := testclient.Must(testclient.GuestToken(l.base))(t)
			req, err := http.NewRequest(http.MethodPost, l.base+"/v1/sessions/"+ids[0]+"/reject", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+guest)
			if status, body, err := testclient.Do(req); err != nil || status != http.StatusOK {
				t.Fatalf("reject: %d %v %v", status, body, err)
			}
			if resp, id := authorizeOnce(t, l, "app"); id == "" {
				t.Errorf("authorize after a decision: %d Location %q, want the consent page", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}

// TestAuthorizeRateLimit: /v1/authorize has a token bucket per address
// (rate_limit.authorize_*): past it, 429 too_many_requests as JSON with
// Retry-After, before anything is read or stored.
func TestAuthorizeRateLimit(t *testing.T) {
	t.Parallel()
	l := startLive(t, func(c *config.Config) {
		c.RateLimit.Enabled = true
		c.RateLimit.AuthorizePerSecond, c.RateLimit.AuthorizeBurst = 0.001, 3
	})
	l.client(t, "app", store.ClientMetadata{ResponseTypes: []string{"code"}})
	for i := range 3 {
		if resp, id := authorizeOnce(t, l, "app"); id == "" {
			t.Fatalf("request %d: %d, want the consent page", i, resp.StatusCode)
		}
	}
	before := l.snapshot(t)
	a := l.do(t, request{method: http.MethodGet, path: "/v1/authorize?client_id=app"})
	if a.status != http.StatusTooManyRequests || a.str("error") != "too_many_requests" || a.header.Get("Retry-After") == "" {
		t.Fatalf("past the burst: %d Retry-After %q %s, want 429 too_many_requests", a.status, a.header.Get("Retry-After"), a.raw)
	}
	unchanged(t, before, l.snapshot(t))
}
