package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

func TestKV(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t)
	kv := memory.New()
	p := load(t, r, "kv", Settings{KV: kv, Logger: slog.New(newRecorder())})

	var got map[string]any
	if err := p.Call(context.Background(), hook.TokenClaims, nil, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, map[string]any{"missing": true}) {
		t.Fatalf("before put: %v", got)
	}
	if err := p.Call(context.Background(), hook.Notify, map[string]string{"event": "x"}, nil); err != nil {
		t.Fatal(err)
	}
	// The value is stored under the plugin's namespace, nowhere else.
	raw, err := kv.Get(context.Background(), "plugin/kv/last")
	if err != nil {
		t.Fatalf("namespaced key: %v", err)
	}
	if want := `{"abi":1,"hook":"notify","config":{},"input":{"event":"x"}}`; string(raw) != want {
		t.Errorf("stored %s, want %s", raw, want)
	}
	if _, err := kv.Get(context.Background(), "last"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("un-namespaced key: %v", err)
	}
	got = nil
	if err := p.Call(context.Background(), hook.TokenClaims, nil, &got); err != nil {
		t.Fatal(err)
	}
	if got["hook"] != "notify" || !reflect.DeepEqual(got["input"], map[string]any{"event": "x"}) {
		t.Errorf("after put: %v", got)
	}
	// Another plugin name sees its own namespace.
	other, err := r.Load(context.Background(), "other", wasmFile(t, "kv"), Settings{KV: kv})
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	if err := other.Call(context.Background(), hook.TokenClaims, nil, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, map[string]any{"missing": true}) {
		t.Errorf("other namespace: %v", got)
	}
}

// failingKV fails every operation, like a store that is down.
type failingKV struct{ store.KV }

func (failingKV) Get(context.Context, string) ([]byte, error) { return nil, errors.New("disk on fire") }
func (failingKV) Put(context.Context, string, []byte, time.Time) error {
	return errors.New("disk on fire")
}
func (failingKV) Scan(context.Context, string, func(string, []byte) error) error {
	return errors.New("disk on fire")
}
func (failingKV) ScanPage(context.Context, string, store.Page) ([]store.Entry, error) {
	return nil, errors.New("disk on fire")
}

// TestKVStoreDown: a failing kv_get traps (fail closed, never "missing");
// a failing kv_put returns non-zero and the plugin decides.
func TestKVStoreDown(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t)
	p := load(t, r, "kv", Settings{KV: failingKV{}, Logger: slog.New(newRecorder())})
	err := p.Call(context.Background(), hook.TokenClaims, nil, nil)
	var f *Failure
	if !errors.As(err, &f) || f.Reason != ReasonTrap || !strings.HasPrefix(f.Detail, "kv_get: disk on fire") {
		t.Errorf("kv_get on a failing store: %v", err)
	}
	err = p.Call(context.Background(), hook.Notify, nil, nil)
	var refusal *Refusal
	if !errors.As(err, &refusal) || refusal.Code != "kv_failed" {
		t.Errorf("kv_put on a failing store: %v, want the plugin's refusal", err)
	}
}

func TestHTTPRequest(t *testing.T) {
	t.Parallel()
	var forbiddenHits atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo", r.Header.Get("X-Test"))
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte(r.Method + " hello"))
	})
	mux.HandleFunc("/redirect-in", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/redirect-out", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/forbidden", http.StatusFound)
	})
	mux.HandleFunc("/forbidden", func(w http.ResponseWriter, r *http.Request) {
		forbiddenHits.Add(1)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 2048)))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	rec := newRecorder()
	r := newTestRuntime(t)
	settings := Settings{
		HTTPAllow:            []string{srv.URL + "/ok", srv.URL + "/redirect-in", srv.URL + "/redirect-out", srv.URL + "/big", srv.URL + "/slow"},
		MaxHTTPResponseBytes: 1024,
		Logger:               slog.New(rec),
		Outbound:             localPeers,
	}
	// The requests that must be answered have the default timeout, which
	// a loaded machine does not reach; /slow never answers, and a short
	// timeout ends it.
	p := load(t, r, "http", settings)
	settings.HTTPTimeout = 200 * time.Millisecond
	impatient := load(t, r, "http", settings)
	tests := []struct {
		name string
		req  httpRequest
		want map[string]any
	}{
		{"allowed", httpRequest{Method: "POST", URL: srv.URL + "/ok", Headers: map[string]string{"X-Test": "t1"}},
			map[string]any{"status": float64(418), "body": "POST hello", "echo": "t1"}},
		{"redirect inside the allow-list", httpRequest{URL: srv.URL + "/redirect-in"},
			map[string]any{"status": float64(418), "body": "GET hello", "echo": ""}},
		{"redirect outside the allow-list", httpRequest{URL: srv.URL + "/redirect-out"}, map[string]any{"error": "url not allowed"}},
		{"not allowed", httpRequest{URL: srv.URL + "/forbidden"}, map[string]any{"error": "url not allowed"}},
		{"user info", httpRequest{URL: "http://x@" + strings.TrimPrefix(srv.URL, "http://") + "/ok"}, map[string]any{"error": "url not allowed"}},
		{"other scheme", httpRequest{URL: "file:///etc/passwd"}, map[string]any{"error": "url not allowed"}},
		{"response too large", httpRequest{URL: srv.URL + "/big"}, map[string]any{"error": "response too large"}},
		{"timeout", httpRequest{URL: srv.URL + "/slow"}, map[string]any{"error": "timeout"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got struct {
				Status  float64           `json:"status"`
				Headers map[string]string `json:"headers"`
				Body    string            `json:"body"`
				Error   string            `json:"error"`
			}
			plugin := p
			if tc.name == "timeout" {
				plugin = impatient
			}
			if err := plugin.Call(context.Background(), hook.SignIn, tc.req, &got); err != nil {
				t.Fatal(err)
			}
			have := map[string]any{"error": got.Error}
			if got.Error == "" {
				have = map[string]any{"status": got.Status, "body": got.Body, "echo": got.Headers["X-Echo"]}
			}
			if !reflect.DeepEqual(have, tc.want) {
				t.Errorf("got %v, want %v", have, tc.want)
			}
		})
	}
	if n := forbiddenHits.Load(); n != 0 {
		t.Errorf("the forbidden URL was fetched %d times", n)
	}
	if n := len(rec.find("http_request refused", map[string]string{"plugin": "http", "why": "url not allowed"})); n != 3 {
		t.Errorf("refusals logged = %d, want 3", n)
	}
	if n := len(rec.find("http_request failed", map[string]string{"plugin": "http", "why": "url not allowed"})); n != 1 {
		t.Errorf("redirect refusals logged = %d, want 1", n)
	}

	// The call's deadline bounds a host call too: the guest is stopped.
	short := load(t, r, "http", Settings{
		HTTPAllow: []string{srv.URL + "/slow"},
		Limits:    Limits{Timeout: 100 * time.Millisecond},
		Logger:    slog.New(rec),
		Outbound:  localPeers,
	})
	err := short.Call(context.Background(), hook.SignIn, httpRequest{URL: srv.URL + "/slow"}, nil)
	var f *Failure
	if !errors.As(err, &f) || f.Reason != ReasonTimeout {
		t.Errorf("slow host call past the deadline: %v, want %q", err, ReasonTimeout)
	}

	// The hostile plugin's metadata request is refused the same way.
	bad := load(t, r, "badurl", Settings{HTTPAllow: []string{srv.URL + "/*"}, Logger: slog.New(rec), Outbound: localPeers})
	var got json.RawMessage
	if err := bad.Call(context.Background(), hook.SignIn, nil, &got); err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"error":"url not allowed"}` {
		t.Errorf("badurl: %s", got)
	}
}
