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
	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// Host serves every plugin of the configured directory and keeps them
// current: a changed, added or removed file takes effect on Reload
// (called by the directory watcher, SIGHUP and POST /admin/plugins/reload),
// and new plugin settings and hook bindings on Reconfigure.
// Load, validate, swap: a new version is compiled and instantiated aside,
// then the whole set is swapped atomically; calls in flight finish on the
// old version, which is closed once they have; a file that fails to load
// leaves the old version serving and its load error on record. A
// generation waits for its compiles only up to plugins.load_wait: a load
// still compiling then goes on in the background, outside the reload lock,
// and swaps itself in when done if the file and the plugin's settings are
// still those it was started for; meanwhile the previous version serves,
// or the plugin's calls fail closed ("plugin is loading").
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
	// reload serialises Reload, Reconfigure and background loads swapping
	// themselves in (watcher, SIGHUP and admin may race).
	reload sync.Mutex
	closed bool
	// latest holds the content hash of each file as the last generation
	// swapped in saw it (under reload): a background load swaps in only if
	// its content is still the file's.
	latest map[string]string
	// loading holds the loads still compiling after their generation was
	// swapped in, by plugin name (under lmu).
	lmu     sync.Mutex
	loading map[string]*pending
	// slots bounds concurrent compiles (CPU-bound); loads run under bgCtx,
	// cancelled by Close, and bg counts them.
	slots   chan struct{}
	bgCtx   context.Context
	bgStop  context.CancelFunc
	bg      sync.WaitGroup
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

// DefaultLoadWait is how long start-up and a reload wait for compiles when
// plugins.load_wait is not set.
const DefaultLoadWait = 10 * time.Second

// pending is one load: one content of one plugin's file with the settings
// of cfg. Its outcome is applied once, under Host.reload: by the
// generation that waited for it, or by itself when it finishes later.
type pending struct {
	name, hash, path string
	embedded         bool
	cfg              *config.Plugins
	since            time.Time
	done             chan struct{}
	res              loadResult // set before done is closed
	taken            bool       // under Host.reload
	// background: an earlier generation went on without it (under
	// Host.reload); later generations do not wait for it again.
	background bool
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
	h := &Host{cfg: cfg, kv: kv, logger: logger, rt: rt, stats: newHostStats(),
		latest: map[string]string{}, loading: map[string]*pending{}, slots: make(chan struct{}, runtime.GOMAXPROCS(0))}
	h.bgCtx, h.bgStop = context.WithCancel(context.WithoutCancel(ctx))
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
		if !ok && h.loadingSince(name) != nil {
			h.logger.Warn("a hook is bound to a plugin still compiling: its calls fail until it has loaded",
				"plugin", name, "bindings", bindings, "load_wait", h.loadWait())
			continue
		}
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
		return &Failure{Hook: hook, Reason: ReasonNotBound, Err: ErrNotBound}
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
			var err error = &Failure{Plugin: name, Hook: hook, Reason: ReasonNotLoaded, Err: h.loadError(name)}
			if since := h.loadingSince(name); since != nil {
				err = &Failure{Plugin: name, Hook: hook, Reason: ReasonLoading,
					Err: fmt.Errorf("compiling since %s", since.Format(time.RFC3339))}
			}
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
	loads := h.loadChanged(old, cfg, files)
	h.await(ctx, loads)
	next := &pluginSet{cfg: cfg, plugins: make(map[string]*loaded, len(files)), failed: map[string]loadFailure{}}
	var retire []*loaded
	var errs, refused []error
	compiling := map[string]bool{}
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
		pl := loads[name]
		select {
		case <-pl.done:
		default:
			// Still compiling: it goes on alone and swaps itself in when
			// done; the previous version serves meanwhile.
			if strict && hadPrev && !same {
				refused = append(refused, fmt.Errorf("plugins.settings.%s: plugin %s serves now and has not loaded with this configuration within plugins.load_wait (%s)", name, name, h.loadWait()))
				continue
			}
			h.background(pl)
			compiling[name] = true
			if hadPrev {
				next.plugins[name] = prev
			}
			h.logger.Warn("plugin still compiling: it serves once loaded, its calls fail closed until then (or its previous version serves)",
				"plugin", name, "version", short(f.hash), "load_wait", h.loadWait())
			continue
		}
		pl.taken = true
		p, loadErr := pl.res.p, pl.res.err
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
			next.failed[name] = loadFailure{hash: f.hash, err: loadErr, at: time.Now(), cancelled: h.bgCtx.Err() != nil || errors.Is(loadErr, context.Canceled)}
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
		refused = append(refused, checkBindings(old, next, compiling)...)
	}
	if len(refused) > 0 {
		// Nothing of this generation serves: close what it loaded.
		for name, pl := range loads {
			if l, ok := next.plugins[name]; ok && pl.taken && pl.res.p != nil && l.p == pl.res.p {
				if err := pl.res.p.Close(context.WithoutCancel(ctx)); err != nil {
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
	h.latest = make(map[string]string, len(files))
	for name, f := range files {
		h.latest[name] = f.hash
	}
	for _, l := range retire {
		h.retireLater(l)
	}
	return errors.Join(errs...)
}

// retireLater closes l once its calls in flight are done.
func (h *Host) retireLater(l *loaded) {
	h.retired.Add(1)
	go func() {
		defer h.retired.Done()
		h.retire(l)
	}()
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

// loadChanged starts a load, in the background and in parallel
// (compiling is CPU-bound), of every file that the generation of cfg will
// try: new or changed, with new settings, and not a content that already
// failed. A load of the same content and settings still compiling from an
// earlier generation is shared, not started again.
func (h *Host) loadChanged(old *pluginSet, cfg *config.Plugins, files map[string]pluginFile) map[string]*pending {
	loads := make(map[string]*pending, len(files))
	h.lmu.Lock()
	defer h.lmu.Unlock()
	for name, f := range files {
		if _, failed := old.knownFailure(name, f); sameSettings(old.cfg, cfg, name) && (old.unchanged(name, f) || failed) {
			continue
		}
		if pl, ok := h.loading[name]; ok && f.err == nil && pl.hash == f.hash && sameSettings(pl.cfg, cfg, name) {
			loads[name] = pl
			continue
		}
		pl := &pending{name: name, hash: f.hash, path: f.path, embedded: f.embedded, cfg: cfg, since: time.Now(), done: make(chan struct{})}
		loads[name] = pl
		if f.err != nil {
			pl.res = loadResult{err: f.err}
			close(pl.done)
			continue
		}
		h.bg.Add(1)
		go h.runLoad(pl, f.wasm)
	}
	return loads
}

// runLoad compiles and instantiates one file, then, unless a generation
// took the outcome while waiting for it, swaps it in itself.
func (h *Host) runLoad(pl *pending, wasm []byte) {
	defer h.bg.Done()
	select {
	case h.slots <- struct{}{}:
		p, err := h.rt.Load(h.bgCtx, pl.name, wasm, h.settings(pl.cfg, pl.name))
		<-h.slots
		pl.res = loadResult{p: p, err: err}
	case <-h.bgCtx.Done():
		pl.res = loadResult{err: h.bgCtx.Err()}
	}
	close(pl.done)
	h.reload.Lock()
	defer h.reload.Unlock()
	h.lmu.Lock()
	if h.loading[pl.name] == pl {
		delete(h.loading, pl.name)
	}
	h.lmu.Unlock()
	if !pl.taken {
		pl.taken = true
		h.apply(pl)
	}
}

// background records pl as loading past its generation (under h.reload).
func (h *Host) background(pl *pending) {
	pl.background = true
	h.lmu.Lock()
	defer h.lmu.Unlock()
	h.loading[pl.name] = pl
}

// await waits until every load is done, load_wait has passed or ctx ends.
func (h *Host) await(ctx context.Context, loads map[string]*pending) {
	timer := time.NewTimer(h.loadWait())
	defer timer.Stop()
	for _, pl := range loads {
		if pl.background {
			continue
		}
		select {
		case <-pl.done:
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (h *Host) loadWait() time.Duration {
	if h.cfg.LoadWait > 0 {
		return h.cfg.LoadWait
	}
	return DefaultLoadWait
}

// loadingSince returns when the background load of name started, or nil.
func (h *Host) loadingSince(name string) *time.Time {
	h.lmu.Lock()
	defer h.lmu.Unlock()
	if pl, ok := h.loading[name]; ok {
		return &pl.since
	}
	return nil
}

// apply swaps in the outcome of a load that finished after its generation:
// the new version (the old one retired), or its failure on record with the
// old version serving. A load whose content is no longer the file's, or
// whose settings are no longer the plugin's, or that finished after Close,
// is discarded. Called under h.reload.
func (h *Host) apply(pl *pending) {
	p, loadErr := pl.res.p, pl.res.err
	cur := h.set.Load()
	if h.closed || h.latest[pl.name] != pl.hash || !sameSettings(pl.cfg, cur.cfg, pl.name) {
		if p != nil {
			_ = p.Close(context.Background())
		}
		return
	}
	next := &pluginSet{cfg: cur.cfg, plugins: maps.Clone(cur.plugins), failed: maps.Clone(cur.failed)}
	name := pl.name
	prev, hadPrev := cur.plugins[name]
	if loadErr == nil && hadPrev {
		if dropped := droppedHooks(cur.cfg, name, prev.p, p); len(dropped) > 0 {
			_ = p.Close(context.Background())
			loadErr = &LoadError{Plugin: name, Reason: ReasonDropsBoundHook,
				Err: fmt.Errorf("no longer serves %s, bound to it in plugins.hooks", strings.Join(dropped, ", "))}
		}
	}
	if loadErr != nil {
		loadErr = fmt.Errorf("load %s: %w", pl.path, loadErr)
		next.failed[name] = loadFailure{hash: pl.hash, err: loadErr, at: time.Now(), cancelled: errors.Is(loadErr, context.Canceled)}
		reloadsTotal.WithLabelValues(name, "error").Inc()
		if hadPrev {
			h.logger.Error("plugin failed to load: the previous version keeps serving",
				"plugin", name, "version", short(prev.hash), "error", loadErr)
		} else {
			h.logger.Error("plugin failed to load", "plugin", name, "error", loadErr)
		}
		h.set.Store(next)
		return
	}
	next.plugins[name] = &loaded{p: p, hash: pl.hash, at: time.Now(), embedded: pl.embedded}
	delete(next.failed, name)
	h.set.Store(next)
	if hadPrev {
		h.retireLater(prev)
		reloadsTotal.WithLabelValues(name, "reloaded").Inc()
		h.logger.Info("plugin reloaded", "plugin", name, "version", short(pl.hash), "previous", short(prev.hash),
			"hooks", p.Hooks(), "embedded", pl.embedded)
	} else {
		reloadsTotal.WithLabelValues(name, "loaded").Inc()
		h.logger.Info("plugin loaded", "plugin", name, "version", short(pl.hash), "hooks", p.Hooks(), "embedded", pl.embedded)
	}
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
		InitTimeout:      l.InitTimeout,
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
	h.bgStop()
	set := h.set.Swap(&pluginSet{cfg: h.set.Load().cfg, plugins: map[string]*loaded{}, failed: map[string]loadFailure{}})
	h.reload.Unlock()
	// Loads in progress stop at their next function and discard themselves.
	h.bg.Wait()
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

// Hooks is what the server asks of its plugins: one method per hook of
// ABI v1, with package hook's input and result. A plugin's refusal is a
// *Refusal, anything else that goes wrong a *Failure; a hook no plugin is
// bound to fails with a *Failure wrapping ErrNotBound, which callers for
// which the hook is optional take as "nothing to do". *Host implements it.
type Hooks interface {
	// For names the plugin bound to name (for provider, with sign_in and
	// auth_handler), whether or not it is loaded.
	For(name, provider string) (plugin string, ok bool)
	SignIn(ctx context.Context, provider string, in hook.SignInInput) (hook.SignInResult, error)
	AuthHandler(ctx context.Context, provider string, in hook.AuthHandlerInput) (hook.AuthHandlerResult, error)
	ResolveUser(ctx context.Context, in hook.ResolveUserInput) (hook.ResolveUserResult, error)
	Notify(ctx context.Context, in hook.NotifyInput) (hook.NotifyResult, error)
	TokenClaims(ctx context.Context, in hook.TokenClaimsInput) (hook.TokenClaimsResult, error)
}

var _ Hooks = (*Host)(nil)

func (h *Host) SignIn(ctx context.Context, provider string, in hook.SignInInput) (hook.SignInResult, error) {
	return callBound[hook.SignInResult](ctx, h, hook.SignIn, provider, in)
}

func (h *Host) AuthHandler(ctx context.Context, provider string, in hook.AuthHandlerInput) (hook.AuthHandlerResult, error) {
	return callBound[hook.AuthHandlerResult](ctx, h, hook.AuthHandler, provider, in)
}

func (h *Host) ResolveUser(ctx context.Context, in hook.ResolveUserInput) (hook.ResolveUserResult, error) {
	return callBound[hook.ResolveUserResult](ctx, h, hook.ResolveUser, "", in)
}

func (h *Host) Notify(ctx context.Context, in hook.NotifyInput) (hook.NotifyResult, error) {
	return callBound[hook.NotifyResult](ctx, h, hook.Notify, "", in)
}

func (h *Host) TokenClaims(ctx context.Context, in hook.TokenClaimsInput) (hook.TokenClaimsResult, error) {
	return callBound[hook.TokenClaimsResult](ctx, h, hook.TokenClaims, "", in)
}

func callBound[R any](ctx context.Context, h *Host, name, provider string, in any) (R, error) {
	var out R
	err := h.CallHook(ctx, name, provider, in, &out)
	return out, err
}
