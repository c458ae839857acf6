package upstream_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/plugin/plugintest"
)

// installHostile puts testdata/plugins/<name>.wasm (make plugins-testdata;
// compiled with wat2wasm when it is not built) into dir as <as>.wasm.
func installHostile(t *testing.T, dir, name, as string) {
	t.Helper()
	wasm := plugintest.TestModule(t, filepath.Join(repoRoot(t), "testdata", "plugins"), name)
	if err := os.WriteFile(filepath.Join(dir, as+".wasm"), wasm, 0o600); err != nil {
		t.Fatal(err)
	}
}

// storedKeys lists every key of the server's store.
func (e *env) storedKeys(t *testing.T) []string {
	t.Helper()
	var keys []string
	if err := e.st.KV.Scan(context.Background(), "", func(k string, _ []byte) error {
		keys = append(keys, k)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestSignInHostileRefs: a sign_in plugin answering a sub or an ent value
// that is not an entity ref fails the sign-in closed: the popup gets an
// error and no identity, and nothing is stored.
func TestSignInHostileRefs(t *testing.T) {
	for _, name := range []string{"badsub", "badent"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			installHostile(t, dir, name, "resolver")
			e := startWithProvider(t, func(c *config.Config) {
				c.Plugins.Dir = dir
				c.Plugins.Hooks = map[string]any{"sign_in": map[string]any{"corp": "resolver"}}
			})
			b := newBrowser(t)
			before := e.storedKeys(t)
			msg, _ := e.popupSignIn(t, b, "alice@example.com")
			if msg.Response != nil {
				t.Fatalf("%s answer accepted: %+v", name, msg.Response.BackstageIdentity.Identity)
			}
			if msg.Error == nil || msg.Error.Message != "Sign-in is not available right now." {
				t.Fatalf("%s: payload %+v", name, msg.Error)
			}
			if after := e.storedKeys(t); !slices.Equal(before, after) {
				t.Errorf("the refused sign-in stored something: before %v, after %v", before, after)
			}
			if a := b.xhr(t, "GET", e.issuer+"/corp/refresh?env=development"); a.status != 401 {
				t.Errorf("refused sign-in left a session: %d %s", a.status, a.body)
			}
		})
	}
}
