package examples_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/plugin/plugintest"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// rawGuest drives a plugin's exports directly with wazero, so the SDKs can
// be given requests core/plugin never sends (malformed, another ABI
// version, another hook).
type rawGuest struct {
	mod               api.Module
	alloc, free, hook api.Function
}

func newRawGuest(t *testing.T, lang string) *rawGuest {
	t.Helper()
	ctx := context.Background()
	wasm := plugintest.ReadBuild(t, filepath.Join("bin", "signin-example-"+lang+".wasm"))
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	var logged []string
	_, err := rt.NewHostModuleBuilder("gatehouse").NewFunctionBuilder().
		WithFunc(func(_ context.Context, m api.Module, level, ptr, n uint32) {
			b, _ := m.Memory().Read(ptr, n)
			logged = append(logged, string(b))
		}).Export("log").Instantiate(ctx)
	if err != nil {
		t.Fatalf("host module: %v", err)
	}
	mod, err := rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
	if err != nil {
		t.Fatalf("instantiate %s: %v", lang, err)
	}
	t.Cleanup(func() {
		if len(logged) > 0 {
			t.Logf("%s logged %q", lang, logged)
		}
	})
	return &rawGuest{mod: mod, alloc: mod.ExportedFunction("gh_alloc"), free: mod.ExportedFunction("gh_free"), hook: mod.ExportedFunction("gh_sign_in")}
}

// call runs gh_sign_in on request exactly as the host does (§3 of sdk/ABI.md).
func (g *rawGuest) call(t *testing.T, request string) string {
	t.Helper()
	ctx := context.Background()
	r, err := g.alloc.Call(ctx, uint64(len(request)))
	if err != nil {
		t.Fatalf("gh_alloc: %v", err)
	}
	ptr := uint32(r[0])
	if !g.mod.Memory().Write(ptr, []byte(request)) {
		t.Fatalf("gh_alloc returned an out-of-bounds buffer")
	}
	res, err := g.hook.Call(ctx, uint64(ptr), uint64(len(request)))
	if err != nil {
		t.Fatalf("gh_sign_in trapped: %v", err)
	}
	rp, rn := uint32(res[0]>>32), uint32(res[0])
	b, ok := g.mod.Memory().Read(rp, rn)
	if !ok {
		t.Fatalf("response out of bounds")
	}
	out := string(b)
	if g.free != nil {
		if _, err := g.free.Call(ctx, uint64(rp), uint64(rn)); err != nil {
			t.Fatalf("gh_free response: %v", err)
		}
		if _, err := g.free.Call(ctx, uint64(ptr), uint64(len(request))); err != nil {
			t.Fatalf("gh_free request: %v", err)
		}
	}
	return out
}

// TestSDKEnvelope checks what the Rust, C and AssemblyScript SDKs do around
// the handler: they decode JSON escapes, default a null config to {}, and
// answer requests they cannot serve with ABI v1 error codes (sdk/ABI.md §6)
// without calling the handler.
func TestSDKEnvelope(t *testing.T) {
	const cfg = `{"allowed_domains":["example.com"],"group":"group:default/staff"}`
	cases := []struct {
		name, request, want string
		prefix              bool // want is a prefix: the message names a parser position that differs by SDK
	}{
		{"escapes are decoded",
			`{"abi":1,"hook":"sign_in","config":` + cfg + `,"input":{"profile":{"email":"\u0041l\u00e9x\"q\\@Example.com"}}}`,
			`{"result":{"sub":"user:default/alé` + "x\\\"q\\\\" + `","ent":["user:default/alé` + "x\\\"q\\\\" + `","group:default/staff"]}}`, false},
		{"surrogate pair and whitespace",
			" {\n\"abi\": 1, \"hook\": \"sign_in\", \"config\": " + cfg + ", \"input\": {\"profile\": {\"email\": \"\\ud83d\\ude00@example.com\"}}}\t",
			`{"result":{"sub":"user:default/😀","ent":["user:default/😀","group:default/staff"]}}`, false},
		{"null config is {}",
			`{"abi":1,"hook":"sign_in","config":null,"input":{"profile":{"email":"a@example.com"}}}`,
			`{"error":{"code":"access_denied","message":"email domain example.com is not allowed"}}`, false},
		{"last duplicate key wins",
			`{"abi":1,"hook":"sign_in","config":` + cfg + `,"input":{"profile":{"email":"x@evil.org","email":"bo@example.com"}}}`,
			`{"result":{"sub":"user:default/bo","ent":["user:default/bo","group:default/staff"]}}`, false},
		{"another ABI version",
			`{"abi":2,"hook":"sign_in","config":{},"input":{}}`,
			`{"error":{"code":"server_error","message":"request is not ABI version 1"}}`, false},
		{"another hook",
			`{"abi":1,"hook":"notify","config":{},"input":{}}`,
			`{"error":{"code":"invalid_request","message":"request for hook notify reached the sign_in export"}}`, false},
		{"not an object",
			`[1,2]`,
			`{"error":{"code":"invalid_request","message":"request is not a JSON object"}}`, false},
		{"truncated", `{"abi":1,"hook":"sign_in","config":{},"input":{"profile":`, `{"error":{"code":"invalid_request","message":"`, true},
		{"bad escape", `{"abi":1,"hook":"sign_in","config":{},"input":"\x"}`, `{"error":{"code":"invalid_request","message":"`, true},
		{"trailing data", `{"abi":1,"hook":"sign_in","config":{},"input":{}} {}`, `{"error":{"code":"invalid_request","message":"`, true},
		{"nesting too deep", `{"abi":1,"hook":"sign_in","config":{},"input":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`,
			`{"error":{"code":"invalid_request","message":"`, true},
	}
	for _, lang := range []string{"rust", "c", "assemblyscript"} {
		t.Run(lang, func(t *testing.T) {
			g := newRawGuest(t, lang)
			for _, tc := range cases {
				got := g.call(t, tc.request)
				if tc.prefix && !strings.HasPrefix(got, tc.want) || !tc.prefix && got != tc.want {
					t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
				}
			}
		})
	}
}

// TestGuestMemoryFlat makes 100,000 sign_in calls on one instance of each
// example with a guest-side allocator (Go's runtime manages its own heap)
// and checks that the instance's memory does not grow after warming up:
// every call frees what it allocated, and the host's two gh_free calls
// release the request and the response.
func TestGuestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 calls per language")
	}
	request := `{"abi":1,"hook":"sign_in","config":{"allowed_domains":["example.com"],"group":"group:default/staff"},` +
		`"input":{"provider":"github","env":"development","profile":{"email":"Alice.Smith@Example.com","displayName":"Alice"},"claims":{"email":"x@y","groups":["a","b"]}}}`
	const want = `{"result":{"sub":"user:default/alice.smith","ent":["user:default/alice.smith","group:default/staff"]}}`
	for _, lang := range []string{"rust", "c", "assemblyscript", "wat"} {
		t.Run(lang, func(t *testing.T) {
			g := newRawGuest(t, lang)
			for range 100 {
				g.call(t, request)
			}
			pages := g.mod.Memory().Size()
			for i := range 100_000 {
				if got := g.call(t, request); got != want {
					t.Fatalf("call %d: got %s", i, got)
				}
			}
			if g.mod.Memory().Size() != pages {
				t.Errorf("memory grew from %d to %d bytes over 100,000 calls", pages, g.mod.Memory().Size())
			}
		})
	}
}
