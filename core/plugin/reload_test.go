package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// waitFor polls (bounded) until h serves want from plugin name, and
// returns how long that took.
func waitFor(tb testing.TB, h *Host, name, want string, within time.Duration) time.Duration {
	tb.Helper()
	start := time.Now()
	for {
		got, err := version(context.Background(), h, name)
		if err == nil && got == want {
			return time.Since(start)
		}
		if time.Since(start) > within {
			tb.Fatalf("%s not serving %s after %s (last: %q, %v)", name, want, within, got, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// callLoad calls token_claims from workers goroutines until stop is closed,
// counting calls and failures.
type callLoad struct {
	calls, failures atomic.Int64
	firstErr        atomic.Pointer[error]
	wg              sync.WaitGroup
	stop            chan struct{}
}

func startLoad(h *Host, name string, workers int) *callLoad {
	l := &callLoad{stop: make(chan struct{})}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				got, err := version(context.Background(), h, name)
				l.calls.Add(1)
				if err == nil && got != "v1" && got != "v2" {
					err = fmt.Errorf("unexpected answer %q", got)
				}
				if err != nil {
					l.failures.Add(1)
					l.firstErr.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	return l
}

func (l *callLoad) finish(tb testing.TB) {
	tb.Helper()
	close(l.stop)
	l.wg.Wait()
	if n := l.failures.Load(); n > 0 {
		tb.Errorf("%d of %d calls failed during reload; first: %v", n, l.calls.Load(), *l.firstErr.Load())
	}
	if l.calls.Load() == 0 {
		tb.Error("the load made no calls")
	}
}

// TestReloadUnderLoad rewrites a plugin while goroutines call it: no call
// fails, and the watcher makes the new version serve within one second,
// whether the file is renamed into place or rewritten in place.
func TestReloadUnderLoad(t *testing.T) {
	v1, v2 := testWasm(t, "reload_v1"), testWasm(t, "reload_v2")
	tests := []struct {
		name  string
		write func(t *testing.T, dir string, wasm []byte)
	}{
		{"rename", func(t *testing.T, dir string, wasm []byte) { writePlugin(t, dir, "claims", wasm) }},
		{"in place", func(t *testing.T, dir string, wasm []byte) {
			// Two writes, so that a reload may see half a file.
			f, err := os.OpenFile(filepath.Join(dir, "claims.wasm"), os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write(wasm[:len(wasm)/2]); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond)
			if _, err := f.Write(wasm[len(wasm)/2:]); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writePlugin(t, dir, "claims", v1)
			cfg := testConfig(dir)
			cfg.Watch = true
			h := newTestHost(t, cfg)
			if h.watch == nil {
				t.Fatal("not watching")
			}
			l := startLoad(h, "claims", 8)
			waitFor(t, h, "claims", "v1", reloadWithin)

			tt.write(t, dir, v2)
			took := waitFor(t, h, "claims", "v2", reloadWithin)
			// And back, to reload under load twice.
			tt.write(t, dir, v1)
			took1 := waitFor(t, h, "claims", "v1", reloadWithin)
			l.finish(t)
			t.Logf("%s: new version serving after %s and %s, %d calls, 0 failed", tt.name, took, took1, l.calls.Load())
		})
	}
}

// TestReloadBrokenFile: a file that does not load leaves the old version
// serving, with the load error on record until a good file replaces it.
func TestReloadBrokenFile(t *testing.T) {
	dir := t.TempDir()
	writePlugin(t, dir, "claims", testWasm(t, "reload_v1"))
	h := newTestHost(t, testConfig(dir))
	ctx := context.Background()
	old, _ := h.Plugin("claims")

	tests := []struct {
		name, want string
		wasm       []byte
	}{
		{"not wasm", "invalid module", []byte("\x00asm but not really")},
		{"empty", "invalid module", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writePlugin(t, dir, "claims", tt.wasm)
			err := h.Reload(ctx)
			var le *LoadError
			if !errors.As(err, &le) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Reload = %v, want a *LoadError: %s", err, tt.want)
			}
			if got, err := version(ctx, h, "claims"); err != nil || got != "v1" {
				t.Errorf("old version not serving: %q, %v", got, err)
			}
			if p, _ := h.Plugin("claims"); p != old {
				t.Error("the plugin was replaced")
			}
			st := h.Status()[0]
			if st.Name != "claims" || st.Version != old.Version() || !strings.Contains(st.LoadError, tt.want) || st.FailedVersion == "" {
				t.Errorf("status %+v", st)
			}
			// The same broken file is not retried on every event.
			if err := h.Reload(ctx); err == nil {
				t.Error("second Reload forgot the load error")
			}
		})
	}

	writePlugin(t, dir, "claims", testWasm(t, "reload_v2"))
	if err := h.Reload(ctx); err != nil {
		t.Fatalf("Reload of a good file: %v", err)
	}
	if got, err := version(ctx, h, "claims"); err != nil || got != "v2" {
		t.Errorf("after the fix: %q, %v", got, err)
	}
	if st := h.Status()[0]; st.LoadError != "" || st.FailedVersion != "" {
		t.Errorf("load error still on record: %+v", st)
	}
}

// TestReloadAddRemove: added files load, removed ones stop serving (calls
// fail closed), unchanged ones are kept as they are.
func TestReloadAddRemove(t *testing.T) {
	dir := t.TempDir()
	writePlugin(t, dir, "claims", testWasm(t, "reload_v1"))
	h := newTestHost(t, testConfig(dir))
	ctx := context.Background()
	before, _ := h.Plugin("claims")

	writePlugin(t, dir, "other", testWasm(t, "reload_v2"))
	if err := h.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if after, _ := h.Plugin("claims"); after != before {
		t.Error("an unchanged plugin was reloaded")
	}
	if got, err := version(ctx, h, "other"); err != nil || got != "v2" {
		t.Errorf("added plugin: %q, %v", got, err)
	}

	if err := os.Remove(filepath.Join(dir, "claims.wasm")); err != nil {
		t.Fatal(err)
	}
	if err := h.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.Plugin("claims"); ok {
		t.Error("removed plugin still loaded")
	}
	_, err := version(ctx, h, "claims")
	var f *Failure
	if !errors.As(err, &f) || f.Plugin != "claims" {
		t.Errorf("call to a removed plugin = %v, want a *Failure", err)
	}
	// The old version is closed once drained.
	h.retired.Wait()
	if err := before.Call(ctx, hook.TokenClaims, nil, nil); err == nil {
		t.Error("the removed version still answers")
	}
}

// TestReloadWatchesDirectoryCreation: started before its directory exists,
// the watcher picks the directory and its plugins up when they appear.
func TestReloadWatchesDirectoryCreation(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bin")
	cfg := testConfig(dir)
	cfg.Watch = true
	h := newTestHost(t, cfg)
	if h.watch == nil {
		t.Fatal("not watching the parent")
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Let the watcher add the new directory before the plugin lands in it;
	// the directory's creation alone triggers a rescan anyway.
	writePlugin(t, dir, "claims", testWasm(t, "reload_v1"))
	waitFor(t, h, "claims", "v1", reloadWithin)
	writePlugin(t, dir, "claims", testWasm(t, "reload_v2"))
	waitFor(t, h, "claims", "v2", reloadWithin)
}

// TestReloadHammer: goroutines call while others reload with the file
// flipping between versions; run it with -race.
func TestReloadHammer(t *testing.T) {
	dir := t.TempDir()
	v1, v2 := testWasm(t, "reload_v1"), testWasm(t, "reload_v2")
	writePlugin(t, dir, "claims", v1)
	h := newTestHost(t, testConfig(dir))
	l := startLoad(h, "claims", 8)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex // writers take turns; reloads race freely
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				mu.Lock()
				writePlugin(t, dir, "claims", [][]byte{v1, v2}[(w+i)%2])
				mu.Unlock()
				if err := h.Reload(ctx); err != nil {
					t.Errorf("Reload: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	l.finish(t)
	t.Logf("%d calls across 60 reloads, 0 failed", l.calls.Load())
}

// BenchmarkReload measures a file written → its new version serving,
// through the watcher (50 ms debounce included) and through Reload alone.
func BenchmarkReload(b *testing.B) {
	v := [][]byte{testWasm(b, "reload_v1"), testWasm(b, "reload_v2")}
	names := []string{"v1", "v2"}
	for _, watch := range []bool{true, false} {
		b.Run(map[bool]string{true: "watch", false: "explicit"}[watch], func(b *testing.B) {
			dir := b.TempDir()
			writePlugin(b, dir, "claims", v[0])
			cfg := testConfig(dir)
			cfg.Watch = watch
			h := newTestHost(b, cfg)
			var total time.Duration
			b.ResetTimer()
			for i := range b.N {
				next := (i + 1) % 2
				start := time.Now()
				writePlugin(b, dir, "claims", v[next])
				if !watch {
					if err := h.Reload(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
				waitFor(b, h, "claims", names[next], 5*time.Second)
				total += time.Since(start)
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/reload")
		})
	}
}
