package server_test

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/internal/rss"
	"github.com/gatehouse-auth/gatehouse/core/internal/wasmbomb"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// TestHostilePluginsServer runs the real server with a plugin directory
// holding a module that compiles for a minute and a token_claims plugin
// answering 900 KB of claims. The server starts without waiting for the
// slow one (/readyz is ready and lists it as loading), token requests fail
// closed with server_error instead of minting a megabyte token, other
// requests keep being served throughout, and the process's peak RSS grows
// by at most 512 MiB (the server runs in the test's process).
func TestHostilePluginsServer(t *testing.T) {
	dir := t.TempDir()
	claims, err := os.ReadFile(filepath.Join("..", "..", "testdata", "plugins", "bin", "bigclaims.wasm"))
	if err != nil {
		if testing.Short() {
			t.Skip("bigclaims.wasm is not built and -short needs no toolchain: make plugins-testdata builds it")
		}
		t.Fatalf("test plugin bigclaims (make plugins-testdata): %v", err)
	}
	for name, wasm := range map[string][]byte{"claims": claims, "slow": wasmbomb.BrTables(4000, 8000, 200)} {
		if err := os.WriteFile(filepath.Join(dir, name+".wasm"), wasm, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	grew := rss.PeakGrowthMiB(t, func() {
		l := servertest.Start(t, func(cfg *config.Config) {
			cfg.Admin.Token = pluginAdminToken
			cfg.Plugins.Dir, cfg.Plugins.CacheDir, cfg.Plugins.Watch = dir, "", false
			cfg.Plugins.LoadWait = time.Second
			cfg.Plugins.Defaults.CompileTimeout = 4 * time.Second
			cfg.Plugins.Hooks = map[string]any{"token_claims": "claims", "resolve_user": "slow"}
		})
		status, body, err := testclient.GetJSON("http://" + l.Addr + "/readyz")
		if err != nil || status != http.StatusOK {
			t.Fatalf("readyz: %d %v %v", status, body, err)
		}
		if loading, _ := body["plugins_loading"].([]any); !slices.Contains(loading, any("slow")) {
			t.Errorf("readyz %v, want slow listed as loading", body)
		}
		for range 3 {
			status, body := clientCredentials(t, l.Issuer)
			if status != http.StatusInternalServerError || body["error"] != "server_error" || body["access_token"] != nil {
				t.Fatalf("token with 900 KB of claims: %d %v, want 500 server_error", status, body)
			}
			if status, _, err := testclient.GetJSON(l.Issuer + "/.well-known/openid-configuration"); err != nil || status != http.StatusOK {
				t.Fatalf("discovery while plugins fail: %d %v", status, err)
			}
		}
	})
	t.Logf("peak RSS grew %d MiB (bound 512 MiB)", grew)
	if grew > 512 {
		t.Errorf("peak RSS grew %d MiB, want at most 512", grew)
	}
}
