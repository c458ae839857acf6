package plugin

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// reconfigureHost serves a directory with claims (token_claims), store
// (notify and token_claims through kv_get/kv_put) and fetch (sign_in
// through http_request); at start only token_claims is bound, and neither
// store nor fetch has its grant: store does not load, fetch loads with an
// allow-list that reaches nothing.
func reconfigureHost(t *testing.T) (*Host, config.Plugins) {
	t.Helper()
	dir := t.TempDir()
	writePlugin(t, dir, "claims", testWasm(t, "reload_v1"))
	writePlugin(t, dir, "store", testWasm(t, "kv"))
	writePlugin(t, dir, "fetch", testWasm(t, "http"))
	cfg := testConfig(dir)
	cfg.Hooks = map[string]any{"token_claims": "claims"}
	h := newTestHost(t, cfg)
	if _, ok := h.Plugin("store"); ok {
		t.Fatal("store loaded without its kv grant")
	}
	if _, ok := h.Plugin("fetch"); !ok {
		t.Fatal("fetch (http_request, no http_allow) did not load")
	}
	return h, cfg
}

// granted is the configuration that grants store kv and fetch an
// allow-list, and binds token_claims and notify to store and sign_in for
// github to fetch.
func granted(cfg config.Plugins) config.Plugins {
	cfg.Settings = map[string]config.PluginSettings{
		"store": {KV: true},
		"fetch": {HTTPAllow: []string{"https://api.example.com/*"}},
	}
	cfg.Hooks = map[string]any{"token_claims": "store", "notify": "store", "sign_in": map[string]any{"github": "fetch"}}
	return cfg
}

// claimsOf calls token_claims through the binding.
func claimsOf(t *testing.T, h *Host) map[string]any {
	t.Helper()
	var got map[string]any
	if err := h.CallHook(context.Background(), hook.TokenClaims, "", nil, &got); err != nil {
		t.Fatalf("token_claims: %v", err)
	}
	return got
}

// TestReconfigureGrantsAndBindings: a plugin that needs a grant loads once
// the configuration grants it, and new bindings reach it, without a
// restart; plugins whose settings did not change keep their version.
func TestReconfigureGrantsAndBindings(t *testing.T) {
	h, cfg := reconfigureHost(t)
	claims, _ := h.Plugin("claims")
	if got := claimsOf(t, h); !reflect.DeepEqual(got["claims"], map[string]any{"reload": "v1"}) {
		t.Fatalf("token_claims before: %v", got)
	}
	if err := h.CallHook(context.Background(), hook.Notify, "", nil, nil); !errors.Is(err, ErrNotBound) {
		t.Fatalf("notify before: %v", err)
	}

	if err := h.Reconfigure(context.Background(), granted(cfg)); err != nil {
		t.Fatalf("Reconfigure: %v", err)
	}
	for _, name := range []string{"store", "fetch"} {
		if _, ok := h.Plugin(name); !ok {
			t.Errorf("%s not loaded after its grant", name)
		}
	}
	if name, _ := h.For(hook.SignIn, "github"); name != "fetch" {
		t.Errorf("sign_in for github bound to %q", name)
	}
	// The kv grant works: notify stores, token_claims reads it back.
	if err := h.CallHook(context.Background(), hook.Notify, "", map[string]string{"event": "x"}, nil); err != nil {
		t.Fatalf("notify through the new binding: %v", err)
	}
	if got := claimsOf(t, h); got["hook"] != "notify" {
		t.Errorf("token_claims through the new binding: %v", got)
	}
	if now, _ := h.Plugin("claims"); now != claims {
		t.Error("claims was reloaded though its settings did not change")
	}
	bound := map[string][]string{}
	for _, s := range h.Status() {
		bound[s.Name] = s.Bound
	}
	if !slices.Equal(bound["store"], []string{"notify", "token_claims"}) || !slices.Equal(bound["fetch"], []string{"sign_in/github"}) || len(bound["claims"]) != 0 {
		t.Errorf("status bindings %v", bound)
	}

	// New settings load the plugin again with them.
	store, _ := h.Plugin("store")
	next := granted(cfg)
	next.Settings["store"] = config.PluginSettings{KV: true, Config: map[string]any{"x": 1}}
	if err := h.Reconfigure(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	if now, _ := h.Plugin("store"); now == store {
		t.Error("store not reloaded with its new settings")
	}
}

// TestReconfigureRefused: a configuration with bindings its plugins cannot
// serve, or settings a serving plugin cannot load with, is refused with
// every problem at once, and changes nothing: neither bindings, nor
// settings, nor any plugin version.
func TestReconfigureRefused(t *testing.T) {
	h, cfg := reconfigureHost(t)
	if err := h.Reconfigure(context.Background(), granted(cfg)); err != nil {
		t.Fatal(err)
	}
	before := map[string]*Plugin{}
	for _, name := range []string{"claims", "store", "fetch"} {
		before[name], _ = h.Plugin(name)
	}
	bad := granted(cfg)
	bad.Settings = map[string]config.PluginSettings{
		"fetch": {HTTPAllow: []string{"https://api.example.com/*"}},
		"store": {KV: false, Config: map[string]any{"changed": true}}, // store imports kv_get
	}
	bad.Hooks = map[string]any{
		"token_claims": "claims",                          // a good change, not applied either
		"resolve_user": "claims",                          // claims serves only token_claims
		"notify":       "absent",                          // no such plugin
		"sign_in":      map[string]any{"github": "fetch"}, // unchanged
	}
	err := h.Reconfigure(context.Background(), bad)
	var refused *ConfigRefused
	if !errors.As(err, &refused) {
		t.Fatalf("Reconfigure: %v, want *ConfigRefused", err)
	}
	var keys []string
	for _, p := range refused.Problems {
		key, _, _ := strings.Cut(p.Error(), ":")
		keys = append(keys, key)
	}
	if want := []string{"plugins.settings.store", "plugins.hooks.notify", "plugins.hooks.resolve_user"}; !slices.Equal(keys, want) {
		t.Errorf("problems %v, want keys %v", refused.Problems, want)
	}
	for _, name := range []string{"claims", "store", "fetch"} {
		if now, _ := h.Plugin(name); now != before[name] {
			t.Errorf("%s changed by a refused configuration", name)
		}
	}
	if name, _ := h.For(hook.TokenClaims, ""); name != "store" {
		t.Errorf("token_claims bound to %q after a refused configuration", name)
	}
	if _, ok := h.For(hook.ResolveUser, ""); ok {
		t.Error("resolve_user bound by a refused configuration")
	}
	if err := h.CallHook(context.Background(), hook.Notify, "", map[string]string{"event": "y"}, nil); err != nil {
		t.Errorf("notify after a refused configuration: %v", err)
	}
	if got := claimsOf(t, h); got["hook"] != "notify" {
		t.Errorf("token_claims after a refused configuration: %v", got)
	}
}

// TestReloadConfig: the source is read again; an invalid configuration is
// refused with each of its problems and changes nothing; a valid one is
// applied, and the keys that changed but need a restart are named.
func TestReloadConfig(t *testing.T) {
	h, cfg := reconfigureHost(t)
	running := &config.Config{Plugins: cfg}
	var next *config.Config
	var readErr error
	h.SetConfigSource(running, func() (*config.Config, error) { return next, readErr })

	readErr = fmt.Errorf("invalid configuration:\n%w", errors.Join(
		errors.New("server.addr: must not be empty"), errors.New("plugins.hooks.nope: is not a hook")))
	restart, err := h.ReloadConfig(context.Background())
	var refused *ConfigRefused
	if !errors.As(err, &refused) || len(refused.Problems) != 2 || restart != nil {
		t.Fatalf("invalid configuration: %v %v", restart, err)
	}
	if name, _ := h.For(hook.TokenClaims, ""); name != "claims" {
		t.Errorf("token_claims bound to %q after an invalid configuration", name)
	}

	readErr = nil
	next = &config.Config{Plugins: granted(cfg)}
	next.Server.Addr = "127.0.0.1:9999"
	next.Plugins.Watch = true
	restart, err = h.ReloadConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(restart, []string{"server", "plugins.watch"}) {
		t.Errorf("restart needed %v", restart)
	}
	if name, _ := h.For(hook.TokenClaims, ""); name != "store" {
		t.Errorf("token_claims bound to %q after the reload", name)
	}
}
