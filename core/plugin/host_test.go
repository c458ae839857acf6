package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/plugin/plugintest"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// testWasm returns testdata/plugins/bin/<name>.wasm, built by
// `make plugins-testdata`; without it, it compiles the .wat with wat2wasm.
func testWasm(tb testing.TB, name string) []byte {
	tb.Helper()
	return plugintest.TestModule(tb, filepath.Join("..", "..", "testdata", "plugins"), name)
}

// writePlugin installs wasm as dir/<name>.wasm the way installers do:
// written aside, then renamed over the old file.
func writePlugin(tb testing.TB, dir, name string, wasm []byte) {
	tb.Helper()
	tmp := filepath.Join(dir, "."+name+".wasm.tmp")
	if err := os.WriteFile(tmp, wasm, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name+".wasm")); err != nil {
		tb.Fatal(err)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testConfig is a plugin configuration on dir with small pools and no
// watcher (tests that watch turn it on).
func testConfig(dir string) config.Plugins {
	return config.Plugins{
		Dir:      dir,
		LoadWait: 10 * time.Minute,
		Defaults: config.PluginLimits{MemoryPages: 16, Timeout: 2 * time.Second, PoolSize: 2, MaxRequestBytes: 1 << 16, MaxResponseBytes: 1 << 16},
		Hooks:    map[string]any{"token_claims": "claims", "sign_in": map[string]any{"github": "gh-signin", "default": "claims"}},
	}
}

// newTestHost starts a host on cfg; unless cfg sets plugins.load_wait, it
// waits for every compile, however slow the race detector makes it.
func newTestHost(tb testing.TB, cfg config.Plugins) *Host {
	tb.Helper()
	if cfg.LoadWait == 0 {
		cfg.LoadWait = 10 * time.Minute
	}
	h, err := NewHost(context.Background(), cfg, memory.New(), quietLogger())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := h.Close(context.Background()); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return h
}

// version calls token_claims on plugin name and returns the "reload" claim.
func version(ctx context.Context, h *Host, name string) (string, error) {
	var out struct {
		Claims struct {
			Reload string `json:"reload"`
		} `json:"claims"`
	}
	err := h.Call(ctx, name, hook.TokenClaims, map[string]string{"client_id": "c"}, &out)
	return out.Claims.Reload, err
}

func TestHostLoadsDirectory(t *testing.T) {
	dir := t.TempDir()
	v1 := testWasm(t, "reload_v1")
	writePlugin(t, dir, "claims", v1)
	// Not plugins: other extensions, temporaries, directories.
	for _, name := range []string{"README.md", ".claims.wasm.swp", ".hidden.wasm"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.wasm"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := newTestHost(t, testConfig(dir))

	p, ok := h.Plugin("claims")
	if !ok {
		t.Fatalf("claims not loaded; status %+v", h.Status())
	}
	sum := sha256.Sum256(v1)
	if p.Version() != hex.EncodeToString(sum[:]) || p.Name() != "claims" {
		t.Errorf("plugin %s version %s", p.Name(), p.Version())
	}
	if !slices.Equal(p.Hooks(), []string{hook.TokenClaims}) {
		t.Errorf("hooks %v", p.Hooks())
	}
	if got, err := version(context.Background(), h, "claims"); err != nil || got != "v1" {
		t.Errorf("token_claims = %q, %v", got, err)
	}
	if st := h.Status(); len(st) != 2 || st[0].Name != "claims" || st[1].Name != "gh-signin" {
		t.Errorf("status lists %+v, want claims and the bound gh-signin", st)
	}
}

func TestHostHookBinding(t *testing.T) {
	dir := t.TempDir()
	writePlugin(t, dir, "claims", testWasm(t, "reload_v1"))
	cfg := testConfig(dir)
	h := newTestHost(t, cfg)
	ctx := context.Background()

	tests := []struct {
		name, hook, provider string
		wantPlugin           string
		wantBound            bool
		check                func(t *testing.T, err error)
	}{
		{"bound and loaded", hook.TokenClaims, "", "claims", true, func(t *testing.T, err error) {
			if err != nil {
				t.Errorf("CallHook: %v", err)
			}
		}},
		{"per-provider plugin missing", hook.SignIn, "github", "gh-signin", true, func(t *testing.T, err error) {
			var f *Failure
			if !errors.As(err, &f) || f.Plugin != "gh-signin" || f.Hook != hook.SignIn || f.Reason != ReasonNotLoaded {
				t.Errorf("err = %v, want a *Failure naming gh-signin", err)
			}
		}},
		{"default provider, hook not served", hook.SignIn, "google", "claims", true, func(t *testing.T, err error) {
			var f *Failure
			if !errors.As(err, &f) || f.Reason != ReasonHookNotServed {
				t.Errorf("err = %v, want hook not served", err)
			}
		}},
		{"unbound", hook.Notify, "", "", false, func(t *testing.T, err error) {
			var f *Failure
			if !errors.As(err, &f) || !errors.Is(err, ErrNotBound) {
				t.Errorf("err = %v, want a *Failure wrapping ErrNotBound", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, ok := h.For(tt.hook, tt.provider)
			if name != tt.wantPlugin || ok != tt.wantBound {
				t.Errorf("For(%s, %s) = %q, %v", tt.hook, tt.provider, name, ok)
			}
			tt.check(t, h.CallHook(ctx, tt.hook, tt.provider, map[string]any{"provider": tt.provider}, nil))
		})
	}
}

func TestHostTokenClaims(t *testing.T) {
	dir := t.TempDir()
	writePlugin(t, dir, "claims", testWasm(t, "reload_v1"))
	ctx := context.Background()

	h := newTestHost(t, testConfig(dir))
	in := hook.TokenClaimsInput{ClientID: "client", Sub: "user:default/alice", Scope: "openid", GrantType: "authorization_code"}
	got, err := h.TokenClaims(ctx, in)
	if err != nil || got.Claims["reload"] != "v1" {
		t.Errorf("TokenClaims = %v, %v", got, err)
	}

	unbound := testConfig(dir)
	unbound.Hooks = nil
	got, err = newTestHost(t, unbound).TokenClaims(ctx, in)
	if !errors.Is(err, ErrNotBound) || got.Claims != nil {
		t.Errorf("unbound TokenClaims = %v, %v; want nothing and ErrNotBound", got, err)
	}

	missing := testConfig(dir)
	missing.Hooks = map[string]any{"token_claims": "absent"}
	if _, err := newTestHost(t, missing).TokenClaims(ctx, in); err == nil || errors.Is(err, ErrNotBound) {
		t.Errorf("TokenClaims with its plugin absent = %v; want it to fail closed", err)
	}
}

// TestHostMissingDirectory: the server starts without its plugins, the
// calls fail closed, and the plugins appear on reload once installed.
func TestHostMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "plugins")
	h := newTestHost(t, testConfig(dir))
	_, err := version(context.Background(), h, "claims")
	var f *Failure
	if !errors.As(err, &f) || f.Plugin != "claims" || !strings.Contains(err.Error(), "not loaded") {
		t.Fatalf("err = %v, want a *Failure: plugin is not loaded", err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writePlugin(t, dir, "claims", testWasm(t, "reload_v1"))
	if err := h.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, err := version(context.Background(), h, "claims"); err != nil || got != "v1" {
		t.Errorf("after reload: %q, %v", got, err)
	}
}

func TestHostClosed(t *testing.T) {
	dir := t.TempDir()
	writePlugin(t, dir, "claims", testWasm(t, "reload_v1"))
	h, err := NewHost(context.Background(), testConfig(dir), nil, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	var f *Failure
	if _, err := version(context.Background(), h, "claims"); !errors.As(err, &f) {
		t.Errorf("call after Close = %v, want a *Failure", err)
	}
	if err := h.Reload(context.Background()); err == nil {
		t.Error("Reload after Close succeeded")
	}
}

func TestHostSettings(t *testing.T) {
	kv := memory.New()
	cfg := testConfig(t.TempDir())
	cfg.Settings = map[string]config.PluginSettings{
		"withkv": {KV: true, Config: map[string]any{"users": []any{map[string]any{"sub": "user:default/a"}}},
			HTTPAllow: []string{"https://api.example.com/*"}, HTTPTimeout: time.Second,
			Limits: config.PluginLimits{PoolSize: 7}},
	}
	h := &Host{cfg: cfg, kv: kv, logger: quietLogger()}

	s := h.settings(&cfg, "withkv")
	if string(s.Config) != `{"users":[{"sub":"user:default/a"}]}` {
		t.Errorf("config %s", s.Config)
	}
	if s.Limits.PoolSize != 7 || s.Limits.MemoryPages != 16 || s.Limits.Timeout != 2*time.Second {
		t.Errorf("limits %+v", s.Limits)
	}
	if !slices.Equal(s.HTTPAllow, []string{"https://api.example.com/*"}) || s.HTTPTimeout != time.Second {
		t.Errorf("http %v %s", s.HTTPAllow, s.HTTPTimeout)
	}
	if s := h.settings(&cfg, "other"); s.KV != nil || s.Config != nil {
		t.Errorf("a plugin without settings got kv %v config %s", s.KV, s.Config)
	}

	if s.KV != kv {
		t.Error("kv: true did not grant the store")
	}
}

func TestLatencyQuantiles(t *testing.T) {
	s := newHostStats()
	for range 98 {
		s.observe("p", "sign_in", outcomeOK, 10*time.Microsecond)
	}
	s.observe("p", "sign_in", outcomeRefused, time.Millisecond)
	s.observe("p", "sign_in", outcomeFailed, 100*time.Millisecond)
	got := s.snapshot("p")
	if got.Calls != 100 || got.Refusals != 1 || got.Errors != 1 {
		t.Errorf("counts %+v", got)
	}
	if p50 := time.Duration(got.P50); p50 < 10*time.Microsecond || p50 > 15*time.Microsecond {
		t.Errorf("p50 %s, want 10µs within √2", p50)
	}
	if p99 := time.Duration(got.P99); p99 < time.Millisecond || p99 > 1500*time.Microsecond {
		t.Errorf("p99 %s, want 1ms within √2", p99)
	}
	if empty := s.snapshot("none"); empty.Calls != 0 || empty.P99 != 0 {
		t.Errorf("unknown plugin %+v", empty)
	}
}

// TestHostFirstPartyPlugins loads the plugins the binary embeds with the
// embedded configuration (no plugin directory), and calls each bound hook
// once: the shipped config and the shipped plugins agree.
func TestHostFirstPartyPlugins(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the first-party plugins")
	}
	cfg, err := config.Load(gatehouse.DefaultConfig, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Plugins.Dir, cfg.Plugins.CacheDir, cfg.Plugins.Watch = "", "", false
	cfg.Plugins.Defaults.PoolSize = 1
	cfg.Plugins.LoadWait = 10 * time.Minute // every compile, however slow
	h, err := NewHost(context.Background(), cfg.Plugins, memory.New(), quietLogger(), WithEmbedded(gatehouse.Plugins()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	ctx := context.Background()
	for _, st := range h.Status() {
		if st.LoadError != "" {
			t.Errorf("%s: %s", st.Name, st.LoadError)
		}
	}

	var signIn struct {
		Sub string   `json:"sub"`
		Ent []string `json:"ent"`
	}
	err = h.CallHook(ctx, hook.SignIn, "github", map[string]any{"provider": "github", "env": "development",
		"profile": map[string]any{"email": "Alice@Example.com"}, "claims": map[string]any{"email_verified": true}}, &signIn)
	if err != nil || signIn.Sub != "user:default/alice" {
		t.Errorf("sign_in = %+v, %v", signIn, err)
	}
	var r *Refusal
	// The embedded configuration matches verified addresses only.
	err = h.CallHook(ctx, hook.SignIn, "github", map[string]any{"provider": "github", "env": "development",
		"profile": map[string]any{"email": "Alice@Example.com"}}, nil)
	if !errors.As(err, &r) || r.Code != "access_denied" {
		t.Errorf("sign_in without email_verified = %v, want access_denied", err)
	}
	err = h.CallHook(ctx, hook.SignIn, "github", map[string]any{"provider": "github",
		"profile": map[string]any{"email": "mallory@evil.example"}}, nil)
	if !errors.As(err, &r) || r.Code != "access_denied" {
		t.Errorf("sign_in from another domain = %v, want access_denied", err)
	}

	var user struct {
		Sub string `json:"sub"`
	}
	err = h.CallHook(ctx, hook.ResolveUser, "", map[string]any{"kind": "login_hint", "value": "guest", "client_id": "c", "scope": "openid"}, &user)
	if err != nil || user.Sub != "user:development/guest" {
		t.Errorf("resolve_user = %+v, %v", user, err)
	}

	var notified struct {
		Deliveries []map[string]any `json:"deliveries"`
	}
	err = h.CallHook(ctx, hook.Notify, "", map[string]any{"event": "ciba.authentication_requested",
		"user": map[string]any{"sub": "user:development/guest"}, "client": map[string]any{"id": "c", "name": "C"},
		"binding_message": "1234", "scope": "openid", "approval_url": "http://127.0.0.1:7007/approve/x",
		"expires_at": time.Now().Add(time.Minute).Unix()}, &notified)
	if err != nil || len(notified.Deliveries) == 0 || notified.Deliveries[0]["type"] != "log" {
		t.Errorf("notify = %+v, %v", notified, err)
	}
}

// BenchmarkHostCall compares a hook call through the host (binding
// lookup, reload guard, counting) with the same call on the plugin.
func BenchmarkHostCall(b *testing.B) {
	dir := b.TempDir()
	writePlugin(b, dir, "claims", testWasm(b, "reload_v1"))
	h := newTestHost(b, testConfig(dir))
	p, _ := h.Plugin("claims")
	ctx := context.Background()
	in := map[string]string{"client_id": "c"}
	for _, bb := range []struct {
		name string
		call func() error
	}{
		{"host", func() error { return h.CallHook(ctx, hook.TokenClaims, "", in, nil) }},
		{"plugin", func() error { return p.Call(ctx, hook.TokenClaims, in, nil) }},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bb.call(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestHostWarnsAboutBindings: at start the operator is told about hooks
// bound to plugins that are absent or do not serve them.
func TestHostWarnsAboutBindings(t *testing.T) {
	dir := t.TempDir()
	writePlugin(t, dir, "claims", testWasm(t, "reload_v1"))
	var logs strings.Builder
	h, err := NewHost(context.Background(), testConfig(dir), nil, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	for _, want := range []string{
		`msg="a hook is bound to a plugin that is not loaded: its calls fail until it loads" plugin=gh-signin`,
		`msg="a hook is bound to a plugin that does not serve it: its calls fail" plugin=claims hook=sign_in`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), "hook=token_claims") {
		t.Errorf("warned about a binding that works:\n%s", logs.String())
	}
}
