package config

import (
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/knadh/koanf/v2"

	"github.com/gatehouse-auth/gatehouse/core/urlpattern"
	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// DefaultProvider is the key of a per-provider hook binding that serves
// every provider not named explicitly.
const DefaultProvider = "default"

// perProvider lists the hooks bound per sign-in provider; the others are
// bound to one plugin for the whole server.
var perProvider = []string{hook.SignIn, hook.AuthHandler}

// Plugins configures the Wasm plugin host.
type Plugins struct {
	// Dir holds the plugins: every <name>.wasm in it is loaded as plugin
	// <name>. A missing directory is logged and leaves every hook unbound.
	Dir string `koanf:"dir"`
	// CacheDir keeps wazero's compiled code across restarts. Empty puts it
	// beside the data (storage.dir/wasm-cache) with the badger backend and
	// keeps it in memory with the memory backend: see Config.PluginCacheDir.
	CacheDir string `koanf:"cache_dir"`
	// Watch reloads plugins when a file in Dir changes (fsnotify).
	Watch bool `koanf:"watch"`
	// LoadWait is how long start-up and a reload wait for plugins to
	// compile; a plugin still compiling then loads in the background, its
	// hooks failing closed until it has.
	LoadWait time.Duration `koanf:"load_wait"`
	// Defaults are the limits of every plugin without overrides.
	Defaults PluginLimits `koanf:"defaults"`
	// Settings are per plugin name: its config block, grants and limits.
	Settings map[string]PluginSettings `koanf:"settings"`
	// Hooks binds hooks to plugins: sign_in and auth_handler take either a
	// plugin name (every provider) or a map provider → plugin with an
	// optional "default" entry; the other hooks take one plugin name.
	// An empty name leaves the hook unbound.
	Hooks map[string]any `koanf:"hooks"`
}

// PluginLimits bound one plugin. In per-plugin overrides a zero field
// inherits the default.
type PluginLimits struct {
	// MemoryPages caps the guest's linear memory, in 64 KiB pages.
	MemoryPages int `koanf:"memory_pages"`
	// Timeout is the deadline of one hook call.
	Timeout time.Duration `koanf:"timeout"`
	// PoolSize is how many instances serve calls concurrently.
	PoolSize int `koanf:"pool_size"`
	// MaxRequestBytes and MaxResponseBytes cap the JSON crossing the ABI.
	MaxRequestBytes  int `koanf:"max_request_bytes"`
	MaxResponseBytes int `koanf:"max_response_bytes"`
	// MaxModuleBytes caps the .wasm file.
	MaxModuleBytes int `koanf:"max_module_bytes"`
	// MaxTableElements caps each table of the module: a larger minimum is
	// refused, a larger or missing maximum lowered to it.
	MaxTableElements int `koanf:"max_table_elements"`
	// CompileTimeout bounds compiling the module.
	CompileTimeout time.Duration `koanf:"compile_timeout"`
	// InitTimeout bounds starting an instance (_initialize included).
	InitTimeout time.Duration `koanf:"init_timeout"`
	// MaxLogBytes caps what one call may log (log, stdout and stderr).
	MaxLogBytes int `koanf:"max_log_bytes"`
	// KVMaxKeys and KVMaxBytes cap the plugin's kv namespace.
	KVMaxKeys  int `koanf:"kv_max_keys"`
	KVMaxBytes int `koanf:"kv_max_bytes"`
	// MaxClaimsBytes caps the extra claims of a sign_in or token_claims
	// result (JSON bytes).
	MaxClaimsBytes int `koanf:"max_claims_bytes"`
}

// PluginSettings are what one plugin is given.
type PluginSettings struct {
	// Config is sent to the plugin with every call as "config".
	Config map[string]any `koanf:"config"`
	// HTTPAllow lists the URL patterns (core/urlpattern: host label by
	// label, path segment by segment) that http_request may reach; empty
	// reaches nothing (each request answers url not allowed).
	HTTPAllow   []string      `koanf:"http_allow"`
	HTTPTimeout time.Duration `koanf:"http_timeout"`
	// KV grants kv_get/kv_put in the plugin's own namespace.
	KV bool `koanf:"kv"`
	// Limits override the defaults field by field.
	Limits PluginLimits `koanf:"limits"`
}

// maxMemoryPages is the 4 GiB limit of a 32-bit Wasm memory.
const maxMemoryPages = 65536

// maxTableElements keeps a table (8 bytes an element) under 1 GiB.
const maxTableElements = 1 << 27

// LimitsFor returns the limits of the named plugin: its overrides over the
// defaults.
func (p *Plugins) LimitsFor(name string) PluginLimits {
	l := p.Defaults
	o := p.Settings[name].Limits
	if o.MemoryPages != 0 {
		l.MemoryPages = o.MemoryPages
	}
	if o.Timeout != 0 {
		l.Timeout = o.Timeout
	}
	if o.PoolSize != 0 {
		l.PoolSize = o.PoolSize
	}
	if o.MaxRequestBytes != 0 {
		l.MaxRequestBytes = o.MaxRequestBytes
	}
	if o.MaxResponseBytes != 0 {
		l.MaxResponseBytes = o.MaxResponseBytes
	}
	if o.MaxModuleBytes != 0 {
		l.MaxModuleBytes = o.MaxModuleBytes
	}
	if o.MaxTableElements != 0 {
		l.MaxTableElements = o.MaxTableElements
	}
	if o.CompileTimeout != 0 {
		l.CompileTimeout = o.CompileTimeout
	}
	if o.InitTimeout != 0 {
		l.InitTimeout = o.InitTimeout
	}
	if o.MaxLogBytes != 0 {
		l.MaxLogBytes = o.MaxLogBytes
	}
	if o.KVMaxKeys != 0 {
		l.KVMaxKeys = o.KVMaxKeys
	}
	if o.KVMaxBytes != 0 {
		l.KVMaxBytes = o.KVMaxBytes
	}
	if o.MaxClaimsBytes != 0 {
		l.MaxClaimsBytes = o.MaxClaimsBytes
	}
	return l
}

// Binding returns the plugin bound to hook, for provider when the hook is
// bound per provider (sign_in, auth_handler): the provider's own entry,
// else the "default" entry. ok is false when the hook is unbound.
func (p *Plugins) Binding(hook, provider string) (name string, ok bool) {
	switch v := p.Hooks[hook].(type) {
	case string:
		return v, v != ""
	case map[string]any:
		if !slices.Contains(perProvider, hook) {
			return "", false
		}
		if s, _ := v[provider].(string); s != "" && provider != "" {
			return s, true
		}
		s, _ := v[DefaultProvider].(string)
		return s, s != ""
	}
	return "", false
}

// HookBinding is one binding of plugins.hooks that names a plugin: Hook,
// for Provider ("" when the hook is bound for the whole server), is served
// by Plugin. Key is its configuration key.
type HookBinding struct {
	Key, Hook, Provider, Plugin string
}

// Bindings lists the bindings that name a plugin, by hook (in the order of
// hook.Names), then provider.
func (p *Plugins) Bindings() []HookBinding {
	var out []HookBinding
	for _, name := range hook.Names {
		key := "plugins.hooks." + name
		switch v := p.Hooks[name].(type) {
		case string:
			if v != "" {
				out = append(out, HookBinding{key, name, "", v})
			}
		case map[string]any:
			for _, provider := range slices.Sorted(maps.Keys(v)) {
				if s, _ := v[provider].(string); s != "" {
					out = append(out, HookBinding{key + "." + provider, name, provider, s})
				}
			}
		}
	}
	return out
}

// Bound lists the plugin names some hook is bound to, sorted, without
// duplicates.
func (p *Plugins) Bound() []string {
	var names []string
	for _, b := range p.Bindings() {
		names = append(names, b.Plugin)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// validate returns every problem in the plugin configuration.
func (p *Plugins) validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	// Hooks may be bound without a directory: to the plugins the binary
	// embeds.
	if p.Dir == "" && p.Watch {
		bad("plugins.dir", "must be set when watch is on")
	}
	if p.LoadWait < 0 {
		bad("plugins.load_wait", "must not be negative, got %s", p.LoadWait)
	}
	validateLimits("plugins.defaults", p.Defaults, true, bad)
	names := slices.Sorted(maps.Keys(p.Settings))
	for _, name := range names {
		s := p.Settings[name]
		key := "plugins.settings." + name
		if !validPluginName(name) {
			bad(key, "is not a plugin name (the base name of a .wasm file, without the extension)")
		}
		for i, pat := range s.HTTPAllow {
			k := fmt.Sprintf("%s.http_allow[%d]", key, i)
			p, err := urlpattern.Parse(pat)
			switch {
			case err != nil:
				bad(k, "%q %v (want a URL pattern such as https://api.example.com/users/*)", pat, err)
			case !p.Web():
				bad(k, "%q must be an http or https URL pattern", pat)
			}
		}
		if s.HTTPTimeout < 0 {
			bad(key+".http_timeout", "must not be negative, got %s", s.HTTPTimeout)
		}
		validateLimits(key+".limits", s.Limits, false, bad)
	}
	for _, name := range slices.Sorted(maps.Keys(p.Hooks)) {
		key := "plugins.hooks." + name
		if !slices.Contains(hook.Names[:], name) {
			bad(key, "is not a hook (want one of %s)", strings.Join(hook.Names[:], ", "))
			continue
		}
		switch v := p.Hooks[name].(type) {
		case string:
			if v != "" && !validPluginName(v) {
				bad(key, "is not a plugin name, got %q", v)
			}
		case map[string]any:
			if !slices.Contains(perProvider, name) {
				bad(key, "must be one plugin name (only %s are bound per provider)", strings.Join(perProvider, " and "))
				continue
			}
			for _, provider := range slices.Sorted(maps.Keys(v)) {
				s, ok := v[provider].(string)
				if !ok || (s != "" && !validPluginName(s)) {
					bad(key+"."+provider, "must be a plugin name, got %v", v[provider])
				}
			}
		case nil:
		default:
			bad(key, "must be a plugin name or a map of provider to plugin name, got %v", v)
		}
	}
	return errs
}

// validateLimits checks one set of limits; required means every field must
// be set (the defaults), otherwise zero inherits.
func validateLimits(key string, l PluginLimits, required bool, bad func(key, format string, args ...any)) {
	positive := func(field string, v int64, unit string) {
		if v < 0 || (required && v == 0) {
			if required {
				bad(key+"."+field, "must be positive, got %d%s", v, unit)
			} else {
				bad(key+"."+field, "must not be negative (0 inherits the default), got %d%s", v, unit)
			}
		}
	}
	positive("memory_pages", int64(l.MemoryPages), "")
	if l.MemoryPages > maxMemoryPages {
		bad(key+".memory_pages", "must be at most %d (4 GiB), got %d", maxMemoryPages, l.MemoryPages)
	}
	if l.Timeout < 0 || (required && l.Timeout == 0) {
		bad(key+".timeout", "must be a positive duration, got %s", l.Timeout)
	}
	positive("pool_size", int64(l.PoolSize), "")
	positive("max_request_bytes", int64(l.MaxRequestBytes), " bytes")
	positive("max_response_bytes", int64(l.MaxResponseBytes), " bytes")
	positive("max_module_bytes", int64(l.MaxModuleBytes), " bytes")
	positive("max_table_elements", int64(l.MaxTableElements), "")
	if l.MaxTableElements > maxTableElements {
		bad(key+".max_table_elements", "must be at most %d, got %d", maxTableElements, l.MaxTableElements)
	}
	if l.CompileTimeout < 0 || (required && l.CompileTimeout == 0) {
		bad(key+".compile_timeout", "must be a positive duration, got %s", l.CompileTimeout)
	}
	if l.InitTimeout < 0 || (required && l.InitTimeout == 0) {
		bad(key+".init_timeout", "must be a positive duration, got %s", l.InitTimeout)
	}
	positive("max_log_bytes", int64(l.MaxLogBytes), " bytes")
	positive("kv_max_keys", int64(l.KVMaxKeys), "")
	positive("kv_max_bytes", int64(l.KVMaxBytes), " bytes")
	positive("max_claims_bytes", int64(l.MaxClaimsBytes), " bytes")
}

// validPluginName accepts what can be the base name of a file in the plugin
// directory.
func validPluginName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, `/\`+"\x00") &&
		strings.TrimSpace(name) == name
}

// PluginCacheDir is where compiled plugins are kept: plugins.cache_dir, or
// by default a wasm-cache directory beside the Badger data (none, in
// memory, with the memory backend).
func (c *Config) PluginCacheDir() string {
	if c.Plugins.CacheDir != "" || c.Storage.Backend != "badger" {
		return c.Plugins.CacheDir
	}
	return filepath.Join(c.Storage.Dir, "wasm-cache")
}

// unknownPluginKeys lists the keys under plugins.defaults and
// plugins.settings.<name> (and its limits) that no field reads. Decoding
// drops them silently, so a misspelt grant (http.allow for http_allow)
// would leave the plugin without it and nothing would say why.
func unknownPluginKeys(k *koanf.Koanf) []error {
	var errs []error
	check := func(key string, v any, fields []string) map[string]any {
		m, _ := v.(map[string]any)
		for _, name := range slices.Sorted(maps.Keys(m)) {
			if !slices.Contains(fields, name) {
				errs = append(errs, fmt.Errorf("%s.%s: is not a key here (want one of %s)", key, name, strings.Join(fields, ", ")))
			}
		}
		return m
	}
	settingsKeys, limitsKeys := koanfKeys(reflect.TypeFor[PluginSettings]()), koanfKeys(reflect.TypeFor[PluginLimits]())
	check("plugins.defaults", k.Get("plugins.defaults"), limitsKeys)
	settings, _ := k.Get("plugins.settings").(map[string]any)
	for _, name := range slices.Sorted(maps.Keys(settings)) {
		key := "plugins.settings." + name
		if s := check(key, settings[name], settingsKeys); s != nil {
			check(key+".limits", s["limits"], limitsKeys)
		}
	}
	return errs
}

// koanfKeys lists the koanf tags of a struct's fields.
func koanfKeys(t reflect.Type) []string {
	keys := make([]string, 0, t.NumField())
	for f := range t.Fields() {
		if tag := f.Tag.Get("koanf"); tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	return keys
}
