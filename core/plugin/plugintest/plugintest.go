// Package plugintest helps tests that load Wasm modules built by
// `make plugins` and the test modules of testdata/plugins.
package plugintest

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// ReadBuild reads a module that `make plugins` builds. Under -short, which
// runs with Go alone and so without the plugin toolchains, a module that
// was never built skips the test; otherwise it fails it.
func ReadBuild(tb testing.TB, path string) []byte {
	tb.Helper()
	wasm, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && testing.Short() {
		tb.Skipf("%s is not built: -short runs without the plugin toolchains (make plugins builds it)", path)
	}
	if err != nil {
		tb.Fatalf("%s: %v: run make plugins", path, err)
	}
	return wasm
}

// TestModule returns the test module dir/bin/<name>.wasm that
// `make plugins-testdata` builds from dir/<name>.wat, compiling the WAT
// with wat2wasm when it is not built. Under -short a module that cannot be
// had skips the test, as ReadBuild does; otherwise it fails it.
func TestModule(tb testing.TB, dir, name string) []byte {
	tb.Helper()
	if wasm, err := os.ReadFile(filepath.Join(dir, "bin", name+".wasm")); err == nil {
		return wasm
	}
	out := filepath.Join(tb.TempDir(), name+".wasm")
	if msg, err := exec.Command("wat2wasm", "-o", out, filepath.Join(dir, name+".wat")).CombinedOutput(); err != nil {
		if testing.Short() {
			tb.Skipf("%s.wasm is not built and -short needs no toolchain: make plugins-testdata builds it", name)
		}
		tb.Fatalf("no %s.wasm (make plugins-testdata): wat2wasm: %v: %s", name, err, msg)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	return wasm
}
