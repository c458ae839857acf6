package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/store/memory"
	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// TestHostileCalls loads each hostile plugin with a pool of one and checks
// that the bad hook fails closed with the exact reason, is logged once, and
// that the next calls work: the same hook fails the same way on a fresh
// instance (not "module closed"), the plugin's good hook answers, and so
// does another plugin of the same runtime.
func TestHostileCalls(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t)
	good := load(t, r, "good", Settings{Logger: slog.New(newRecorder())})
	tests := []struct {
		plugin, hook string
		limits       Limits
		reason       Reason // with its detail, as Failure.Cause says it
	}{
		{"loop", hook.SignIn, Limits{Timeout: 100 * time.Millisecond}, ReasonTimeout},
		{"membomb", hook.SignIn, Limits{MemoryPages: 32}, ReasonOutOfMemory},
		{"trap", hook.SignIn, Limits{}, "trap: unreachable"},
		{"huge", hook.SignIn, Limits{}, ReasonResponseTooLarge},
		{"badjson", hook.SignIn, Limits{}, ReasonNotJSON},
		{"badjson", hook.AuthHandler, Limits{}, ReasonNeither},
		{"badjson", hook.ResolveUser, Limits{}, ReasonBoth},
		{"badjson", hook.Notify, Limits{}, ReasonNoErrorCode},
	}
	for _, tc := range tests {
		t.Run(tc.plugin+"/"+tc.hook, func(t *testing.T) {
			t.Parallel()
			rec := newRecorder()
			tc.limits.PoolSize = 1
			if tc.limits.Timeout == 0 {
				// Only the loop case is about the deadline: the others must
				// fail for their own reason even on a loaded machine.
				tc.limits.Timeout = time.Minute
			}
			p := load(t, r, tc.plugin, Settings{Limits: tc.limits, Logger: slog.New(rec)})
			for range 2 {
				err := p.Call(context.Background(), tc.hook, map[string]string{"email": "a@example.com"}, nil)
				var f *Failure
				if !errors.As(err, &f) {
					t.Fatalf("got %v, want *Failure", err)
				}
				if f.Cause() != string(tc.reason) || f.Plugin != tc.plugin || f.Hook != tc.hook {
					t.Fatalf("failure = %+v, want reason %q", f, tc.reason)
				}
				if want := "plugin " + tc.plugin + " failed " + tc.hook + ": " + string(tc.reason); err.Error() != want {
					t.Errorf("Error() = %q, want %q", err.Error(), want)
				}
			}
			logged := rec.find("plugin call failed", map[string]string{"plugin": tc.plugin, "hook": tc.hook, "reason": string(tc.reason)})
			if len(logged) != 2 || logged[0].Level != slog.LevelError {
				t.Errorf("logged %d failures (%+v), want one per call at error", len(logged), logged)
			}
			var claims map[string]any
			if err := p.Call(context.Background(), hook.TokenClaims, nil, &claims); err != nil {
				t.Fatalf("good hook after the failure: %v", err)
			}
			if err := good.Call(context.Background(), hook.SignIn, nil, nil); err != nil {
				t.Fatalf("other plugin after the failure: %v", err)
			}
		})
	}
}

// TestInitDeadline: starting an instance is bounded by InitTimeout, not by
// the call deadline, so that a runtime's start-up (a Go module's) is not
// held to what one call may take: a looping _initialize runs until the
// start-up deadline, however short the call deadline.
func TestInitDeadline(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t)
	const initTimeout = 500 * time.Millisecond
	start := time.Now()
	_, err := r.Load(context.Background(), "initloop", wasmFile(t, "initloop"),
		Settings{Limits: Limits{Timeout: 10 * time.Millisecond, InitTimeout: initTimeout}})
	var le *LoadError
	if !errors.As(err, &le) || le.Reason != ReasonInitialize {
		t.Fatalf("Load = %v, want reason %q", err, ReasonInitialize)
	}
	if took := time.Since(start); took < initTimeout {
		t.Errorf("the looping _initialize was stopped after %s, before the start-up deadline %s: the call deadline bounds it", took, initTimeout)
	}
}

// TestCanceledMidCall: the caller giving up stops the guest (it is closed
// mid-loop, here from inside its own log call) and the instance is replaced.
func TestCanceledMidCall(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t)
	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	rec.onLog = func(l record) {
		if l.Msg == "looping" {
			cancel()
		}
	}
	p := load(t, r, "loop", Settings{Limits: Limits{PoolSize: 1, Timeout: time.Minute}, Logger: slog.New(rec)})
	err := p.Call(ctx, hook.SignIn, nil, nil)
	var f *Failure
	if !errors.As(err, &f) || f.Reason != ReasonCanceled {
		t.Fatalf("got %v, want %q", err, ReasonCanceled)
	}
	if err := p.Call(context.Background(), hook.TokenClaims, nil, nil); err != nil {
		t.Fatal(err)
	}
}

func TestLoadRefusals(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t)
	kv := memory.New()
	tests := []struct {
		name, plugin string
		wasm         []byte
		settings     Settings
		reason       string
	}{
		{"missing gh_alloc", "noexports", nil, Settings{}, "missing export gh_alloc"},
		{"wrong ABI version", "wrongabi", nil, Settings{}, ReasonWrongABI},
		{"_initialize traps", "initfail", nil, Settings{}, ReasonInitialize},
		{"_initialize loops", "initloop", nil, Settings{Limits: Limits{InitTimeout: 300 * time.Millisecond}}, ReasonInitialize},
		{"kv not granted", "kv", nil, Settings{}, "imports gatehouse.kv_get, which its settings do not grant"},
		{"not wasm", "garbage", []byte("\x00asm\x02\x00\x00\x00"), Settings{}, ReasonInvalidModule},
		{"memory over the cap", "huge", nil, Settings{Limits: Limits{MemoryPages: 16}}, ReasonModuleLimit},
		{"config not an object", "good", nil, Settings{Config: json.RawMessage(`[1]`)}, ReasonConfigNotObject},
		{"config not JSON", "good", nil, Settings{Config: json.RawMessage(`{`)}, ReasonConfigNotObject},
		{"no hooks", "empty", []byte("\x00asm\x01\x00\x00\x00"), Settings{}, ReasonNoHooks},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wasm := tc.wasm
			if wasm == nil {
				wasm = wasmFile(t, tc.plugin)
			}
			_, err := r.Load(context.Background(), tc.plugin, wasm, tc.settings)
			var le *LoadError
			if !errors.As(err, &le) || le.Reason != tc.reason || le.Plugin != tc.plugin {
				t.Fatalf("Load = %v, want reason %q", err, tc.reason)
			}
			if !strings.HasPrefix(err.Error(), "plugin "+tc.plugin+" refused at load: "+tc.reason) {
				t.Errorf("Error() = %q", err.Error())
			}
		})
	}
	// Granted, the same module loads.
	load(t, r, "kv", Settings{KV: kv})
}

// TestHTTPRequestWithoutAllowList: a module importing http_request loads
// with no http_allow at all (one module may offer a remote lookup its
// operator leaves off), and every request it makes is refused before any
// connection: an empty allow-list reaches nothing.
func TestHTTPRequestWithoutAllowList(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t)
	for _, allow := range [][]string{nil, {}} {
		p := load(t, r, "badurl", Settings{HTTPAllow: allow})
		var got json.RawMessage
		if err := p.Call(context.Background(), hook.SignIn, nil, &got); err != nil {
			t.Fatal(err)
		}
		if string(got) != `{"error":"url not allowed"}` {
			t.Errorf("http_request with http_allow %v: %s, want url not allowed", allow, got)
		}
	}
}
