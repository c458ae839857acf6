package plugin

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// TestHTTPAllowIsStructural: http_allow is matched by the server's URL
// matcher, not by one glob over the whole URL. Each URL below was let
// through by the glob (issue 9 §4) and reached the loopback server; now
// none of them is fetched, first hop or redirect.
func TestHTTPAllowIsStructural(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var hits []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits = append(hits, r.URL.RequestURI())
		mu.Unlock()
		switch r.URL.Path {
		case "/users/redirect-encoded":
			w.Header().Set("Location", "/users/a%2fb")
			w.WriteHeader(http.StatusFound)
		case "/users/redirect-query":
			// Into the query: the glob read the host as *.example.com.
			w.Header().Set("Location", "http://"+r.Host+"?.example.com/x")
			w.WriteHeader(http.StatusFound)
		default:
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	defer srv.Close()
	hostPort := strings.TrimPrefix(srv.URL, "http://")

	r := newTestRuntime(t)
	p := load(t, r, "http", Settings{
		HTTPAllow: []string{"http://*.example.com/*", srv.URL + "/users/*"},
		Logger:    slog.New(newRecorder()),
		Outbound:  localPeers,
	})
	call := func(u string) string {
		t.Helper()
		var got struct {
			Status int    `json:"status"`
			Error  string `json:"error"`
		}
		if err := p.Call(context.Background(), hook.SignIn, httpRequest{URL: u}, &got); err != nil {
			t.Fatal(err)
		}
		if got.Error != "" {
			return got.Error
		}
		return http.StatusText(got.Status)
	}
	refused := []string{
		"http://" + hostPort + "?.example.com/x",
		"http://" + hostPort + "#.example.com/",
		"http://" + hostPort + "/.example.com/x",
		srv.URL + "/users/..",
		srv.URL + "/users/%2e%2e",
		srv.URL + "/users/a%2fb",
		"http://x@" + hostPort + "/users/alice",
	}
	for _, u := range refused {
		if got := call(u); got != httpErrNotAllowed {
			t.Errorf("%s: %q, want %q", u, got, httpErrNotAllowed)
		}
	}
	mu.Lock()
	if len(hits) != 0 {
		t.Errorf("refused URLs were fetched: %v", hits)
	}
	mu.Unlock()

	// Allowed, and its redirects are checked by the same matcher.
	if got := call(srv.URL + "/users/alice"); got != http.StatusText(http.StatusTeapot) {
		t.Errorf("allowed URL: %q", got)
	}
	for _, u := range []string{srv.URL + "/users/redirect-encoded", srv.URL + "/users/redirect-query"} {
		if got := call(u); got != httpErrNotAllowed {
			t.Errorf("%s: %q, want the redirect refused", u, got)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"/users/alice", "/users/redirect-encoded", "/users/redirect-query"}
	if strings.Join(hits, " ") != strings.Join(want, " ") {
		t.Errorf("fetched %v, want only %v", hits, want)
	}
}
