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
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

func TestGoodPlugin(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	r := newTestRuntime(t)
	wasm := wasmFile(t, "good")
	p, err := r.Load(context.Background(), "good", wasm, Settings{
		Config: json.RawMessage(`{ "allowed_domains": ["example.com"] }`),
		Logger: slog.New(rec),
	})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(wasm)
	if p.Name() != "good" || p.Version() != hex.EncodeToString(sum[:]) {
		t.Errorf("Name, Version = %q, %q", p.Name(), p.Version())
	}
	if got, want := p.Hooks(), []string{hook.SignIn, hook.ResolveUser, hook.Notify, hook.TokenClaims}; !reflect.DeepEqual(got, want) {
		t.Errorf("Hooks() = %v, want %v", got, want)
	}
	if p.Serves(hook.AuthHandler) || !p.Serves(hook.SignIn) || p.Serves("nope") {
		t.Error("Serves disagrees with Hooks")
	}

	// sign_in echoes the envelope: it shows exactly what a plugin receives.
	input := map[string]any{"provider": "github", "profile": map[string]any{"email": "alice@example.com"}}
	var got map[string]any
	if err := p.Call(context.Background(), hook.SignIn, input, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"abi":    float64(1),
		"hook":   "sign_in",
		"config": map[string]any{"allowed_domains": []any{"example.com"}},
		"input":  map[string]any{"provider": "github", "profile": map[string]any{"email": "alice@example.com"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sign_in result = %v, want %v", got, want)
	}

	// A refusal is the plugin's decision, verbatim.
	err = p.Call(context.Background(), hook.ResolveUser, map[string]string{"kind": "login_hint", "value": "bob"}, nil)
	var refusal *Refusal
	if !errors.As(err, &refusal) {
		t.Fatalf("resolve_user: %v, want *Refusal", err)
	}
	if *refusal != (Refusal{Plugin: "good", Hook: hook.ResolveUser, Code: "unknown_user_id", Message: "no such user"}) {
		t.Errorf("refusal = %+v", *refusal)
	}
	if err.Error() != "plugin good refused resolve_user: unknown_user_id: no such user" {
		t.Errorf("Error() = %q", err.Error())
	}

	// notify writes to stdout through WASI: the line reaches the log.
	var deliveries struct{ Deliveries []any }
	if err := p.Call(context.Background(), hook.Notify, map[string]any{}, &deliveries); err != nil {
		t.Fatal(err)
	}
	if deliveries.Deliveries == nil {
		t.Error("notify: deliveries missing")
	}
	if n := len(rec.find("hello from stdout", map[string]string{"plugin": "good", "stream": "stdout"})); n != 1 {
		t.Errorf("stdout lines logged = %d, want 1", n)
	}
	logged := rec.find("called", map[string]string{"plugin": "good", "stream": "log"})
	if len(logged) != 3 || logged[0].Level != slog.LevelInfo {
		t.Errorf("log lines = %+v, want 3 at info", logged)
	}

	for _, tc := range []struct {
		hook   string
		reason Reason
	}{
		{hook.AuthHandler, ReasonHookNotServed},
		{"sign_out", ReasonUnknownHook},
	} {
		err := p.Call(context.Background(), tc.hook, nil, nil)
		var f *Failure
		if !errors.As(err, &f) || f.Reason != tc.reason || f.Plugin != "good" || f.Hook != tc.hook {
			t.Errorf("Call(%s) = %v, want reason %q", tc.hook, err, tc.reason)
		}
	}
	// The result must fit out: a mismatch fails closed.
	var wrong struct{ Abi string }
	err = p.Call(context.Background(), hook.SignIn, input, &wrong)
	var f *Failure
	if !errors.As(err, &f) || f.Reason != ReasonResultMismatch {
		t.Errorf("mismatched out: %v, want %q", err, ReasonResultMismatch)
	}
}

// TestInitialize: _initialize runs once on every instance, before any call,
// including on an instance that replaces a failed one. The pool starts with
// one instance and grows only when calls overlap, up to its size.
func TestInitialize(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	r := newTestRuntime(t)
	p := load(t, r, "init", Settings{Limits: Limits{PoolSize: 2}, Logger: slog.New(rec)})
	inits := func() int { return len(rec.find("initialized", map[string]string{"plugin": "init"})) }
	if n := inits(); n != 1 {
		t.Errorf("_initialize ran %d times at load, want 1 (the warm instance)", n)
	}
	for range 3 {
		if err := p.Call(context.Background(), hook.SignIn, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := inits(); n != 1 {
		t.Errorf("_initialize ran %d times after calls one at a time, want 1", n)
	}
	inst, _, _ := p.pool.acquire(context.Background(), p)
	p.pool.discard(context.Background(), inst)
	// Take both slots: both instances are made now, the discarded one gone.
	a, _, _ := p.pool.acquire(context.Background(), p)
	b, _, _ := p.pool.acquire(context.Background(), p)
	if a == nil || b == nil || a == b {
		t.Fatalf("two overlapping calls got instances %p and %p", a, b)
	}
	// A third call waits for a slot: the pool never exceeds its size.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	if c, reason, _ := p.pool.acquire(ctx, p); c != nil || reason != ReasonNoInstance {
		t.Errorf("third acquire on a full pool: %p %q, want no instance", c, reason)
	}
	cancel()
	p.pool.put(a)
	p.pool.put(b)
	if n := inits(); n != 3 {
		t.Errorf("_initialize ran %d times after a replacement and growth, want 3", n)
	}
	if err := p.Call(context.Background(), hook.SignIn, nil, nil); err != nil {
		t.Fatal(err)
	}
	if n := inits(); n != 3 {
		t.Errorf("a call with idle instances made a new one: %d inits", n)
	}
}

func TestRequestTooLarge(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t)
	p := load(t, r, "good", Settings{Limits: Limits{MaxRequestBytes: 100}, Logger: slog.New(newRecorder())})
	err := p.Call(context.Background(), hook.SignIn, map[string]string{"pad": fmt.Sprintf("%0200d", 0)}, nil)
	var f *Failure
	if !errors.As(err, &f) || f.Reason != ReasonRequestTooLarge {
		t.Fatalf("got %v, want %q", err, ReasonRequestTooLarge)
	}
	if err := p.Call(context.Background(), hook.SignIn, map[string]string{}, nil); err != nil {
		t.Fatalf("small request after a refused one: %v", err)
	}
}

func TestCommandFallback(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	r := newTestRuntime(t)
	p := load(t, r, "command", Settings{Config: json.RawMessage(`{"k":"v"}`), Logger: slog.New(rec)})
	if got := p.Hooks(); len(got) != len(hook.Names) {
		t.Errorf("Hooks() = %v, want every hook", got)
	}
	for _, name := range []string{hook.SignIn, hook.TokenClaims} {
		var got map[string]any
		if err := p.Call(context.Background(), name, map[string]int{"n": 1}, &got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := map[string]any{"abi": float64(1), "hook": name, "config": map[string]any{"k": "v"}, "input": map[string]any{"n": float64(1)}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s result = %v, want %v", name, got, want)
		}
	}
	// stdout over the response cap fails the call.
	small := load(t, r, "command", Settings{Limits: Limits{MaxResponseBytes: 40}, Logger: slog.New(rec)})
	err := small.Call(context.Background(), hook.SignIn, map[string]string{"pad": "0123456789012345678901234567890123456789"}, nil)
	var f *Failure
	if !errors.As(err, &f) || f.Reason != ReasonResponseTooLarge {
		t.Errorf("big stdout: %v, want %q", err, ReasonResponseTooLarge)
	}
}

// TestPoolHammer runs many goroutines through a small pool: every caller
// gets its own answer back (no instance serves two calls at once).
func TestPoolHammer(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t)
	p := load(t, r, "good", Settings{Limits: Limits{PoolSize: 2}, Logger: slog.New(newRecorder())})
	const workers, calls = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers*calls)
	for w := range workers {
		wg.Go(func() {
			for c := range calls {
				in := map[string]int{"worker": w, "call": c}
				var out struct{ Input map[string]int }
				if err := p.Call(context.Background(), hook.SignIn, in, &out); err != nil {
					errs <- err
					return
				}
				if !reflect.DeepEqual(out.Input, in) {
					errs <- fmt.Errorf("worker %d call %d got %v", w, c, out.Input)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestWaitForInstance: with every instance busy, a caller waits until its
// context ends and then fails; the pool is intact afterwards.
func TestWaitForInstance(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t)
	p := load(t, r, "good", Settings{Limits: Limits{PoolSize: 1}, Logger: slog.New(newRecorder())})
	inst, reason, err := p.pool.acquire(context.Background(), p)
	if reason != "" {
		t.Fatal(reason, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err = p.Call(ctx, hook.SignIn, nil, nil)
	var f *Failure
	if !errors.As(err, &f) || f.Reason != ReasonNoInstance || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("busy pool: %v, want %q", err, ReasonNoInstance)
	}
	p.pool.put(inst)
	if err := p.Call(context.Background(), hook.SignIn, nil, nil); err != nil {
		t.Fatal(err)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t)
	p := load(t, r, "good", Settings{Limits: Limits{PoolSize: 1}, Logger: slog.New(newRecorder())})
	inst, _, _ := p.pool.acquire(context.Background(), p)
	closed := make(chan error)
	go func() { closed <- p.Close(context.Background()) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v with a call in flight", err)
	case <-time.After(20 * time.Millisecond):
	}
	p.pool.put(inst)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	err := p.Call(context.Background(), hook.SignIn, nil, nil)
	var f *Failure
	if !errors.As(err, &f) || f.Reason != ReasonClosed {
		t.Fatalf("after Close: %v, want %q", err, ReasonClosed)
	}
}

// TestCacheReused: a second runtime on the same cache directory (a restart)
// finds the compiled code there and writes nothing new.
func TestCacheReused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	snapshot := func() map[string]time.Time {
		files := map[string]time.Time{}
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			files[path] = info.ModTime()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return files
	}
	run := func() {
		r, err := NewRuntime(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close(context.Background())
		p := load(t, r, "good", Settings{Logger: slog.New(newRecorder())})
		if err := p.Call(context.Background(), hook.SignIn, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	run()
	first := snapshot()
	if len(first) == 0 {
		t.Fatal("no compiled code written to the cache directory")
	}
	run()
	if second := snapshot(); !reflect.DeepEqual(first, second) {
		t.Errorf("cache rewritten on restart:\n before %v\n after  %v", first, second)
	}
}
