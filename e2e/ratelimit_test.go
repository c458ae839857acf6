package e2e_test

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// limited starts a server whose token and registration buckets hold burst
// requests and practically never refill, so that the test decides exactly
// when they run dry.
func limited(t *testing.T, trustedProxies int) *live {
	t.Helper()
	return startLive(t, func(c *config.Config) {
		c.RateLimit.Enabled = true
		c.RateLimit.TokenPerSecond, c.RateLimit.TokenBurst = 0.001, 3
		c.RateLimit.RegisterPerSecond, c.RateLimit.RegisterBurst = 0.001, 2
		c.Server.TrustedProxies = trustedProxies
	})
}

// from sends r from the loopback address ip (any of 127.0.0.0/8 on Linux),
// so that one test can play several remote addresses.
func (l *live) from(t *testing.T, ip string, r request) answer {
	t.Helper()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(r.method, l.base+r.path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = r.header.Clone()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("%s from %s: %v", r, ip, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, raw: raw}
}

// wantLimited checks a 429 answer: the RFC-style JSON error and a
// Retry-After in whole seconds (RFC 9110 §10.2.3).
func wantLimited(t *testing.T, a answer, what string) {
	t.Helper()
	if a.status != http.StatusTooManyRequests || !strings.Contains(string(a.raw), `"error":"too_many_requests"`) {
		t.Fatalf("%s: got %d %s, want 429 too_many_requests", what, a.status, a.raw)
	}
	if s, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("%s: Retry-After %q, want a positive number of seconds", what, a.header.Get("Retry-After"))
	}
	if !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
		t.Errorf("%s: Content-Type %q", what, a.header.Get("Content-Type"))
	}
}

func wantServed(t *testing.T, a answer, what string) {
	t.Helper()
	if a.status == http.StatusTooManyRequests || a.status >= 500 {
		t.Fatalf("%s: got %d %s, want it served", what, a.status, a.raw)
	}
}

var ccForm = url.Values{"grant_type": {"client_credentials"}}

// TestRateLimitPerClient: a client's token bucket is shared by every
// address it calls from, and another client is not affected.
func TestRateLimitPerClient(t *testing.T) {
	t.Parallel()
	l := limited(t, 0)
	l.client(t, "machine", store.ClientMetadata{GrantTypes: []string{"client_credentials"}})
	l.client(t, "other", store.ClientMetadata{GrantTypes: []string{"client_credentials"}})
	for i, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		a := l.from(t, ip, form("/v1/token", ccForm, "machine", liveSecret))
		if a.status != http.StatusOK {
			t.Fatalf("request %d from %s: %d %s", i, ip, a.status, a.raw)
		}
	}
	wantLimited(t, l.from(t, "127.0.0.5", form("/v1/token", ccForm, "machine", liveSecret)), "4th request of the client, new address")
	// client_secret_post names the client in the body: the same bucket.
	wantLimited(t, l.from(t, "127.0.0.6", form("/v1/token",
		url.Values{"grant_type": {"client_credentials"}, "client_id": {"machine"}, "client_secret": {liveSecret}}, "", "")),
		"the client in the body")
	if a := l.from(t, "127.0.0.7", form("/v1/token", ccForm, "other", liveSecret)); a.status != http.StatusOK {
		t.Fatalf("another client: %d %s", a.status, a.raw)
	}
}

// TestRateLimitPerAddress: one address runs dry whatever client ids it
// claims (known or not), and other addresses are not affected.
func TestRateLimitPerAddress(t *testing.T) {
	t.Parallel()
	l := limited(t, 0)
	for i := range 3 {
		wantServed(t, l.from(t, "127.0.0.8", form("/v1/token", ccForm, "client-"+strconv.Itoa(i), "x")), "within the burst")
	}
	wantLimited(t, l.from(t, "127.0.0.8", form("/v1/token", ccForm, "client-new", "x")), "token, 4th request of the address")
	wantServed(t, l.from(t, "127.0.0.9", form("/v1/token", ccForm, "client-new", "x")), "token, another address")

	reg := request{method: http.MethodPost, path: "/v1/register",
		header: http.Header{"Content-Type": {"application/json"}},
		body:   `{"redirect_uris":["` + liveRedirect + `"]}`}
	for range 2 {
		if a := l.from(t, "127.0.0.10", reg); a.status != http.StatusCreated {
			t.Fatalf("register within the burst: %d %s", a.status, a.raw)
		}
	}
	wantLimited(t, l.from(t, "127.0.0.10", reg), "register, 3rd request of the address")
	if a := l.from(t, "127.0.0.11", reg); a.status != http.StatusCreated {
		t.Fatalf("register from another address: %d %s", a.status, a.raw)
	}
	// The buckets are per endpoint: registration did not spend token requests.
	wantServed(t, l.from(t, "127.0.0.10", form("/v1/token", ccForm, "client-x", "x")), "token after registrations")
}

// TestRateLimitForwardedFor: X-Forwarded-For counts only with a trusted
// proxy in front, and then only the entry that proxy added (the rightmost);
// without one a client cannot escape its bucket by forging the header.
func TestRateLimitForwardedFor(t *testing.T) {
	t.Parallel()
	// Each request names a client of its own, so that only the address
	// buckets can run dry.
	// Atomic: the subtests run in parallel.
	var n atomic.Int64
	withXFF := func(xff string) request {
		r := form("/v1/token", ccForm, "client-"+strconv.FormatInt(n.Add(1), 10), "x")
		r.header.Set("X-Forwarded-For", xff)
		return r
	}

	t.Run("no trusted proxy", func(t *testing.T) {
		t.Parallel()
		l := limited(t, 0)
		for i := range 3 {
			wantServed(t, l.from(t, "127.0.0.12", withXFF("203.0.113."+strconv.Itoa(i))), "within the burst")
		}
		wantLimited(t, l.from(t, "127.0.0.12", withXFF("203.0.113.99")), "a forged X-Forwarded-For")
	})

	t.Run("one trusted proxy", func(t *testing.T) {
		t.Parallel()
		l := limited(t, 1)
		// Every request comes from the proxy's address; the clients differ.
		for i := range 3 {
			wantServed(t, l.from(t, "127.0.0.13", withXFF("203.0.113.1")), "client 1 within its burst")
			wantServed(t, l.from(t, "127.0.0.13", withXFF("203.0.113."+strconv.Itoa(10+i))), "other clients")
		}
		wantLimited(t, l.from(t, "127.0.0.13", withXFF("203.0.113.1")), "client 1, 4th request")
		// Client 1 prepending a forged entry is still client 1: the proxy
		// appended the address it saw.
		wantLimited(t, l.from(t, "127.0.0.13", withXFF("198.51.100.7, 203.0.113.1")), "client 1 with a forged entry")
		wantServed(t, l.from(t, "127.0.0.13", withXFF("203.0.113.1, 203.0.113.2")), "client 2 behind a forged entry of its own")
	})
}

// TestRateLimitWrongSecretsCostTheClientNothing: requests naming a client
// with a wrong secret, from many addresses, cost that client nothing (each
// costs its address a token); the client's own bucket is charged only by
// requests that authenticate it.
func TestRateLimitWrongSecretsCostTheClientNothing(t *testing.T) {
	t.Parallel()
	l := limited(t, 0)
	l.client(t, "victim", store.ClientMetadata{GrantTypes: []string{"client_credentials"}})
	for i := range 6 { // twice the client's burst, from six addresses
		a := l.from(t, "127.0.1."+strconv.Itoa(10+i), form("/v1/token", ccForm, "victim", "wrong"))
		if a.status != http.StatusUnauthorized {
			t.Fatalf("wrong secret %d: %d %s, want 401", i, a.status, a.raw)
		}
	}
	// An address that keeps failing still runs dry.
	for range 2 {
		l.from(t, "127.0.1.10", form("/v1/token", ccForm, "victim", "wrong"))
	}
	wantLimited(t, l.from(t, "127.0.1.10", form("/v1/token", ccForm, "victim", "wrong")), "4th failure from one address")
	// The real client still has its whole burst, then runs dry.
	for i := range 3 {
		if a := l.from(t, "127.0.1.30", form("/v1/token", ccForm, "victim", liveSecret)); a.status != http.StatusOK {
			t.Fatalf("the real client, request %d: %d %s, want 200", i+1, a.status, a.raw)
		}
	}
	wantLimited(t, l.from(t, "127.0.1.31", form("/v1/token", ccForm, "victim", liveSecret)), "the real client's 4th request")
}

// TestRateLimitBackchannel: the CIBA backchannel endpoint has the token
// endpoint's limits, in a bucket of its own: each request asks the user
// directory and may be a user_code guess.
func TestRateLimitBackchannel(t *testing.T) {
	t.Parallel()
	l := limited(t, 0)
	ciba := url.Values{"scope": {"openid"}, "login_hint": {"guest"}}
	for range 3 {
		wantServed(t, l.from(t, "127.0.0.12", form("/v1/backchannel/authorize", ciba, "nobody", "x")), "backchannel within the burst")
	}
	wantLimited(t, l.from(t, "127.0.0.12", form("/v1/backchannel/authorize", ciba, "nobody", "x")), "backchannel, 4th request of the address")
	wantServed(t, l.from(t, "127.0.0.12", form("/v1/token", ccForm, "client-y", "x")), "token after backchannel requests")
}
