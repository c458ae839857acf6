package resolver_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/plugin"
	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// build compiles both resolvers from source into dir and returns their
// paths by language.
func build(t *testing.T) map[string]string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	here := filepath.Dir(file)
	root := filepath.Join(here, "..", "..")
	dir := t.TempDir()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go toolchain: %v", err)
	}
	run := func(env []string, name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = root
		if name == gobin { // the Go resolver is a module of its own
			cmd.Dir = filepath.Join(root, "examples", "backstage-resolver", "go")
		}
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	out := map[string]string{"go": filepath.Join(dir, "resolver-go.wasm"), "rust": filepath.Join(dir, "resolver-rust.wasm")}
	run([]string{"GOOS=wasip1", "GOARCH=wasm"}, gobin, "build", "-trimpath", "-buildmode=c-shared", "-o", out["go"], ".")
	rustc := "/usr/bin/rustc" // Debian's, with the wasm32 std (rustup's has none)
	if _, err := os.Stat(rustc); err != nil {
		t.Fatalf("rustc with wasm32 std missing (make toolchains): %v", err)
	}
	flags := []string{"--edition", "2021", "--target", "wasm32-unknown-unknown", "-O", "-C", "panic=abort"}
	rlib := filepath.Join(dir, "libgatehouse.rlib")
	run(nil, rustc, append(flags, "--crate-type", "rlib", "--crate-name", "gatehouse", "-o", rlib, "sdk/rust/src/lib.rs")...)
	run(nil, rustc, append(flags, "--crate-type", "cdylib", "--crate-name", "resolver_rust", "-C", "link-arg=-zstack-size=65536",
		"--extern", "gatehouse="+rlib, "-o", out["rust"], "examples/backstage-resolver/rust/resolver.rs")...)
	return out
}

type input struct {
	Provider string         `json:"provider"`
	Env      string         `json:"env"`
	Profile  map[string]any `json:"profile"`
	Claims   map[string]any `json:"claims"`
}

type result struct {
	Sub string   `json:"sub"`
	Ent []string `json:"ent"`
}

const (
	plain    = `{}`
	required = `{"namespace":"corp","groups_claim":"roles","group_namespace":"teams","required_group":"Platform"}`
)

var cases = []struct {
	name, config string
	in           input
	want         result
	refused      string
}{
	{"username and groups", plain,
		input{Profile: map[string]any{"email": "alice@example.com"}, Claims: map[string]any{
			"preferred_username": "Alice", "groups": []any{"Staff", "admins", "staff", "bad group", 7, "-x"}}},
		result{"user:default/alice", []string{"user:default/alice", "group:default/staff", "group:default/admins"}}, ""},
	{"email local part", plain,
		input{Profile: map[string]any{"email": "Bob.Smith@example.com"}},
		result{"user:default/bob.smith", []string{"user:default/bob.smith"}}, ""},
	{"email from claims", plain,
		input{Claims: map[string]any{"email": "carol@example.com", "groups": "not a list"}},
		result{"user:default/carol", []string{"user:default/carol"}}, ""},
	{"no name", plain, input{Claims: map[string]any{"sub": "123"}}, result{}, "cannot derive a user name from the provider's answer"},
	{"invalid name", plain, input{Claims: map[string]any{"preferred_username": "a/b"}}, result{}, "cannot derive a user name from the provider's answer"},
	{"member of the required group", required,
		input{Claims: map[string]any{"preferred_username": "dave", "roles": []any{"PLATFORM", "ops"}}},
		result{"user:corp/dave", []string{"user:corp/dave", "group:teams/platform", "group:teams/ops"}}, ""},
	{"not a member", required,
		input{Claims: map[string]any{"preferred_username": "eve", "groups": []any{"platform"}}}, result{}, "not a member of group Platform"},
}

// TestResolvers: the Go and Rust resolvers, built from source, give the
// same answers to one table, as Gatehouse's plugin runtime calls them.
func TestResolvers(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles two plugins")
	}
	ctx := context.Background()
	rt, err := plugin.NewRuntime(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	for lang, path := range build(t) {
		wasm, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		loaded := map[string]*plugin.Plugin{}
		for _, cfg := range []string{plain, required} {
			p, err := rt.Load(ctx, "resolver-"+lang, wasm, plugin.Settings{Config: json.RawMessage(cfg)})
			if err != nil {
				t.Fatalf("%s: load: %v", lang, err)
			}
			defer p.Close(ctx)
			loaded[cfg] = p
		}
		for _, tc := range cases {
			t.Run(lang+"/"+tc.name, func(t *testing.T) {
				tc.in.Provider, tc.in.Env = "corp", "development"
				var got result
				err := loaded[tc.config].Call(ctx, hook.SignIn, tc.in, &got)
				var refusal *plugin.Refusal
				switch {
				case tc.refused != "":
					if !errors.As(err, &refusal) || refusal.Code != "access_denied" || refusal.Message != tc.refused {
						t.Errorf("got %+v, %v; want refusal %q", got, err, tc.refused)
					}
				case err != nil:
					t.Errorf("refused: %v", err)
				case !reflect.DeepEqual(got, tc.want):
					t.Errorf("got %+v, want %+v", got, tc.want)
				}
			})
		}
	}
}
