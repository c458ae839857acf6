package plugin

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/outbound"
	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// localPeers reaches the loopback servers of these tests: the development
// setting outbound.allow_private.
var localPeers = outbound.New(outbound.Options{AllowPrivate: true})

// TestHTTPRequestRefusesLocalAddresses: without the development setting,
// http_request cannot reach loopback even when the allow-list names it,
// by address or by a name resolving to 127.0.0.1 (core/outbound's tests
// cover the other spellings).
func TestHTTPRequestRefusesLocalAddresses(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	urls := []string{
		"http://127.0.0.1:" + port + "/ok",
		"http://localhost:" + port + "/ok",
	}
	rec := newRecorder()
	p := load(t, newTestRuntime(t), "http", Settings{HTTPAllow: urls, Logger: slog.New(rec)}) // Outbound nil: the default
	for _, u := range urls {
		var got struct {
			Status int    `json:"status"`
			Error  string `json:"error"`
		}
		if err := p.Call(context.Background(), hook.SignIn, httpRequest{URL: u}, &got); err != nil {
			t.Fatal(err)
		}
		if got.Error != httpErrFailed {
			t.Errorf("%s: %+v, want %q", u, got, httpErrFailed)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the loopback server got %d requests", n)
	}
	if n := len(rec.find("http_request failed", map[string]string{"plugin": "http", "why": httpErrFailed})); n != len(urls) {
		t.Errorf("failures logged = %d, want %d", n, len(urls))
	}
}
