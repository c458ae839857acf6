package ciba_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/plugin/plugintest"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

// hostileDir is a plugin directory with the hostile
// testdata/plugins/<name>.wasm (make plugins-testdata; compiled with
// wat2wasm when it is not built) as the plugin "directory"; notify-default
// is the embedded one.
func hostileDir(tb testing.TB, name string) string {
	tb.Helper()
	dir := tb.TempDir()
	wasm := plugintest.TestModule(tb, filepath.Join("..", "..", "testdata", "plugins"), name)
	if err := os.WriteFile(filepath.Join(dir, "directory.wasm"), wasm, 0o600); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// startHostile starts a server whose resolve_user is the hostile plugin.
func startHostile(t *testing.T, name string) *env {
	t.Helper()
	dir := hostileDir(t, name)
	return start(t, options{edit: func(c *config.Config) {
		c.Plugins.Dir, c.Plugins.CacheDir = dir, ""
		c.Plugins.Hooks = map[string]any{"resolve_user": "directory", "notify": "notify-default"}
	}})
}

// TestResolveUserHostileRefs: a resolve_user answer whose sub or an ent
// value is not an entity ref fails the request closed (server_error) and
// stores nothing.
func TestResolveUserHostileRefs(t *testing.T) {
	for _, name := range []string{"badsub", "badent"} {
		t.Run(name, func(t *testing.T) {
			e := startHostile(t, name)
			cl := e.client(t, "poll", "", nil)
			status, body := e.authorize(t, cl, loginHint("alice"))
			if status != http.StatusInternalServerError || body["error"] != "server_error" {
				t.Errorf("%s answer: %d %v, want 500 server_error", name, status, body)
			}
			if n := e.requests(t); n != 0 {
				t.Errorf("%d requests stored", n)
			}
		})
	}
}

// TestResolveUserIDTokenHint: for an id_token_hint, the user resolve_user
// answers must be the token's subject. The plugin answers alice whatever
// it is asked: a hint naming alice goes through, one naming the guest is
// refused and stores nothing.
func TestResolveUserIDTokenHint(t *testing.T) {
	e := startHostile(t, "otheruser")
	cl := e.client(t, "poll", "", nil)
	hint := func(sub string) url.Values {
		tok, err := e.srv.Issuer().IDToken(context.Background(), token.IDRequest{ClientID: cl.ID, Subject: sub})
		if err != nil {
			t.Fatal(err)
		}
		return url.Values{"scope": {"openid"}, "id_token_hint": {tok}}
	}
	status, body := e.authorize(t, cl, hint("user:development/guest"))
	if status != http.StatusInternalServerError || body["error"] != "server_error" {
		t.Errorf("alice resolved for the guest's ID token: %d %v", status, body)
	}
	if n := e.requests(t); n != 0 {
		t.Fatalf("%d requests stored for a refused answer", n)
	}
	e.startRequest(t, cl, hint("user:default/alice"))
	if n := e.requests(t); n != 1 {
		t.Errorf("%d requests stored, want alice's", n)
	}
}
