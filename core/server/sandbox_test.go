package server_test

import (
	"bufio"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// vmKiB reads a field of /proc/self/status in KiB.
func vmKiB(t *testing.T, field string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// TestHostilePluginsServer runs the real server with a token_claims plugin
// answering 900 KB of claims. Token requests fail closed with server_error
// instead of minting a megabyte token, other requests keep being served
// throughout, and the process's peak RSS grows by at most 512 MiB (the
// server runs in the test's process).
func TestHostilePluginsServer(t *testing.T) {
	dir := t.TempDir()
	claims, err := os.ReadFile(filepath.Join("..", "..", "testdata", "plugins", "bin", "bigclaims.wasm"))
	if err != nil {
		t.Fatalf("test plugin bigclaims (make plugins-testdata): %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "claims.wasm"), claims, 0o644); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	debug.FreeOSMemory()
	before := vmKiB(t, "VmRSS")
	field := "VmRSS"
	if os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil {
		field = "VmHWM"
	}

	l := servertest.Start(t, func(cfg *config.Config) {
		cfg.Admin.Token = pluginAdminToken
		cfg.Plugins.Dir, cfg.Plugins.CacheDir, cfg.Plugins.Watch = dir, "", false
		cfg.Plugins.Hooks = map[string]any{"token_claims": "claims"}
	})
	if status, body, err := testclient.GetJSON(l.Issuer + "/readyz"); err != nil || status != http.StatusOK {
		t.Fatalf("readyz: %d %v %v", status, body, err)
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
	grew := (vmKiB(t, field) - before) >> 10
	t.Logf("peak RSS grew %d MiB (bound 512 MiB)", grew)
	if grew > 512 {
		t.Errorf("peak RSS grew %d MiB, want at most 512", grew)
	}
}
