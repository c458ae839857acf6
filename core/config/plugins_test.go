package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/config"
)

func TestPluginsDefaults(t *testing.T) {
	cfg, err := config.Load(gatehouse.DefaultConfig, "")
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Plugins
	if p.Dir != "./plugins/bin" || !p.Watch {
		t.Errorf("dir %q watch %v, want ./plugins/bin and true", p.Dir, p.Watch)
	}
	want := config.PluginLimits{MemoryPages: 256, Timeout: 2 * time.Second, PoolSize: 4, MaxRequestBytes: 1 << 20, MaxResponseBytes: 1 << 20,
		MaxModuleBytes: 32 << 20, MaxTableElements: 1 << 17, CompileTimeout: 5 * time.Minute, InitTimeout: 10 * time.Second, MaxLogBytes: 64 << 10,
		KVMaxKeys: 10000, KVMaxBytes: 16 << 20, MaxClaimsBytes: 8 << 10}
	if p.Defaults != want {
		t.Errorf("defaults %+v, want %+v", p.Defaults, want)
	}
	if got := p.Bound(); !slices.Equal(got, []string{"directory-static", "notify-default", "signin-default"}) {
		t.Errorf("bound %v", got)
	}
	if users, _ := p.Settings["directory-static"].Config["users"].([]any); len(users) == 0 {
		t.Errorf("directory-static has no example users: %#v", p.Settings["directory-static"].Config)
	}
}

func TestPluginsBinding(t *testing.T) {
	p := config.Plugins{Hooks: map[string]any{
		"sign_in":      map[string]any{"github": "signin-github", "default": "signin-default"},
		"auth_handler": map[string]any{"github": "shape-github"},
		"resolve_user": "directory-static",
		"notify":       "",
	}}
	tests := []struct {
		hook, provider, want string
		ok                   bool
	}{
		{"sign_in", "github", "signin-github", true},
		{"sign_in", "google", "signin-default", true},
		{"sign_in", "", "signin-default", true},
		{"auth_handler", "github", "shape-github", true},
		{"auth_handler", "google", "", false},
		{"resolve_user", "", "directory-static", true},
		{"resolve_user", "github", "directory-static", true},
		{"notify", "", "", false},
		{"token_claims", "", "", false},
		{"nonsense", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.hook+"/"+tt.provider, func(t *testing.T) {
			got, ok := p.Binding(tt.hook, tt.provider)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Binding(%q, %q) = %q, %v; want %q, %v", tt.hook, tt.provider, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestPluginsLimitsFor(t *testing.T) {
	p := config.Plugins{
		Defaults: config.PluginLimits{MemoryPages: 256, Timeout: 2 * time.Second, PoolSize: 4, MaxRequestBytes: 100, MaxResponseBytes: 200},
		Settings: map[string]config.PluginSettings{"big": {Limits: config.PluginLimits{MemoryPages: 1024, PoolSize: 8}}},
	}
	got := p.LimitsFor("big")
	want := config.PluginLimits{MemoryPages: 1024, Timeout: 2 * time.Second, PoolSize: 8, MaxRequestBytes: 100, MaxResponseBytes: 200}
	if got != want {
		t.Errorf("LimitsFor(big) = %+v, want %+v", got, want)
	}
	if got := p.LimitsFor("other"); got != p.Defaults {
		t.Errorf("LimitsFor(other) = %+v, want the defaults", got)
	}
}

// TestPluginsInvalid loads YAML over the embedded defaults and expects every
// listed problem in one error.
func TestPluginsInvalid(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"non-positive defaults", `
plugins:
  defaults: {memory_pages: 0, timeout: 0s, pool_size: -1, max_request_bytes: 0, max_response_bytes: -5}
`, []string{"plugins.defaults.memory_pages", "plugins.defaults.timeout", "plugins.defaults.pool_size",
			"plugins.defaults.max_request_bytes", "plugins.defaults.max_response_bytes"}},
		{"non-positive sandbox limits", `
plugins:
  defaults: {max_module_bytes: 0, max_table_elements: 0, compile_timeout: 0s, max_log_bytes: -1, kv_max_keys: 0, kv_max_bytes: -1, max_claims_bytes: 0}
  settings:
    p1:
      limits: {max_table_elements: 200000000, kv_max_keys: -1}
`, []string{"plugins.defaults.max_module_bytes", "plugins.defaults.max_table_elements", "plugins.defaults.compile_timeout",
			"plugins.defaults.max_log_bytes", "plugins.defaults.kv_max_keys", "plugins.defaults.kv_max_bytes", "plugins.defaults.max_claims_bytes",
			"plugins.settings.p1.limits.max_table_elements: must be at most 134217728", "plugins.settings.p1.limits.kv_max_keys"}},
		{"too much memory", `
plugins:
  defaults: {memory_pages: 70000}
`, []string{"plugins.defaults.memory_pages: must be at most 65536"}},
		{"negative overrides and durations", `
plugins:
  settings:
    p1:
      http_timeout: -1s
      http_allow: ["https://[bad", ""]
      limits: {timeout: -2s, pool_size: -3}
`, []string{"plugins.settings.p1.http_timeout", "plugins.settings.p1.http_allow[0]", "plugins.settings.p1.http_allow[1]",
			"plugins.settings.p1.limits.timeout", "plugins.settings.p1.limits.pool_size"}},
		{"http_allow globs the URL matcher cannot read", `
plugins:
  settings:
    p1:
      http_allow: ["http://*.example.com/*", "https://api-*.example.com/", "https://api.example.com/cb-*", "ftp://files.example.com/*", "https://api.example.com/*?q=1", "https://api.example.com/**/x"]
`, []string{`plugins.settings.p1.http_allow[1]: "https://api-*.example.com/" host label "api-*": a wildcard must be a whole label`,
			`plugins.settings.p1.http_allow[2]: "https://api.example.com/cb-*" path segment "cb-*": a wildcard must be a whole segment`,
			`plugins.settings.p1.http_allow[3]: "ftp://files.example.com/*" must be an http or https URL pattern`,
			`plugins.settings.p1.http_allow[4]: "https://api.example.com/*?q=1" has a query or fragment`,
			`plugins.settings.p1.http_allow[5]: "https://api.example.com/**/x" may use ** only as the last path segment`}},
		{"unknown hooks and bad bindings", `
plugins:
  hooks:
    sign_on: foo
    notify: {github: x}
    sign_in: {github: "../evil"}
    resolve_user: [a, b]
`, []string{"plugins.hooks.sign_on: is not a hook", "plugins.hooks.notify: must be one plugin name",
			"plugins.hooks.sign_in.github: must be a plugin name", "plugins.hooks.resolve_user: must be a plugin name or a map"}},
		{"watch without a directory", `
plugins:
  dir: ""
`, []string{"plugins.dir: must be set when watch is on"}},
		{"keys no field reads", `
plugins:
  defaults: {memory_page: 16}
  settings:
    p1:
      http.allow: ["https://api.example.com/*"]
      kv_enabled: true
      limits: {timeout: 1s, pool: 2}
    p2: {config: {anything: goes}}
`, []string{"plugins.defaults.memory_page: is not a key here (want one of memory_pages, timeout,",
			"plugins.settings.p1.http.allow: is not a key here (want one of config, http_allow, http_timeout, kv, limits)",
			"plugins.settings.p1.kv_enabled: is not a key here", "plugins.settings.p1.limits.pool: is not a key here"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := config.Load(gatehouse.DefaultConfig, path)
			if err == nil {
				t.Fatal("Load accepted an invalid plugins section")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestPluginsHTTPAllowValid: the pattern forms sdk/ABI.md documents load.
func TestPluginsHTTPAllowValid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	yaml := `
plugins:
  settings:
    p1:
      http_allow: ["https://api.example.com/users/*", "https://*.example.com/v1/**", "http://127.0.0.1:*/", "https://[::1]:8443/x"]
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(gatehouse.DefaultConfig, path); err != nil {
		t.Fatal(err)
	}
}

func TestPluginsBadDuration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("plugins:\n  defaults:\n    timeout: soon\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(gatehouse.DefaultConfig, path); err == nil {
		t.Fatal("Load accepted timeout: soon")
	}
}

func TestPluginsEnvOverride(t *testing.T) {
	t.Setenv("GATEHOUSE_PLUGINS__HOOKS__TOKEN_CLAIMS", "claims-extra")
	t.Setenv("GATEHOUSE_PLUGINS__DIR", "/opt/plugins")
	cfg, err := config.Load(gatehouse.DefaultConfig, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := cfg.Plugins.Binding("token_claims", ""); !ok || got != "claims-extra" {
		t.Errorf("token_claims bound to %q, %v", got, ok)
	}
	if cfg.Plugins.Dir != "/opt/plugins" {
		t.Errorf("dir %q", cfg.Plugins.Dir)
	}
}

// TestPluginSettingsFromEnvironment: a plugin whose name has a hyphen is
// configured through a variable a shell can export (with _ for -).
func TestPluginSettingsFromEnvironment(t *testing.T) {
	t.Setenv("GATEHOUSE_PLUGINS__SETTINGS__SIGNIN_DEFAULT__CONFIG__RESOLVER", "emailMatchingUserEntityProfileEmail")
	cfg, err := config.Load(gatehouse.DefaultConfig, "")
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Plugins.Settings["signin-default"].Config["resolver"]
	if got != "emailMatchingUserEntityProfileEmail" {
		t.Errorf("signin-default resolver from the environment: %v", got)
	}
	if _, ok := cfg.Plugins.Settings["signin_default"]; ok {
		t.Error("the variable made a plugin signin_default of its own")
	}
}

func TestPluginCacheDir(t *testing.T) {
	for _, tc := range []struct {
		backend, dir, cache, want string
	}{
		{"badger", "/var/lib/gatehouse", "", filepath.Join("/var/lib/gatehouse", "wasm-cache")},
		{"badger", "/var/lib/gatehouse", "/cache", "/cache"},
		{"memory", "/var/lib/gatehouse", "", ""},
		{"memory", "", "/cache", "/cache"},
	} {
		var c config.Config
		c.Storage.Backend, c.Storage.Dir, c.Plugins.CacheDir = tc.backend, tc.dir, tc.cache
		if got := c.PluginCacheDir(); got != tc.want {
			t.Errorf("%s %q cache_dir %q: %q, want %q", tc.backend, tc.dir, tc.cache, got, tc.want)
		}
	}
}
