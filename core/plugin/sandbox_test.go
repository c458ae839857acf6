package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/internal/rss"
	"github.com/gatehouse-auth/gatehouse/core/internal/wasmbomb"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
	"github.com/gatehouse-auth/gatehouse/core/store/storetest"
	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// TestSandboxBounds runs each hostile module (a pool of one) and checks
// that the bad call fails closed with its typed reason, twice (the second
// on a fresh instance), that the plugin's good hook and another plugin
// keep answering, and that the process's peak RSS stays within the bound
// stated for the case. Not parallel: RSS is the whole process's.
func TestSandboxBounds(t *testing.T) {
	r := newTestRuntime(t)
	good := load(t, r, "good", Settings{Logger: slog.New(newRecorder())})
	tests := []struct {
		plugin, hook string
		settings     Settings
		reason       Reason // with its detail, as Failure.Cause says it
		sentinel     error
		// maxMiB bounds the peak RSS growth of each call.
		maxMiB int64
	}{
		// Unbounded, the table asks for 32 GiB and the process dies.
		{"tablegrow", hook.SignIn, Settings{}, "trap: unreachable", nil, 64},
		// Unbounded, gh_alloc ran 28,669 times (240 MB) until the deadline.
		{"reentry", hook.SignIn, Settings{KV: memory.New()}, ReasonReentry, ErrReentry, 64},
		{"logflood", hook.SignIn, Settings{}, ReasonLogQuota, ErrLogQuota, 64},
		{"logflood", hook.Notify, Settings{}, ReasonLogQuota, ErrLogQuota, 64},
		{"kvflood", hook.SignIn, Settings{KV: memory.New(), Limits: Limits{KVMaxBytes: 1 << 20}}, ReasonKVQuota, ErrKVQuota, 64},
		// wazero's fixed call-stack ceiling (50 MB, grown by doubling, so
		// up to about 150 MB while the last copy is made) is the bound:
		// sdk/ABI.md §5.
		{"recurse", hook.SignIn, Settings{}, "trap: stack overflow", nil, 224},
		// A 900 KB claim fits the response cap; unchecked it made a
		// 934 KB access token.
		{"bigclaims", hook.TokenClaims, Settings{}, ReasonClaimsTooLarge, ErrClaimsTooLarge, 64},
		{"bigclaims", hook.SignIn, Settings{}, ReasonClaimsTooLarge, ErrClaimsTooLarge, 64},
	}
	for _, tc := range tests {
		t.Run(tc.plugin+"/"+tc.hook, func(t *testing.T) {
			rec := newRecorder()
			tc.settings.Limits.PoolSize = 1
			tc.settings.Logger = slog.New(rec)
			p := load(t, r, tc.plugin, tc.settings)
			for range 2 {
				grew := rss.PeakGrowthMiB(t, func() {
					err := p.Call(context.Background(), tc.hook, map[string]string{"email": "a@example.com"}, nil)
					var f *Failure
					if !errors.As(err, &f) || f.Cause() != string(tc.reason) || f.Plugin != tc.plugin {
						t.Fatalf("got %v, want a *Failure %q", err, tc.reason)
					}
					if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
						t.Errorf("%v does not wrap %v", err, tc.sentinel)
					}
				})
				t.Logf("peak RSS grew %d MiB (bound %d MiB)", grew, tc.maxMiB*rssSlack)
				if grew > tc.maxMiB*rssSlack {
					t.Errorf("peak RSS grew %d MiB, want at most %d", grew, tc.maxMiB*rssSlack)
				}
			}
			if n := len(rec.find("plugin call failed", map[string]string{"plugin": tc.plugin, "reason": string(tc.reason)})); n != 2 {
				t.Errorf("logged %d failures naming the plugin, want 2", n)
			}
			if p.Serves(hook.TokenClaims) && tc.plugin != "bigclaims" {
				if err := p.Call(context.Background(), hook.TokenClaims, nil, nil); err != nil {
					t.Fatalf("good hook after the failure: %v", err)
				}
			}
			if err := good.Call(context.Background(), hook.SignIn, nil, nil); err != nil {
				t.Fatalf("other plugin after the failure: %v", err)
			}
		})
	}
}

// TestLogQuotaLogsWithinBudget: what a flood logs before the quota stops
// it is at most max_log_bytes, and a call under the budget is untouched.
func TestLogQuotaLogsWithinBudget(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t)
	var buf bytes.Buffer
	p := load(t, r, "logflood", Settings{Limits: Limits{PoolSize: 1, MaxLogBytes: 10000}, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err := p.Call(context.Background(), hook.SignIn, nil, nil); !errors.Is(err, ErrLogQuota) {
		t.Fatalf("got %v, want ErrLogQuota", err)
	}
	// Two 4096-byte messages fit in 10000 bytes, the third does not.
	if n := strings.Count(buf.String(), strings.Repeat("A", 4096)); n != 2 {
		t.Errorf("logged %d messages, want 2", n)
	}
	if err := p.Call(context.Background(), hook.TokenClaims, nil, nil); err != nil {
		t.Fatal(err)
	}
}

// TestKVQuota: the quota counts keys and bytes across calls and versions,
// an overwrite counts only its difference, and nothing over it is stored.
func TestKVQuota(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t)
	kv := memory.New()
	ctx := context.Background()
	// Data from before (another process, an older version) counts.
	if err := kv.Put(ctx, "plugin/kvflood/old", make([]byte, 100), time.Time{}); err != nil {
		t.Fatal(err)
	}
	s := Settings{KV: kv, Limits: Limits{PoolSize: 1, KVMaxKeys: 4, KVMaxBytes: 1 << 20}, Logger: quietLogger()}
	p := load(t, r, "kvflood", s)
	if err := p.Call(ctx, hook.SignIn, nil, nil); !errors.Is(err, ErrKVQuota) {
		t.Fatalf("got %v, want ErrKVQuota", err)
	}
	keys := 0
	_ = kv.Scan(ctx, "plugin/kvflood/", func(string, []byte) error { keys++; return nil })
	if keys != 4 {
		t.Fatalf("%d keys stored, want the quota's 4", keys)
	}
	// A new version of the plugin shares the count: its first new key is refused.
	p2 := load(t, r, "kvflood", s)
	if err := p2.Call(ctx, hook.SignIn, nil, nil); !errors.Is(err, ErrKVQuota) {
		t.Fatalf("second version: got %v, want ErrKVQuota", err)
	}
	// Overwriting a key within the quota is fine.
	if err := p2.kvPut(ctx, "plugin/kvflood/old", make([]byte, 10)); err != nil {
		t.Fatalf("overwrite: %v", err)
	}
}

// TestKVQuotaCountBounded: the first count of a namespace already over
// its quota reads no more than kv_max_keys + 1 keys, in pages, and the
// quota holds; a larger kv_max_keys counts it again.
func TestKVQuotaCountBounded(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t)
	kv := storetest.Paged(memory.New(), store.PluginKVSpace("kvflood"))
	ctx := context.Background()
	const stored = 50
	for i := range stored {
		if err := kv.Put(ctx, store.PluginKVKey("kvflood", fmt.Sprintf("old-%02d", i)), []byte("v"), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	s := Settings{KV: kv, Limits: Limits{PoolSize: 1, KVMaxKeys: 4, KVMaxBytes: 1 << 20}, Logger: quietLogger()}
	p := load(t, r, "kvflood", s)
	if err := p.kvPut(ctx, store.PluginKVKey("kvflood", "new"), []byte("v")); !errors.Is(err, ErrKVQuota) {
		t.Fatalf("put into a namespace over its quota: %v, want ErrKVQuota", err)
	}
	if err := p.kvPut(ctx, store.PluginKVKey("kvflood", "old-00"), []byte("w")); !errors.Is(err, ErrKVQuota) {
		t.Fatalf("overwrite in a namespace over its quota: %v, want ErrKVQuota", err)
	}
	if n := kv.Read(); n > 5 {
		t.Errorf("the count read %d keys, want at most kv_max_keys + 1 = 5", n)
	}
	s.Limits.KVMaxKeys = stored + 1
	p2 := load(t, r, "kvflood", s)
	if err := p2.kvPut(ctx, store.PluginKVKey("kvflood", "new"), []byte("v")); err != nil {
		t.Fatalf("put under a larger quota: %v", err)
	}
	if err := p2.kvPut(ctx, store.PluginKVKey("kvflood", "newer"), []byte("v")); !errors.Is(err, ErrKVQuota) {
		t.Fatalf("put past the larger quota: %v, want ErrKVQuota", err)
	}
}

// TestLoadRefusesModuleBombs: modules that would cost the compiler or the
// runtime far more than their size are refused before wazero sees them,
// with the limit named; a module within every static limit whose compile
// as a whole takes too long is refused at the compile timeout. The peak
// RSS of all of them stays under 256 MiB (the 2 MB br_table module alone
// took 2.4 GB and 50 s unchecked).
func TestLoadRefusesModuleBombs(t *testing.T) {
	r := newTestRuntime(t)
	tests := []struct {
		name   string
		wasm   []byte
		limits Limits
		reason string
		detail string
	}{
		{"nested blocks", wasmbomb.NestedBlocks(50000, 1), Limits{}, ReasonModuleLimit, "nesting: function 0: blocks nested 4097 deep > 4096"},
		{"br_tables", wasmbomb.BrTables(16, 65520, 30), Limits{}, ReasonModuleLimit, "br_table targets: function 0: 65520 > 8192"},
		{"locals", wasmbomb.Locals(0xFFFFFFFF), Limits{}, ReasonModuleLimit, "locals: function 0: 4294967295 > 50000"},
		{"table minimum", wasmbomb.Table(1<<20, -1), Limits{}, ReasonModuleLimit, "table elements: table 0 starts with 1048576 elements > 131072"},
		{"module size", wasmbomb.NestedBlocks(10, 1), Limits{MaxModuleBytes: 16}, ReasonModuleLimit, "module bytes: "},
		{"slow as a whole", wasmbomb.BrTables(4000, 8000, 200), Limits{CompileTimeout: time.Second}, ReasonCompileTimeout, "compile timeout: over 1s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			grew := rss.PeakGrowthMiB(t, func() {
				_, err := r.Load(context.Background(), "bomb", tc.wasm, Settings{Limits: tc.limits, Logger: quietLogger()})
				var le *LoadError
				if !errors.As(err, &le) || le.Reason != tc.reason || !strings.HasPrefix(le.Err.Error(), tc.detail) {
					t.Fatalf("Load = %v, want %q: %q", err, tc.reason, tc.detail)
				}
			})
			t.Logf("%d bytes, peak RSS grew %d MiB", len(tc.wasm), grew)
			if grew > 256*rssSlack {
				t.Errorf("peak RSS grew %d MiB, want at most %d", grew, 256*rssSlack)
			}
		})
	}
}

// TestMemoryMaximumLowered: a module declaring a maximum above the page
// cap loads (as one declaring none does), and memory.grow past the cap
// returns -1 to it.
func TestMemoryMaximumLowered(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t)
	for _, tc := range []struct {
		pages uint32
		want  string
	}{{16, "refused"}, {256, "granted"}} {
		p := load(t, r, "memmax", Settings{Limits: Limits{MemoryPages: tc.pages}, Logger: quietLogger()})
		var out struct{ Grow string }
		if err := p.Call(context.Background(), hook.SignIn, nil, &out); err != nil || out.Grow != tc.want {
			t.Errorf("cap %d pages: grow by 100 %q (%v), want %q", tc.pages, out.Grow, err, tc.want)
		}
	}
}

// TestReloadKeepsBoundHooks: a new version of a plugin that no longer
// exports a hook bound to it is refused, logged, and the old version keeps
// serving every call (before, 1,448 of 1,771 requests failed); a version
// that keeps the bound hook loads.
func TestReloadKeepsBoundHooks(t *testing.T) {
	dir := t.TempDir()
	writePlugin(t, dir, "claims", testWasm(t, "reload_v1"))
	rec := newRecorder()
	h, err := NewHost(context.Background(), testConfig(dir), memory.New(), slog.New(rec))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	ctx := context.Background()

	writePlugin(t, dir, "claims", testWasm(t, "reload_nohook"))
	err = h.Reload(ctx)
	var le *LoadError
	if !errors.As(err, &le) || le.Reason != ReasonDropsBoundHook || !strings.Contains(err.Error(), "no longer serves token_claims") {
		t.Fatalf("Reload = %v, want %q", err, ReasonDropsBoundHook)
	}
	if got := rec.find("plugin failed to load: the previous version keeps serving", map[string]string{"plugin": "claims"}); len(got) != 1 {
		t.Errorf("logged %d refusals naming the plugin, want 1", len(got))
	}
	for range 20 {
		if v, err := version(ctx, h, "claims"); err != nil || v != "v1" {
			t.Fatalf("after the refused reload: %q, %v; want v1 serving", v, err)
		}
	}
	if st := h.Status(); len(st) == 0 || st[0].Name != "claims" || st[0].LoadError == "" {
		t.Errorf("status %+v, want claims with its load error", st)
	}

	writePlugin(t, dir, "claims", testWasm(t, "reload_v2"))
	if err := h.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := version(ctx, h, "claims"); err != nil || v != "v2" {
		t.Fatalf("after a good reload: %q, %v; want v2", v, err)
	}
}

// TestSlowCompileDelaysOnlyItself: a module that takes long to compile (200
// functions each within the shape limits, a minute of compiling) does not
// hold up start-up or another plugin's reload: the host starts with the
// other plugin serving, the slow one's calls fail closed as loading (and
// GET /admin/plugins says so), a reload of the other plugin swaps it in,
// and the slow one ends at its compile timeout, on record.
func TestSlowCompileDelaysOnlyItself(t *testing.T) {
	dir := t.TempDir()
	writePlugin(t, dir, "claims", testWasm(t, "reload_v1"))
	writePlugin(t, dir, "slow", wasmbomb.BrTables(4000, 8000, 200))
	cfg := testConfig(dir)
	cfg.LoadWait = time.Second
	cfg.Defaults.CompileTimeout = slowCompileTimeout
	ctx := context.Background()
	var h *Host
	grew := rss.PeakGrowthMiB(t, func() {
		h = newTestHost(t, cfg)
		if v, err := version(ctx, h, "claims"); err != nil || v != "v1" {
			t.Fatalf("claims at start: %q, %v", v, err)
		}
		err := h.Call(ctx, "slow", hook.SignIn, nil, nil)
		var f *Failure
		if !errors.As(err, &f) || f.Reason != ReasonLoading || f.Plugin != "slow" {
			t.Fatalf("slow while compiling: %v, want %q", err, ReasonLoading)
		}
		if st := statusOf(h, "slow"); st.Loading == "" || st.Version != "" {
			t.Errorf("status %+v, want loading", st)
		}
		if got := h.Loading(); len(got) != 1 || got[0] != "slow" {
			t.Errorf("Loading() = %v", got)
		}

		writePlugin(t, dir, "claims", testWasm(t, "reload_v2"))
		if err := h.Reload(ctx); err != nil {
			t.Fatalf("reload while slow compiles: %v", err)
		}
		if v, err := version(ctx, h, "claims"); err != nil || v != "v2" {
			t.Fatalf("claims after the reload: %q, %v", v, err)
		}

		// Bounded: the compile timeout, and as much again for the race
		// detector.
		for i := 0; statusOf(h, "slow").Loading != "" && i < 600; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	st := statusOf(h, "slow")
	if st.Loading != "" || !strings.Contains(st.LoadError, ReasonCompileTimeout) {
		t.Fatalf("slow after its compile: %+v, want a compile timeout on record", st)
	}
	err := h.Call(ctx, "slow", hook.SignIn, nil, nil)
	var le *LoadError
	if !errors.As(err, &le) || le.Reason != ReasonCompileTimeout {
		t.Errorf("slow after its compile: %v, want its load error", err)
	}
	t.Logf("peak RSS grew %d MiB (bound 256 MiB)", grew)
	if grew > 256*rssSlack {
		t.Errorf("peak RSS grew %d MiB, want at most %d", grew, 256*rssSlack)
	}
}

// TestReconfigureWaitsForCompiles: a strict reconfiguration waits up to
// plugins.load_wait for the plugins it needs and is refused, changing
// nothing, when one is still compiling: a new binding to a plugin still
// compiling, and new settings for a serving plugin whose new file has not
// compiled with them.
func TestReconfigureWaitsForCompiles(t *testing.T) {
	dir := t.TempDir()
	// Built once, before the host starts: under the race detector building
	// it takes seconds, which would count against slow's compile timeout.
	bomb := wasmbomb.BrTables(4000, 8000, 200)
	writePlugin(t, dir, "claims", testWasm(t, "reload_v1"))
	writePlugin(t, dir, "slow", bomb)
	cfg := testConfig(dir)
	cfg.Hooks = map[string]any{"token_claims": "claims"}
	cfg.LoadWait = time.Second
	cfg.Defaults.CompileTimeout = slowCompileTimeout
	ctx := context.Background()
	h := newTestHost(t, cfg)
	before, _ := h.Plugin("claims")

	next := cfg
	next.Hooks = map[string]any{"token_claims": "claims", "resolve_user": "slow"}
	next.Settings = map[string]config.PluginSettings{"claims": {KV: true}}
	writePlugin(t, dir, "claims", bomb)
	if got := h.Loading(); !slices.Equal(got, []string{"slow"}) {
		t.Fatalf("Loading() = %v before the reconfiguration, want slow still compiling", got)
	}
	err := h.Reconfigure(ctx, next)
	var refused *ConfigRefused
	if !errors.As(err, &refused) {
		t.Fatalf("Reconfigure while compiling: %v, want *ConfigRefused", err)
	}
	var keys []string
	for _, p := range refused.Problems {
		key, _, _ := strings.Cut(p.Error(), ":")
		keys = append(keys, key)
		if !strings.Contains(p.Error(), "load_wait") {
			t.Errorf("problem %q does not name plugins.load_wait", p)
		}
	}
	if want := []string{"plugins.settings.claims", "plugins.hooks.resolve_user"}; !slices.Equal(keys, want) {
		t.Errorf("problems %v, want keys %v", refused.Problems, want)
	}
	if now, _ := h.Plugin("claims"); now != before {
		t.Error("claims changed by a refused configuration")
	}
	if _, ok := h.For(hook.ResolveUser, ""); ok {
		t.Error("resolve_user bound by a refused configuration")
	}
	if v, err := version(ctx, h, "claims"); err != nil || v != "v1" {
		t.Fatalf("claims after a refused configuration: %q, %v", v, err)
	}

	// Bounded: the compile timeout, and as much again for the race detector.
	for i := 0; len(h.Loading()) > 0 && i < 600; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if got := h.Loading(); len(got) > 0 {
		t.Fatalf("still loading %v", got)
	}
	// The compile for the refused settings was discarded: v1 still serves.
	if v, err := version(ctx, h, "claims"); err != nil || v != "v1" {
		t.Errorf("claims after the refused compile ended: %q, %v", v, err)
	}
}
