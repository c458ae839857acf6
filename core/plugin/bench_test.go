package plugin

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// benchCase is one plugin the call benchmarks run.
type benchCase struct {
	Hook   string
	Config json.RawMessage
	Input  any
}

// examplePolicy is the shared sign_in example's config and an input it
// accepts (sdk/ABI.md §6).
var (
	examplePolicy = json.RawMessage(`{"allowed_domains":["example.com"],"group":"group:default/staff"}`)
	exampleSignIn = map[string]any{
		"provider": "github",
		"env":      "development",
		"profile":  map[string]string{"email": "Alice@Example.com", "displayName": "Alice"},
		"claims":   map[string]any{},
	}
)

// benchPlugins are the plugins BenchmarkCall and BenchmarkNewInstance run,
// keyed by wasm path relative to the repository root. Every one must be
// built by `make plugins`; add a language's example plugin with one line:
//
//	"examples/plugins/bin/signin-example-rust.wasm": {hook.SignIn, examplePolicy, exampleSignIn},
var benchPlugins = map[string]benchCase{
	"testdata/plugins/bin/good.wasm": {hook.SignIn, examplePolicy, exampleSignIn},
}

// eachBenchPlugin runs fn as a sub-benchmark per plugin, in path order.
func eachBenchPlugin(b *testing.B, fn func(b *testing.B, p *Plugin, c benchCase)) {
	r, err := NewRuntime(context.Background(), "")
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close(context.Background())
	quiet := slog.New(slog.NewTextHandler(discard{}, &slog.HandlerOptions{Level: slog.LevelError}))
	paths := make([]string, 0, len(benchPlugins))
	for path := range benchPlugins {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	for _, path := range paths {
		c := benchPlugins[path]
		name := filepath.Base(path)
		b.Run(name, func(b *testing.B) {
			wasm, err := os.ReadFile(filepath.Join("..", "..", path))
			if err != nil {
				b.Fatalf("%s: %v (run make plugins)", path, err)
			}
			p, err := r.Load(context.Background(), name, wasm, Settings{Config: c.Config, Logger: quiet, Limits: Limits{PoolSize: 1}})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close(context.Background())
			if err := p.Call(context.Background(), c.Hook, c.Input, nil); err != nil {
				b.Fatalf("warm-up call: %v", err)
			}
			fn(b, p, c)
		})
	}
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

// reportQuantiles reports the p50 and p99 of the per-iteration durations.
func reportQuantiles(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)*50/100].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkCall is one hook call through the pool: envelope, gh_alloc,
// hook, copy out, gh_free, JSON decode of the result.
func BenchmarkCall(b *testing.B) {
	eachBenchPlugin(b, func(b *testing.B, p *Plugin, c benchCase) {
		ctx := context.Background()
		var out json.RawMessage
		d := make([]time.Duration, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			start := time.Now()
			if err := p.Call(ctx, c.Hook, c.Input, &out); err != nil {
				b.Fatal(err)
			}
			d[i] = time.Since(start)
		}
		b.StopTimer()
		reportQuantiles(b, d)
	})
}

// BenchmarkNewInstance is the baseline the pool avoids: a fresh instance
// (instantiate, _initialize, ABI check) for every call, then the call.
func BenchmarkNewInstance(b *testing.B) {
	eachBenchPlugin(b, func(b *testing.B, p *Plugin, c benchCase) {
		ctx := context.Background()
		in, err := json.Marshal(c.Input)
		if err != nil {
			b.Fatal(err)
		}
		env := p.envelope(c.Hook, in)
		h := hookIndex(c.Hook)
		d := make([]time.Duration, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			start := time.Now()
			inst, err := p.newInstance(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if _, reason, err := inst.call(ctx, h, env); reason != "" {
				b.Fatal(reason, err)
			}
			inst.close(ctx)
			d[i] = time.Since(start)
		}
		b.StopTimer()
		reportQuantiles(b, d)
	})
}
