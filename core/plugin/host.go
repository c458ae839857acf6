package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/outbound"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// Host serves every plugin of the configured directory and keeps them
// current: a changed, added or removed file takes effect on Reload
// (called by the directory watcher, SIGHUP and POST /admin/plugins/reload),
// and new plugin settings and hook bindings on Reconfigure.
// Load, validate, swap: a new version is compiled and instantiated aside,
// then the whole set is swapped atomically; calls in flight finish on the
// old version, which is closed once they have; a file that fails to load
// leaves the old version serving and its load error on record.
type Host struct {
	// cfg is the configuration at start; its dir, cache_dir and watch stay
	// for the life of the host. The settings and hooks serving now are
	// those of the current pluginSet.
	cfg    config.Plugins
	kv     store.KV
	logger *slog.Logger
	rt     *Runtime
	out    *outbound.Client // http_request's client; nil: outbound.Default

	set atomic.Pointer[pluginSet]
	// reload serialises Reload (watcher, SIGHUP and admin may race).
	reload  sync.Mutex
	closed  bool
	retired sync.WaitGroup // old versions draining in the background
	stats   *hostStats
	watch   *watcher
	src     atomic.Pointer[source] // what ReloadConfig reads
	// embedded are the modules the binary carries, by plugin name.
	embedded map[string]pluginFile
}

// Option configures a Host.
type Option func(*Host)

// WithEmbedded gives the host modules it serves without a file (the
// first-party plugins the binary carries), by plugin name. One is loaded
// when a hook is bound to it and the plugin directory holds no file of its
// name: such a file overrides it, and removing the file brings it back.
func WithEmbedded(modules map[string][]byte) Option {
	return func(h *Host) {
		h.embedded = make(map[string]pluginFile, len(modules))
		for name, wasm := range modules {
			sum := sha256.Sum256(wasm)
			h.embedded[name] = pluginFile{path: "embedded " + name + ".wasm", wasm: wasm, hash: hex.EncodeToString(sum[:]), embedded: true}
		}
	}
}

// pluginSet is one immutable generation of the plugin directory and of the
// configuration (settings, hook bindings) its plugins were loaded with, so
// that bindings and plugins change together in one swap.
type pluginSet struct {
	cfg     *config.Plugins
	plugins map[string]*loaded
	// failed records the last failed load of a file, by plugin name; the
	// previous version (if any) is still in plugins.
	failed map[string]loadFailure
}

// loaded is one version of one plugin.
type loaded struct {
	p        *Plugin
	hash     string
	at       time.Time
	embedded bool
	// mu is held for reading by every call and for writing by retire, so
	// that a caller holding a stale set never calls a closed plugin.
	mu      sync.RWMutex
	retired bool
}

type loadFailure struct {
	hash string
	err  error
	at   time.Time
	// cancelled loads are retried by the next reload even if the file
	// has not changed.
	cancelled bool
}

// ErrNotBound is the Err of the *Failure returned by CallHook when the
// configuration binds no plugin to the hook.
var ErrNotBound = errors.New("no plugin is bound to this hook")

// NewHost starts the runtime and loads the plugin directory (its files in
// parallel: compiling is CPU-bound). A missing directory, or plugins that
// fail to load, are logged and do not fail it: the hooks they would serve
// fail closed until a reload finds them. It fails only when the runtime
// cannot start.
func NewHost(ctx context.Context, cfg config.Plugins, kv store.KV, logger *slog.Logger, opts ...Option) (*Host, error) {
	if logger == nil {
		logger = slog.Default()
	}
	rt, err := NewRuntime(ctx, cfg.CacheDir)
	if err != nil && cfg.CacheDir != "" {
		logger.Warn("plugin compilation cache unavailable, compiling in memory", "cache_dir", cfg.CacheDir, "error", err)
		rt, err = NewRuntime(ctx, "")
	}
	if err != nil {
		return nil, fmt.Errorf("plugin: start runtime: %w", err)
	}
	h := &Host{cfg: cfg, kv: kv, logger: logger, rt: rt, stats: newHostStats()}
	for _, o := range opts {
		o(h)
	}
	h.set.Store(&pluginSet{cfg: &h.cfg, plugins: map[string]*loaded{}, failed: map[string]loadFailure{}})
	h.firstLoad(ctx)
	return h, nil
}

// WithOutbound sends the plugins' http_request through out (the server's
// outbound client) instead of outbound.Default.
func WithOutbound(out *outbound.Client) Option { return func(h *Host) { h.out = out } }

// firstLoad loads the directory, warns about bindings it cannot serve and
// starts watching the directory.
func (h *Host) firstLoad(ctx context.Context) {
	if err := h.Reload(ctx); err != nil {
		h.logger.Warn("some plugins did not load", "dir", h.cfg.Dir, "error", err)
	}
	for name, bindings := range bindings(h.set.Load().cfg) {
		l, ok := h.set.Load().plugins[name]
		if !ok {
			h.logger.Warn("a hook is bound to a plugin that is not loaded: its calls fail until it loads",
				"plugin", name, "bindings", bindings, "dir", h.cfg.Dir)
			continue
		}
		for _, b := range bindings {
			if hook, _, _ := strings.Cut(b, "/"); !l.p.Serves(hook) {
				h.logger.Warn("a hook is bound to a plugin that does not serve it: its calls fail",
					"plugin", name, "hook", hook, "serves", l.p.Hooks())
			}
		}
	}
	if h.cfg.Watch && h.cfg.Dir != "" {
		w, err := h.startWatch()
		if err != nil {
			h.logger.Warn("not watching the plugin directory: reload with SIGHUP or POST /admin/plugins/reload",
				"dir", h.cfg.Dir, "error", err)
		}
		h.watch = w
	}
}

// Plugin returns the version of the named plugin serving now.
func (h *Host) Plugin(name string) (*Plugin, bool) {
	l, ok := h.set.Load().plugins[name]
	if !ok {
		return nil, false
	}
	return l.p, true
}

// For returns the plugin bound to hook (for provider, with sign_in and
// auth_handler), whether or not it is loaded.
func (h *Host) For(hook, provider string) (pluginName string, ok bool) {
	return h.set.Load().cfg.Binding(hook, provider)
}

// CallHook calls the plugin bound to hook (for provider where the hook is
// bound per provider). An unbound hook is a *Failure wrapping ErrNotBound;
// callers for which the hook is optional check For first.
func (h *Host) CallHook(ctx context.Context, hook, provider string, input, out any) error {
	name, ok := h.For(hook, provider)
	if !ok {
		return &Failure{Hook: hook, Reason: "no plugin is bound to this hook", Err: ErrNotBound}
	}
	return h.Call(ctx, name, hook, input, out)
}

// Call runs hook on the named plugin's current version. A plugin that is
// not loaded is a *Failure: the caller fails closed.
func (h *Host) Call(ctx context.Context, name, hook string, input, out any) error {
	start := time.Now()
	for {
		l, ok := h.set.Load().plugins[name]
		if !ok {
			err := &Failure{Plugin: name, Hook: hook, Reason: "plugin is not loaded", Err: h.loadError(name)}
			h.stats.observe(name, hook, outcomeUnavailable, time.Since(start))
			return err
		}
		l.mu.RLock()
		if l.retired {
			// Swapped out between loading the set and locking: take the
			// newer generation.
			l.mu.RUnlock()
			continue
		}
		err := l.p.Call(ctx, hook, input, out)
		l.mu.RUnlock()
		h.stats.observe(name, hook, outcomeOf(err), time.Since(start))
		return err
	}
}

// loadError is the recorded load error of name, or a plain "not found".
func (h *Host) loadError(name string) error {
	if f, ok := h.set.Load().failed[name]; ok {
		return f.err
	}
	return fmt.Errorf("no %s.wasm in %s", name, h.cfg.Dir)
}

// Reload rescans the plugin directory: new and changed files (by content
// hash) are loaded aside, removed ones dropped, and the new set swapped in
// at once. A file that fails to load keeps its previous version serving;
// the returned error lists every such failure. An unchanged file is not
// reloaded, and neither is a file whose exact content already failed.
func (h *Host) Reload(ctx context.Context) error {
	h.reload.Lock()
	defer h.reload.Unlock()
	if h.closed {
		return errors.New("plugin: host is closed")
	}
	return h.load(ctx, h.set.Load().cfg, false)
}

// load builds the next generation from the directory and cfg and swaps it
// in. A plugin is loaded again when its file or its settings changed. With
// strict (Reconfigure), a serving plugin that fails to load and a new
// binding that its plugin cannot serve refuse the whole generation: it is
// discarded, nothing changes, and the error is a *ConfigRefused.
func (h *Host) load(ctx context.Context, cfg *config.Plugins, strict bool) error {
	files, err := h.scan(cfg)
	if err != nil {
		h.logger.Error("plugin directory unreadable: keeping the plugins loaded", "dir", h.cfg.Dir, "error", err)
		return fmt.Errorf("plugin: scan %s: %w", h.cfg.Dir, err)
	}
	old := h.set.Load()
	loads := h.loadChanged(ctx, old, cfg, files)
	next := &pluginSet{cfg: cfg, plugins: make(map[string]*loaded, len(files)), failed: map[string]loadFailure{}}
	var retire []*loaded
	var errs, refused []error
	for _, name := range slices.Sorted(maps.Keys(files)) {
		f := files[name]
		prev, hadPrev := old.plugins[name]
		same := sameSettings(old.cfg, cfg, name)
		if same && old.unchanged(name, f) {
			next.plugins[name] = prev
			continue
		}
		if fail, ok := old.knownFailure(name, f); ok && same {
			// Not retried, not logged again, but still reported.
			next.failed[name] = fail
			errs = append(errs, fail.err)
			if hadPrev {
				next.plugins[name] = prev
			}
			continue
		}
		p, loadErr := loads[name].p, loads[name].err
		if loadErr == nil && hadPrev {
			if dropped := droppedHooks(cfg, name, prev.p, p); len(dropped) > 0 {
				_ = p.Close(context.WithoutCancel(ctx))
				loadErr = &LoadError{Plugin: name, Reason: ReasonDropsBoundHook,
					Err: fmt.Errorf("no longer serves %s, bound to it in plugins.hooks", strings.Join(dropped, ", "))}
			}
		}
		if loadErr != nil && strict && hadPrev && !same {
			refused = append(refused, fmt.Errorf("plugins.settings.%s: plugin %s serves now and would not load with this configuration: %w", name, name, loadErr))
			continue
		}
		if loadErr != nil {
			loadErr = fmt.Errorf("load %s: %w", f.path, loadErr)
			next.failed[name] = loadFailure{hash: f.hash, err: loadErr, at: time.Now(), cancelled: ctx.Err() != nil}
			errs = append(errs, loadErr)
			reloadsTotal.WithLabelValues(name, "error").Inc()
			if hadPrev {
				next.plugins[name] = prev
				h.logger.Error("plugin failed to load: the previous version keeps serving",
					"plugin", name, "version", short(prev.hash), "error", loadErr)
			} else {
				h.logger.Error("plugin failed to load", "plugin", name, "error", loadErr)
			}
			continue
		}
		next.plugins[name] = &loaded{p: p, hash: f.hash, at: time.Now(), embedded: f.embedded}
		if hadPrev {
			retire = append(retire, prev)
			reloadsTotal.WithLabelValues(name, "reloaded").Inc()
			h.logger.Info("plugin reloaded", "plugin", name, "version", short(f.hash), "previous", short(prev.hash),
				"hooks", p.Hooks(), "embedded", f.embedded, "new_settings", !same)
		} else {
			reloadsTotal.WithLabelValues(name, "loaded").Inc()
			h.logger.Info("plugin loaded", "plugin", name, "version", short(f.hash), "hooks", p.Hooks(), "embedded", f.embedded)
		}
	}
	if strict {
		refused = append(refused, checkBindings(old, next)...)
	}
	if len(refused) > 0 {
		// Nothing of this generation serves: close what it loaded.
		for name, r := range loads {
			if l, ok := next.plugins[name]; ok && r.p != nil && l.p == r.p {
				if err := r.p.Close(context.WithoutCancel(ctx)); err != nil {
					h.logger.Warn("closing a plugin of a refused configuration", "plugin", name, "error", err)
				}
			}
		}
		return &ConfigRefused{Problems: refused}
	}
	for name, prev := range old.plugins {
		if _, ok := files[name]; !ok {
			retire = append(retire, prev)
			reloadsTotal.WithLabelValues(name, "removed").Inc()
			h.logger.Info("plugin removed", "plugin", name, "version", short(prev.hash))
		}
	}
	h.set.Store(next)
	for _, l := range retire {
		h.retired.Add(1)
		go func() {
			defer h.retired.Done()
			h.retire(l)
		}()
	}
	return errors.Join(errs...)
}

// droppedHooks lists the hooks bound to name in cfg that its serving
// version prev serves and its new version next does not: a reload must not
// break a binding that works.
func droppedHooks(cfg *config.Plugins, name string, prev, next *Plugin) []string {
	var out []string
	for _, b := range bindings(cfg)[name] {
		hook, _, _ := strings.Cut(b, "/")
		if prev.Serves(hook) && !next.Serves(hook) && !slices.Contains(out, hook) {
			out = append(out, hook)
		}
	}
	return out
}

// unchanged: the file is the version serving now.
func (s *pluginSet) unchanged(name string, f pluginFile) bool {
	prev, ok := s.plugins[name]
	return ok && f.err == nil && prev.hash == f.hash
}

// knownFailure returns the recorded failure of exactly this content (not
// retried); a cancelled load is retried.
func (s *pluginSet) knownFailure(name string, f pluginFile) (loadFailure, bool) {
	fail, ok := s.failed[name]
	return fail, ok && f.err == nil && fail.hash == f.hash && !fail.cancelled
}

// loadResult is the outcome of loading one file.
type loadResult struct {
	p   *Plugin
	err error
}

// loadChanged loads, in parallel (compiling is CPU-bound), every file that
// Reload will try: new or changed, and not a content that already failed.
func (h *Host) loadChanged(ctx context.Context, old *pluginSet, cfg *config.Plugins, files map[string]pluginFile) map[string]loadResult {
	results := make(map[string]loadResult, len(files))
	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, runtime.GOMAXPROCS(0))
	for name, f := range files {
		if _, failed := old.knownFailure(name, f); sameSettings(old.cfg, cfg, name) && (old.unchanged(name, f) || failed) {
			continue
		}
		if f.err != nil {
			results[name] = loadResult{err: f.err}
			continue
		}
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			p, err := h.rt.Load(ctx, name, f.wasm, h.settings(cfg, name))
			mu.Lock()
			results[name] = loadResult{p: p, err: err}
			mu.Unlock()
		})
	}
	wg.Wait()
	return results
}

// retire waits for the calls in flight on l, then closes it. The close
// gets a fresh context: the reload that swapped l out may be over.
func (h *Host) retire(l *loaded) {
	l.mu.Lock()
	l.retired = true
	l.mu.Unlock()
	if err := l.p.Close(context.Background()); err != nil {
		h.logger.Warn("closing an old plugin version", "plugin", l.p.Name(), "version", short(l.hash), "error", err)
	}
}

// pluginFile is one .wasm file of the directory (or one embedded module),
// read and hashed.
type pluginFile struct {
	path     string
	wasm     []byte
	hash     string
	err      error
	embedded bool
}

// scan reads every <name>.wasm of the directory, and adds the embedded
// modules that cfg binds and that have no file of their name. A missing
// directory is empty (logged); files that vanish while being read are
// skipped.
func (h *Host) scan(cfg *config.Plugins) (map[string]pluginFile, error) {
	files, err := h.scanDir()
	if err != nil {
		return nil, err
	}
	for _, name := range cfg.Bound() {
		if f, ok := h.embedded[name]; ok {
			if _, override := files[name]; !override {
				files[name] = f
			}
		}
	}
	return files, nil
}

func (h *Host) scanDir() (map[string]pluginFile, error) {
	files := map[string]pluginFile{}
	if h.cfg.Dir == "" {
		return files, nil
	}
	entries, err := os.ReadDir(h.cfg.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		h.logger.Warn("plugin directory does not exist: only embedded plugins load", "dir", h.cfg.Dir)
		return files, nil
	}
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".wasm")
		// Dotfiles are editors' and installers' temporaries.
		if !ok || name == "" || strings.HasPrefix(name, ".") || e.IsDir() {
			continue
		}
		path := filepath.Join(h.cfg.Dir, e.Name())
		wasm, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		sum := sha256.Sum256(wasm)
		files[name] = pluginFile{path: path, wasm: wasm, hash: hex.EncodeToString(sum[:]), err: err}
	}
	return files, nil
}

// settings builds what the named plugin gets from cfg.
func (h *Host) settings(cfg *config.Plugins, name string) Settings {
	c := cfg.Settings[name]
	s := Settings{
		HTTPAllow:   c.HTTPAllow,
		HTTPTimeout: c.HTTPTimeout,
		Logger:      h.logger,
		Outbound:    h.out,
	}
	if len(c.Config) > 0 {
		// A koanf map of YAML values always marshals.
		s.Config, _ = json.Marshal(c.Config)
	}
	if c.KV && h.kv != nil {
		// The runtime confines the plugin to keys under plugin/<name>/.
		s.KV = h.kv
	}
	l := cfg.LimitsFor(name)
	s.Limits = Limits{
		MemoryPages:      uint32(l.MemoryPages),
		Timeout:          l.Timeout,
		PoolSize:         l.PoolSize,
		MaxRequestBytes:  l.MaxRequestBytes,
		MaxResponseBytes: l.MaxResponseBytes,
		MaxModuleBytes:   l.MaxModuleBytes,
		MaxTableElements: uint32(min(max(l.MaxTableElements, 0), 1<<27)),
		CompileTimeout:   l.CompileTimeout,
		MaxLogBytes:      l.MaxLogBytes,
		KVMaxKeys:        l.KVMaxKeys,
		KVMaxBytes:       int64(l.KVMaxBytes),
		MaxClaimsBytes:   l.MaxClaimsBytes,
	}
	return s
}

// Close stops the watcher, then closes every plugin once its calls in
// flight are done, then the runtime.
func (h *Host) Close(ctx context.Context) error {
	if h.watch != nil {
		h.watch.stop()
	}
	h.reload.Lock()
	if h.closed {
		h.reload.Unlock()
		return nil
	}
	h.closed = true
	set := h.set.Swap(&pluginSet{cfg: h.set.Load().cfg, plugins: map[string]*loaded{}, failed: map[string]loadFailure{}})
	h.reload.Unlock()
	for _, l := range set.plugins {
		h.retired.Add(1)
		go func() {
			defer h.retired.Done()
			h.retire(l)
		}()
	}
	h.retired.Wait()
	if err := h.rt.Close(ctx); err != nil {
		return fmt.Errorf("plugin: close runtime: %w", err)
	}
	return nil
}

// short is the display form of a content hash.
func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}

// TokenClaims asks the token_claims plugin, if one is bound, for extra
// access-token claims (grant.ClaimsSource). Unbound, it adds none; a bound
// plugin that is missing, fails or refuses fails the token request.
func (h *Host) TokenClaims(ctx context.Context, clientID, subject, scope, grantType string) (map[string]any, error) {
	if _, ok := h.For(HookTokenClaims, ""); !ok {
		return nil, nil
	}
	in := struct {
		ClientID  string `json:"client_id"`
		Sub       string `json:"sub"`
		Scope     string `json:"scope"`
		GrantType string `json:"grant_type"`
	}{clientID, subject, scope, grantType}
	var out struct {
		Claims map[string]any `json:"claims"`
	}
	if err := h.CallHook(ctx, HookTokenClaims, "", in, &out); err != nil {
		return nil, err
	}
	return out.Claims, nil
}
