// Package plugin runs Gatehouse's WebAssembly plugins with wazero: it compiles
// a module once (with an on-disk compilation cache so restarts do not
// recompile), checks it against ABI v1 and the grants of its settings, keeps a
// pool of instances (one warmed at load, more as calls overlap) and calls hooks on them under a memory cap, a
// deadline and request/response size caps. sdk/ABI.md is the contract.
package plugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/outbound"
	"github.com/gatehouse-auth/gatehouse/core/plugin/internal/wasmlimit"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// ABIVersion is the value gh_abi_version() must return.
const ABIVersion = 1

// hookIndex is name's index in hook.Names, which indexes per-instance
// export tables.
func hookIndex(name string) int {
	for i, h := range hook.Names {
		if h == name {
			return i
		}
	}
	return -1
}

// Defaults for zero fields of Limits and Settings.
const (
	DefaultMemoryPages          = 256 // 16 MiB
	DefaultTimeout              = 2 * time.Second
	DefaultPoolSize             = 4
	DefaultMaxRequestBytes      = 1 << 20
	DefaultMaxResponseBytes     = 1 << 20
	DefaultHTTPTimeout          = 5 * time.Second
	DefaultMaxHTTPResponseBytes = 1 << 20
	DefaultMaxModuleBytes       = 32 << 20
	DefaultMaxTableElements     = 1 << 17
	DefaultCompileTimeout       = 5 * time.Minute
	DefaultInitTimeout          = 10 * time.Second
	DefaultMaxLogBytes          = 64 << 10
	DefaultKVMaxKeys            = 10000
	DefaultKVMaxBytes           = 16 << 20
	DefaultMaxClaimsBytes       = 8 << 10
)

// Limits bound one plugin. Zero fields take the defaults above.
type Limits struct {
	MemoryPages                       uint32
	Timeout                           time.Duration
	PoolSize                          int
	MaxRequestBytes, MaxResponseBytes int
	// MaxModuleBytes caps the .wasm file; MaxTableElements each table
	// (a larger or missing maximum is lowered to it); CompileTimeout the
	// compile.
	MaxModuleBytes   int
	MaxTableElements uint32
	CompileTimeout   time.Duration
	// InitTimeout bounds starting an instance: instantiation,
	// _initialize (a Go module's runtime start-up) and gh_abi_version.
	InitTimeout time.Duration
	// MaxLogBytes caps what one call may log (log, stdout and stderr).
	MaxLogBytes int
	// KVMaxKeys and KVMaxBytes cap the plugin's kv namespace (keys plus
	// values), across its versions.
	KVMaxKeys  int
	KVMaxBytes int64
	// MaxClaimsBytes caps the extra claims (JSON) of a sign_in or
	// token_claims result.
	MaxClaimsBytes int
}

func (l Limits) withDefaults() Limits {
	if l.MemoryPages == 0 {
		l.MemoryPages = DefaultMemoryPages
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.PoolSize <= 0 {
		l.PoolSize = DefaultPoolSize
	}
	if l.MaxRequestBytes <= 0 {
		l.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if l.MaxResponseBytes <= 0 {
		l.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if l.MaxModuleBytes <= 0 {
		l.MaxModuleBytes = DefaultMaxModuleBytes
	}
	if l.MaxTableElements == 0 {
		l.MaxTableElements = DefaultMaxTableElements
	}
	if l.CompileTimeout <= 0 {
		l.CompileTimeout = DefaultCompileTimeout
	}
	if l.InitTimeout <= 0 {
		l.InitTimeout = DefaultInitTimeout
	}
	if l.MaxLogBytes <= 0 {
		l.MaxLogBytes = DefaultMaxLogBytes
	}
	if l.KVMaxKeys <= 0 {
		l.KVMaxKeys = DefaultKVMaxKeys
	}
	if l.KVMaxBytes <= 0 {
		l.KVMaxBytes = DefaultKVMaxBytes
	}
	if l.MaxClaimsBytes <= 0 {
		l.MaxClaimsBytes = DefaultMaxClaimsBytes
	}
	return l
}

// Runtime owns the compilation cache shared by every plugin it loads. Each
// plugin gets a wazero runtime of its own (its memory limit and host module
// are its own), all compiling through the one cache.
type Runtime struct {
	cache wazero.CompilationCache

	mu      sync.Mutex
	plugins map[*Plugin]struct{}
	closed  bool
	// kvUsage is each plugin's kv namespace usage, by plugin name: shared
	// by its versions, counted on the first kv_put (kvquota.go).
	kvUsage map[string]*kvUsage
}

// NewRuntime opens the compilation cache in cacheDir (created if missing), or
// an in-memory one when cacheDir is "".
func NewRuntime(_ context.Context, cacheDir string) (*Runtime, error) {
	cache := wazero.NewCompilationCache()
	if cacheDir != "" {
		var err error
		if cache, err = wazero.NewCompilationCacheWithDir(cacheDir); err != nil {
			return nil, fmt.Errorf("plugin compilation cache %s: %w", cacheDir, err)
		}
	}
	return &Runtime{cache: cache, plugins: map[*Plugin]struct{}{}, kvUsage: map[string]*kvUsage{}}, nil
}

// Close closes every plugin still open, then the cache.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	open := make([]*Plugin, 0, len(r.plugins))
	for p := range r.plugins {
		open = append(open, p)
	}
	r.mu.Unlock()
	var errs []error
	for _, p := range open {
		errs = append(errs, p.Close(ctx))
	}
	errs = append(errs, r.cache.Close(ctx))
	return errors.Join(errs...)
}

// kind is how the host talks to a module.
type kind int

const (
	kindReactor kind = iota // ABI v1 exports, pooled instances
	kindCommand             // WASI command: one run per call, stdin/stdout
)

// Load compiles wasm, checks its exports, ABI version and imports against s,
// instantiates the pool (running _initialize) and self-checks it. A refusal
// is a *LoadError.
func (r *Runtime) Load(ctx context.Context, name string, wasm []byte, s Settings) (*Plugin, error) {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("plugin %s: runtime closed", name)
	}
	refuse := func(reason string, err error) (*Plugin, error) {
		return nil, &LoadError{Plugin: name, Reason: reason, Err: err}
	}
	s = s.withDefaults()
	cfg, err := compactObject(s.Config)
	if err != nil {
		return refuse(ReasonConfigNotObject, err)
	}
	sum := sha256.Sum256(wasm)
	p := &Plugin{
		name:     name,
		version:  hex.EncodeToString(sum[:]),
		config:   cfg,
		settings: s,
		limits:   s.Limits,
		logger:   s.Logger.With("plugin", name),
		runtime:  r,
	}
	p.http = newHTTPClient(p)

	rc := wazero.NewRuntimeConfig().
		WithCompilationCache(r.cache).
		WithMemoryLimitPages(s.Limits.MemoryPages).
		WithCloseOnContextDone(true)
	p.wr = newWazeroRuntime(ctx, rc)
	ok := false
	defer func() {
		if !ok {
			_ = p.wr.Close(context.WithoutCancel(ctx))
		}
	}()
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, p.wr); err != nil {
		return nil, fmt.Errorf("plugin %s: wasi: %w", name, err)
	}
	if err := p.instantiateHostModule(ctx); err != nil {
		return nil, fmt.Errorf("plugin %s: host module: %w", name, err)
	}
	bin, err := wasmlimit.Check(wasm, p.moduleLimits())
	if err != nil {
		var over *wasmlimit.Error
		if errors.As(err, &over) && over.Limit == "malformed" {
			return refuse(ReasonInvalidModule, err)
		}
		p.logger.Warn("plugin refused: over a module limit", "error", err)
		return refuse(ReasonModuleLimit, err)
	}
	if p.compiled, err = p.compile(ctx, bin); err != nil {
		if errors.Is(err, errCompileTimeout) {
			p.logger.Warn("plugin refused: compile took too long", "compile_timeout", s.Limits.CompileTimeout)
			return refuse(ReasonCompileTimeout, err)
		}
		return refuse(ReasonInvalidModule, err)
	}
	if reason := p.inspect(); reason != "" {
		return refuse(reason, nil)
	}
	p.modConfig = wazero.NewModuleConfig().
		WithName("").
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(randReader).
		WithStartFunctions()

	p.pool = newPool(s.Limits.PoolSize)
	if p.kind == kindReactor {
		// One instance proves the module instantiates, initialises and
		// speaks ABI v1; the pool grows when calls overlap.
		inst, err := p.newInstance(ctx)
		if err != nil {
			var le *LoadError
			if errors.As(err, &le) {
				return nil, le
			}
			return refuse(string(ReasonInstantiate), err)
		}
		p.pool.warm(inst)
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		p.pool.closeAll(ctx)
		return nil, fmt.Errorf("plugin %s: runtime closed", name)
	}
	r.plugins[p] = struct{}{}
	r.mu.Unlock()
	ok = true
	p.logger.Debug("plugin loaded", "version", p.version[:12], "hooks", p.Hooks())
	return p, nil
}

// moduleLimits are wasmlimit's defaults with the plugin's own module size,
// memory and table limits.
func (p *Plugin) moduleLimits() wasmlimit.Limits {
	l := wasmlimit.Defaults
	l.ModuleBytes = p.limits.MaxModuleBytes
	l.MemoryPages = p.limits.MemoryPages
	l.TableElements = p.limits.MaxTableElements
	return l
}

var errCompileTimeout = errors.New("compile timeout")

// compile compiles bin within the plugin's compile timeout. wazero checks
// its context only between functions and only with several compile
// workers, so two are asked for; one function's compile is bounded by
// moduleLimits instead.
func (p *Plugin) compile(ctx context.Context, bin []byte) (wazero.CompiledModule, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, p.limits.CompileTimeout, errCompileTimeout)
	defer cancel()
	m, err := p.wr.CompileModule(experimental.WithCompilationWorkers(ctx, 2), bin)
	if err != nil && errors.Is(context.Cause(ctx), errCompileTimeout) {
		return nil, fmt.Errorf("%w: over %s", errCompileTimeout, p.limits.CompileTimeout)
	}
	return m, err
}

// inspect classifies the compiled module and checks it against ABI v1 and the
// grants of its settings; it returns the reason to refuse it, or "".
func (p *Plugin) inspect() string {
	for _, f := range p.compiled.ImportedFunctions() {
		mod, fn, _ := f.Import()
		switch mod {
		case wasi_snapshot_preview1.ModuleName:
		case hostModule:
			switch fn {
			case "log":
			case "http_request":
				// An empty allow-list reaches nothing: the module loads and
				// each request answers "url not allowed", so that one
				// module can offer a remote lookup its operator may leave
				// off (signin-default's catalog). kv has no such empty
				// grant: without a namespace there is nothing to read.
				if len(p.settings.HTTPAllow) == 0 {
					p.logger.Debug("plugin imports gatehouse.http_request and its settings grant no URL (http_allow): every request is refused")
				}
			case "kv_get", "kv_put":
				if p.settings.KV == nil {
					return "imports gatehouse." + fn + ", which its settings do not grant"
				}
			default:
				return "imports gatehouse." + fn + ", which the host does not provide"
			}
		default:
			return "imports " + mod + "." + fn + ", which the host does not provide"
		}
	}
	exports := p.compiled.ExportedFunctions()
	for i, h := range hook.Names {
		if def, ok := exports["gh_"+h]; ok {
			if !signature(def, []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64}) {
				return "export gh_" + h + " has the wrong signature"
			}
			p.serves[i] = true
		}
	}
	if len(p.Hooks()) == 0 {
		if _, ok := exports["_start"]; ok {
			p.kind = kindCommand
			for i := range p.serves {
				p.serves[i] = true
			}
			return ""
		}
		return ReasonNoHooks
	}
	if _, ok := p.compiled.ExportedMemories()["memory"]; !ok {
		return "missing export memory"
	}
	def, ok := exports["gh_abi_version"]
	if !ok || !signature(def, nil, []api.ValueType{api.ValueTypeI32}) {
		return ReasonWrongABI
	}
	def, ok = exports["gh_alloc"]
	if !ok {
		return "missing export gh_alloc"
	}
	if !signature(def, []api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}) {
		return "export gh_alloc has the wrong signature"
	}
	if def, ok := exports["gh_free"]; ok && !signature(def, []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, nil) {
		return "export gh_free has the wrong signature"
	}
	return ""
}

func signature(def api.FunctionDefinition, params, results []api.ValueType) bool {
	return bytes.Equal(def.ParamTypes(), params) && bytes.Equal(def.ResultTypes(), results)
}

// compactObject returns raw compacted, or {} for nil; anything but a JSON
// object is refused, since it is sent verbatim inside every envelope.
func compactObject(raw json.RawMessage) ([]byte, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return []byte("{}"), nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	if buf.Len() == 0 || buf.Bytes()[0] != '{' {
		return nil, errors.New("want an object")
	}
	return buf.Bytes(), nil
}

// Settings is what one plugin gets: its config block (sent with every call),
// grants and limits.
type Settings struct {
	// Config is the plugin's own config object; nil → {}.
	Config json.RawMessage
	// HTTPAllow lists URL patterns http_request may reach (core/urlpattern);
	// empty → every http_request is refused (url not allowed).
	HTTPAllow []string
	// HTTPTimeout bounds one http_request (default 5s; the call's deadline
	// still applies).
	HTTPTimeout time.Duration
	// MaxHTTPResponseBytes caps an http_request response body (default 1 MiB).
	MaxHTTPResponseBytes int
	// Outbound is http_request's client; nil → outbound.Default, which
	// refuses loopback and private addresses.
	Outbound *outbound.Client
	// KV is the namespace root for kv_get/kv_put; nil → kv not granted. Keys
	// are prefixed with "plugin/<name>/".
	KV     store.KV
	Limits Limits
	// Logger gets the plugin's log/stdout/stderr lines, with plugin=<name>.
	Logger *slog.Logger
}

func (s Settings) withDefaults() Settings {
	s.Limits = s.Limits.withDefaults()
	if s.HTTPTimeout <= 0 {
		s.HTTPTimeout = DefaultHTTPTimeout
	}
	if s.MaxHTTPResponseBytes <= 0 {
		s.MaxHTTPResponseBytes = DefaultMaxHTTPResponseBytes
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.Outbound == nil {
		s.Outbound = outbound.Default()
	}
	s.HTTPAllow = append([]string(nil), s.HTTPAllow...)
	return s
}

// wazeroRuntimeMu serialises creating wazero runtimes: the first runtime on
// each compilation cache caches wazero's version string in a package
// global without synchronisation (internal/version), a data race between
// two Runtimes (each with its own cache) loading plugins at once.
var wazeroRuntimeMu sync.Mutex

func newWazeroRuntime(ctx context.Context, rc wazero.RuntimeConfig) wazero.Runtime {
	wazeroRuntimeMu.Lock()
	defer wazeroRuntimeMu.Unlock()
	return wazero.NewRuntimeWithConfig(ctx, rc)
}
