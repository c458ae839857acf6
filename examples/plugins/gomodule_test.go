package examples_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGoPluginOutsideTheRepository builds the Go example as a plugin author
// does outside this repository: a module of its own that requires the SDK
// module alone, at the SDK's own Go version, with nothing of the server's
// module (its Go version or dependencies) in the way. The SDK is found
// through a replace only because it is not fetched from a registry here.
func TestGoPluginOutsideTheRepository(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a plugin")
	}
	sdk, err := filepath.Abs(filepath.Join("..", "..", "sdk", "go"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(sdk, "go.mod")); err != nil {
		t.Fatalf("the Go SDK has no go.mod of its own: %v", err)
	}
	edit := exec.Command("go", "mod", "edit", "-json")
	edit.Dir = sdk
	raw, err := edit.Output()
	if err != nil {
		t.Fatalf("go mod edit -json in sdk/go: %v", err)
	}
	var mod struct {
		Module  struct{ Path string }
		Go      string
		Require []struct{ Path string }
	}
	if err := json.Unmarshal(raw, &mod); err != nil {
		t.Fatal(err)
	}
	const path = "github.com/gatehouse-auth/gatehouse/sdk/go"
	if mod.Module.Path != path {
		t.Fatalf("sdk/go is module %q, want %q", mod.Module.Path, path)
	}
	if len(mod.Require) != 0 {
		t.Errorf("the SDK requires %v: a plugin should need nothing but the SDK", mod.Require)
	}

	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("go", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	gomod := strings.Join([]string{
		"module example.com/my-plugin",
		"go " + mod.Go,
		"require " + path + " v0.1.0",
		"replace " + path + " v0.1.0 => " + sdk,
	}, "\n") + "\n"
	for name, body := range map[string][]byte{"go.mod": []byte(gomod), "main.go": src} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "my-plugin.wasm")
	build := exec.Command("go", "build", "-trimpath", "-buildmode=c-shared", "-o", out, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOWORK=off", "GOFLAGS=-mod=mod")
	if msg, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build a plugin outside the repository: %v\n%s", err, msg)
	}
	wasm, err := os.ReadFile(out)
	if err != nil || len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		t.Fatalf("no Wasm module built (%d bytes, %v)", len(wasm), err)
	}
}
