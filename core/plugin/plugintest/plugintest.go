// Package plugintest helps tests that load Wasm modules built by
// `make plugins`.
package plugintest

import (
	"errors"
	"io/fs"
	"os"
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
