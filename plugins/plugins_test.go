package plugins_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/plugin"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// The first-party plugins and the Go example, loaded from their build
// outputs through the real runtime: these tests see exactly what the server
// sees. `make plugins` builds the .wasm files.

// rt is shared by every test so that each module is compiled once (its
// in-memory compilation cache); a Go module takes seconds to compile.
var rt *plugin.Runtime

func TestMain(m *testing.M) {
	var err error
	if rt, err = plugin.NewRuntime(context.Background(), ""); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = rt.Close(context.Background())
	os.Exit(code)
}

var loadLocks sync.Map // module path → *sync.Mutex

func load(tb testing.TB, path string, config string, limits plugin.Limits) *plugin.Plugin {
	tb.Helper()
	wasm, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%s: %v: run make plugins", path, err)
	}
	ctx := context.Background()
	name := strings.TrimSuffix(filepath.Base(path), ".wasm")
	// One load of a module at a time: the first compiles it, the others find
	// it in the runtime's cache instead of compiling it again in parallel.
	mu, _ := loadLocks.LoadOrStore(path, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	p, err := rt.Load(ctx, name, wasm, plugin.Settings{
		Config: json.RawMessage(config),
		Limits: limits,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatalf("load %s: %v", path, err)
	}
	tb.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

func core(name string) string { return filepath.Join("bin", name+".wasm") }

const goExample = "../examples/plugins/bin/signin-example-go.wasm"

// outcome is a call's answer reduced to what the tables compare.
type outcome struct {
	Result  map[string]any
	Code    string
	Message string
}

func call(t *testing.T, p *plugin.Plugin, hook string, input any) outcome {
	t.Helper()
	var res map[string]any
	err := p.Call(context.Background(), hook, input, &res)
	if err == nil {
		return outcome{Result: res}
	}
	if r, ok := errors.AsType[*plugin.Refusal](err); ok {
		if r.Plugin != p.Name() || r.Hook != hook {
			t.Errorf("refusal names %s/%s, want %s/%s", r.Plugin, r.Hook, p.Name(), hook)
		}
		return outcome{Code: r.Code, Message: r.Message}
	}
	t.Fatalf("%s %s: %v (not a refusal: the plugin failed)", p.Name(), hook, err)
	return outcome{}
}

func check(t *testing.T, got outcome, wantResult, code, message string) {
	t.Helper()
	if code != "" {
		if got.Code != code || (message != "" && got.Message != message) {
			t.Fatalf("got %+v, want %s %q", got, code, message)
		}
		return
	}
	if got.Code != "" {
		t.Fatalf("refused %s: %s, want %s", got.Code, got.Message, wantResult)
	}
	var want map[string]any
	if err := json.Unmarshal([]byte(wantResult), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Result, want) {
		b, _ := json.Marshal(got.Result)
		t.Fatalf("result = %s, want %s", b, wantResult)
	}
}

func profile(email string) map[string]any {
	return map[string]any{"provider": "github", "env": "development",
		"profile": map[string]any{"email": email, "displayName": "Someone"}, "claims": map[string]any{"sub": "42"}}
}

func TestExports(t *testing.T) {
	t.Parallel()
	for path, want := range map[string][]string{
		core("signin-default"):   {plugin.HookSignIn},
		core("directory-static"): {plugin.HookResolveUser},
		core("notify-default"):   {plugin.HookNotify},
		goExample:                {plugin.HookSignIn},
	} {
		p := load(t, path, `{}`, plugin.Limits{PoolSize: 1})
		got := slices.Clone(p.Hooks())
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s serves %v, want exactly %v", path, got, want)
		}
	}
}

func TestSignInDefault(t *testing.T) {
	t.Parallel()
	const users = `"users":[{"email":"Alice@Example.com","ref":"user:default/alice","groups":["group:default/staff"]}]`
	tests := []struct {
		name, config, email string
		want                string
		code, message       string
	}{
		{"email_local_part", `{"resolver":"email_local_part"}`, "Alice@example.com",
			`{"sub":"user:default/alice","ent":["user:default/alice"]}`, "", ""},
		{"email_local_part namespace", `{"resolver":"email_local_part","namespace":"dev","allowed_domains":["example.com"]}`, "bob@EXAMPLE.com",
			`{"sub":"user:dev/bob","ent":["user:dev/bob"]}`, "", ""},
		{"domain not allowed", `{"resolver":"email_local_part","allowed_domains":["example.com"]}`, "eve@evil.test",
			"", "access_denied", "email domain evil.test is not allowed"},
		{"email directory", `{"resolver":"email",` + users + `}`, "alice@EXAMPLE.com",
			`{"sub":"user:default/alice","ent":["user:default/alice","group:default/staff"]}`, "", ""},
		{"email unknown", `{"resolver":"email",` + users + `}`, "bob@example.com",
			"", "access_denied", "user not found"},
		{"refuse", `{"resolver":"refuse"}`, "alice@example.com",
			"", "access_denied", "sign-in is refused by configuration"},
		{"missing email", `{"resolver":"email_local_part"}`, "",
			"", "access_denied", "sign-in requires an email address"},
		{"config error fails closed", `{"resolvers":["email"]}`, "alice@example.com",
			"", "server_error", `plugin config: json: unknown field "resolvers"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := load(t, core("signin-default"), tt.config, plugin.Limits{PoolSize: 1})
			check(t, call(t, p, plugin.HookSignIn, profile(tt.email)), tt.want, tt.code, tt.message)
		})
	}
}

func TestDirectoryStatic(t *testing.T) {
	t.Parallel()
	p := load(t, core("directory-static"), `{"users":[
		{"sub":"user:default/alice","username":"alice","email":"alice@example.com","displayName":"Alice","picture":"https://example.com/a.png"},
		{"sub":"user:default/bob","username":"bob","email":"bob@example.com","displayName":"Bob"}]}`, plugin.Limits{PoolSize: 2})
	alice := `{"sub":"user:default/alice","profile":{"email":"alice@example.com","displayName":"Alice","picture":"https://example.com/a.png"}}`
	tests := []struct {
		name, kind, value string
		want              string
		code, message     string
	}{
		{"login_hint email", "login_hint", "ALICE@example.com", alice, "", ""},
		{"login_hint username", "login_hint", "bob", `{"sub":"user:default/bob","profile":{"email":"bob@example.com","displayName":"Bob"}}`, "", ""},
		{"login_hint sub", "login_hint", "user:default/alice", alice, "", ""},
		{"id_token_hint sub", "id_token_hint", "user:default/alice", alice, "", ""},
		{"id_token_hint is not an email", "id_token_hint", "alice@example.com", "", "unknown_user_id", "no user matches the id_token_hint"},
		{"unknown", "login_hint", "mallory", "", "unknown_user_id", "no user matches the login_hint"},
		{"login_hint_token", "login_hint_token", "eyJ", "", "unknown_user_id", "login_hint_token is not supported by directory-static"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := map[string]any{"kind": tt.kind, "value": tt.value, "client_id": "client-1", "scope": "openid"}
			check(t, call(t, p, plugin.HookResolveUser, in), tt.want, tt.code, tt.message)
		})
	}
}

func TestNotifyDefault(t *testing.T) {
	t.Parallel()
	event := map[string]any{
		"event":           "ciba.authentication_requested",
		"user":            map[string]any{"sub": "user:default/alice", "profile": map[string]any{"email": "alice@example.com"}},
		"client":          map[string]any{"id": "client-1", "name": "Example App"},
		"binding_message": "W4SCT",
		"scope":           "openid",
		"approval_url":    "https://auth.example.com/approve/abc",
		"expires_at":      1767323045,
	}
	line := `ciba.authentication_requested: user \"user:default/alice\" <\"alice@example.com\">, client \"client-1\" (\"Example App\"), ` +
		`binding message \"W4SCT\", scope \"openid\", approve at \"https://auth.example.com/approve/abc\", expires 2026-01-02T03:04:05Z`
	body, _ := json.Marshal(event)
	tests := []struct {
		name, config, want string
	}{
		{"log only", `{}`, `{"deliveries":[{"type":"log","message":"` + line + `"}]}`},
		{"log and webhook", `{"webhook_url":"https://hooks.example.com/ciba"}`,
			`{"deliveries":[{"type":"log","message":"` + line + `"},{"type":"webhook","url":"https://hooks.example.com/ciba","body":` + string(body) + `}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := load(t, core("notify-default"), tt.config, plugin.Limits{PoolSize: 1})
			check(t, call(t, p, plugin.HookNotify, event), tt.want, "", "")
		})
	}
}

// The shared example policy through the Go example's Wasm build.
func TestGoExample(t *testing.T) {
	t.Parallel()
	p := load(t, goExample, `{"allowed_domains":["example.com"],"group":"group:default/staff"}`, plugin.Limits{PoolSize: 1})
	check(t, call(t, p, plugin.HookSignIn, profile("Alice@Example.com")),
		`{"sub":"user:default/alice","ent":["user:default/alice","group:default/staff"]}`, "", "")
	check(t, call(t, p, plugin.HookSignIn, profile("eve@Evil.test")), "", "access_denied", "email domain evil.test is not allowed")
	check(t, call(t, p, plugin.HookSignIn, profile("")), "", "access_denied", "sign-in requires an email address")
}

// A Go reactor's collector only runs while the host is inside an export, so
// garbage can outrun it: a 16 MiB instance of signin-default built without
// the SDK's collection ran out of memory after about 630 calls of 200 KB.
// The SDK collects as traffic crosses the ABI, so one instance keeps serving.
// This drives the module with wazero directly, without the host's per-call
// deadline (which makes loop-heavy guest code several times slower), to
// keep the test to seconds.
func TestLargeRequestsDoNotExhaustMemory(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("700 calls of 200 KB")
	}
	path := core("signin-default")
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v: run make plugins", path, err)
	}
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithMemoryLimitPages(plugin.DefaultMemoryPages))
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	mod, err := r.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
	if err != nil {
		t.Fatal(err)
	}
	alloc, free, signIn := mod.ExportedFunction("gh_alloc"), mod.ExportedFunction("gh_free"), mod.ExportedFunction("gh_sign_in")
	req, err := json.Marshal(map[string]any{"abi": 1, "hook": "sign_in", "config": map[string]any{"resolver": "email_local_part"},
		"input": map[string]any{"profile": map[string]any{"email": "alice@example.com"}, "claims": map[string]any{"blob": strings.Repeat("x", 200_000)}}})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"result":{"sub":"user:default/alice","ent":["user:default/alice"]}}`
	for i := range 700 {
		res, err := alloc.Call(ctx, uint64(len(req)))
		if err != nil {
			t.Fatalf("call %d: gh_alloc: %v", i, err)
		}
		ptr := uint32(res[0])
		if !mod.Memory().Write(ptr, req) {
			t.Fatalf("call %d: gh_alloc returned %#x, out of bounds", i, ptr)
		}
		res, err = signIn.Call(ctx, uint64(ptr), uint64(len(req)))
		if err != nil {
			t.Fatalf("call %d: gh_sign_in: %v", i, err)
		}
		rptr, rlen := uint32(res[0]>>32), uint32(res[0])
		resp, ok := mod.Memory().Read(rptr, rlen)
		if !ok || string(resp) != want {
			t.Fatalf("call %d: response %q, want %s", i, resp, want)
		}
		if _, err := free.Call(ctx, uint64(ptr), uint64(len(req))); err != nil {
			t.Fatal(err)
		}
		if _, err := free.Call(ctx, uint64(rptr), uint64(rlen)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSDKHostFunctions builds a test plugin that calls every host function
// the SDK wraps and runs it in the real host: the SDK's imports must link,
// the host's answers (written back through gh_alloc while the guest is
// inside an export) must come through, and the allow-list must hold.
func TestSDKHostFunctions(t *testing.T) {
	t.Parallel()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command builds the test plugin: %v", err)
	}
	wasm := filepath.Join(t.TempDir(), "hostcheck.wasm")
	build := exec.Command(gobin, "build", "-buildmode=c-shared", "-trimpath", "-o", wasm, "./sdk/go/gatehouse/internal/hostcheck")
	build.Dir = ".."
	build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build hostcheck: %v\n%s", err, out)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Echo", r.Header.Get("X-Hostcheck"))
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
	}))
	defer srv.Close()

	logs := &logRecorder{}
	code, err := os.ReadFile(wasm)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]string{"url": srv.URL + "/ok", "denied_url": srv.URL + "/secret"})
	p, err := rt.Load(context.Background(), "hostcheck", code, plugin.Settings{
		Config:    cfg,
		HTTPAllow: []string{srv.URL + "/ok"},
		KV:        memory.New(),
		Limits:    plugin.Limits{PoolSize: 1},
		Logger:    slog.New(logs),
	})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	defer p.Close(context.Background())

	for i, visits := range []string{"", "+"} {
		var out struct{ Claims map[string]any }
		if err := p.Call(context.Background(), plugin.HookTokenClaims, map[string]string{"sub": "user:default/alice"}, &out); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		want := map[string]any{
			"status": 200.0, "body": "POST /ok ping", "header": "user:default/alice",
			"denied":        "gatehouse: http GET " + srv.URL + "/secret: url not allowed",
			"visits_before": visits, "had_visits": i > 0,
		}
		if !reflect.DeepEqual(out.Claims, want) {
			t.Fatalf("call %d: claims %v, want %v", i, out.Claims, want)
		}
	}
	if !logs.has(slog.LevelWarn, "hostcheck for user:default/alice") {
		t.Errorf("the plugin's log line did not reach the host's logger: %v", logs.lines())
	}
}

// logRecorder is a slog.Handler keeping every message with its level.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Level.String()+" "+r.Message)
	return nil
}

func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) has(level slog.Level, msg string) bool {
	return slices.Contains(l.lines(), level.String()+" "+msg)
}

func (l *logRecorder) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.msgs)
}

// Many goroutines over a small pool: every answer is right (run with -race).
func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	p := load(t, core("directory-static"), `{"users":[{"sub":"user:default/alice","email":"alice@example.com"}]}`, plugin.Limits{PoolSize: 2})
	const workers, calls = 8, 25
	errs := make(chan error, workers)
	for range workers {
		go func() {
			for range calls {
				var res struct{ Sub string }
				err := p.Call(context.Background(), plugin.HookResolveUser, map[string]any{"kind": "login_hint", "value": "alice@example.com"}, &res)
				if err == nil && res.Sub != "user:default/alice" {
					err = errors.New("wrong sub " + res.Sub)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkGoSignIn measures a sign_in call of the Go example on a pooled,
// warm instance through the real runtime (deadline, envelope, response
// decoding included) and reports p50/p99 per call.
func BenchmarkGoSignIn(b *testing.B) {
	for _, bc := range []struct{ name, path, config string }{
		{"example", goExample, `{"allowed_domains":["example.com"],"group":"group:default/staff"}`},
		{"signin-default", core("signin-default"), `{"resolver":"email_local_part","allowed_domains":["example.com"]}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := load(b, bc.path, bc.config, plugin.Limits{PoolSize: 1})
			in := profile("alice@example.com")
			ctx := context.Background()
			var out struct{ Sub string }
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				if err := p.Call(ctx, plugin.HookSignIn, in, &out); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			if n := len(lat); n > 0 {
				b.ReportMetric(float64(lat[n/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[n*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}
