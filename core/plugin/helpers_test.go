package plugin

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/plugin/plugintest"
)

// wasmFile is the test module testdata/plugins/<name> (plugintest.TestModule).
func wasmFile(t testing.TB, name string) []byte {
	t.Helper()
	return plugintest.TestModule(t, filepath.Join("..", "..", "testdata", "plugins"), name)
}

// record is one captured log record.
type record struct {
	Level slog.Level
	Msg   string
	Attrs map[string]string
}

// recorder is a slog.Handler that keeps every record, for assertions on
// what the host logs.
type recorder struct {
	mu      sync.Mutex
	records []record
	attrs   []slog.Attr
	parent  *recorder
	onLog   func(record)
}

func newRecorder() *recorder { return &recorder{} }

func (r *recorder) root() *recorder {
	if r.parent != nil {
		return r.parent.root()
	}
	return r
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	out := record{Level: rec.Level, Msg: rec.Message, Attrs: map[string]string{}}
	for _, a := range r.attrs {
		out.Attrs[a.Key] = a.Value.String()
	}
	rec.Attrs(func(a slog.Attr) bool {
		out.Attrs[a.Key] = a.Value.String()
		return true
	})
	root := r.root()
	root.mu.Lock()
	root.records = append(root.records, out)
	onLog := root.onLog
	root.mu.Unlock()
	if onLog != nil {
		onLog(out)
	}
	return nil
}

func (r *recorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &recorder{parent: r, attrs: append(append([]slog.Attr(nil), r.attrs...), attrs...)}
}

func (r *recorder) WithGroup(string) slog.Handler { return r }

// find returns the records whose message is msg and whose attrs include want.
func (r *recorder) find(msg string, want map[string]string) []record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []record
next:
	for _, rec := range r.records {
		if rec.Msg != msg {
			continue
		}
		for k, v := range want {
			if rec.Attrs[k] != v {
				continue next
			}
		}
		out = append(out, rec)
	}
	return out
}

// newTestRuntime returns a runtime with an in-memory cache, closed with t.
func newTestRuntime(t testing.TB) *Runtime {
	t.Helper()
	r, err := NewRuntime(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

// load loads testdata plugin name with s, failing the test on error.
func load(t testing.TB, r *Runtime, name string, s Settings) *Plugin {
	t.Helper()
	p, err := r.Load(context.Background(), name, wasmFile(t, name), s)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return p
}
