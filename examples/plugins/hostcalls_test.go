package examples_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/outbound"
	"github.com/gatehouse-auth/gatehouse/core/plugin"
	"github.com/gatehouse-auth/gatehouse/core/plugin/plugintest"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// recorder is a slog.Handler keeping every message, to see a plugin's log lines.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) has(msg string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.msgs, msg)
}

// TestSDKHostCalls runs the hostcalls test plugin of the Rust, C and
// AssemblyScript SDKs (examples/plugins/<lang>/hostcalls.*) on core/plugin
// with KV and an allow-listed loopback HTTP server: log, kv_get, kv_put and
// http_request must work through each SDK's wrappers, and an http_request
// to a URL outside the allow-list must come back as the host's reason.
func TestSDKHostCalls(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "hello %s", r.Header.Get("X-Sub"))
	}))
	defer srv.Close()
	ctx := context.Background()
	rt, err := plugin.NewRuntime(ctx, "")
	if err != nil {
		t.Fatalf("new runtime: %v", err)
	}
	defer func() { _ = rt.Close(ctx) }()

	type claims struct {
		Claims struct {
			Visits int    `json:"visits"`
			Status int    `json:"status"`
			Body   string `json:"body"`
		} `json:"claims"`
	}
	in := map[string]string{"client_id": "backstage", "sub": "user:default/alice", "scope": "openid", "grant_type": "authorization_code"}
	for _, lang := range []string{"rust", "c", "assemblyscript"} {
		t.Run(lang, func(t *testing.T) {
			wasm := plugintest.ReadBuild(t, filepath.Join("bin", "obj", "hostcalls-"+lang+".wasm"))
			load := func(url string, logs *recorder) *plugin.Plugin {
				cfg, _ := json.Marshal(map[string]string{"url": url})
				p, err := rt.Load(ctx, "hostcalls-"+lang, wasm, plugin.Settings{
					Config:    cfg,
					HTTPAllow: []string{srv.URL + "/*"},
					KV:        memory.New(),
					Logger:    slog.New(logs),
					// The loopback server above: the development setting.
					Outbound: outbound.New(outbound.Options{AllowPrivate: true}),
				})
				if err != nil {
					t.Fatalf("load: %v", err)
				}
				t.Cleanup(func() { _ = p.Close(context.Background()) })
				return p
			}

			logs := &recorder{}
			p := load(srv.URL+"/hello", logs)
			for visit := 1; visit <= 3; visit++ {
				var out claims
				if err := p.Call(ctx, hook.TokenClaims, in, &out); err != nil {
					t.Fatalf("call %d: %v", visit, err)
				}
				c := out.Claims
				if c.Visits != visit || c.Status != http.StatusOK || c.Body != "hello user:default/alice" {
					t.Errorf("call %d: got %+v, want visits %d, status 200, body %q", visit, c, visit, "hello user:default/alice")
				}
			}
			if !logs.has("hostcalls: token_claims called") {
				t.Errorf("the plugin's log line is missing from %q", logs.msgs)
			}

			denied := load("http://127.0.0.1:1/elsewhere", &recorder{})
			err = denied.Call(ctx, hook.TokenClaims, in, nil)
			var refusal *plugin.Refusal
			if !errors.As(err, &refusal) || refusal.Code != "server_error" || refusal.Message != "url not allowed" {
				t.Errorf("http_request outside the allow-list: got %v, want a server_error refusal %q", err, "url not allowed")
			}
		})
	}
}
