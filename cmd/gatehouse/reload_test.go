package main

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// reloadTestWasm returns testdata/plugins/bin/<name>.wasm, compiling the WAT
// when make has not built it.
func reloadTestWasm(t *testing.T, name string) []byte {
	t.Helper()
	root := filepath.Join("..", "..", "testdata", "plugins")
	if b, err := os.ReadFile(filepath.Join(root, "bin", name+".wasm")); err == nil {
		return b
	}
	out := filepath.Join(t.TempDir(), name+".wasm")
	if msg, err := exec.Command("wat2wasm", "-o", out, filepath.Join(root, name+".wat")).CombinedOutput(); err != nil {
		t.Fatalf("no %s.wasm (make plugins-testdata): %v: %s", name, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSIGHUPReloadsPlugins: `gatehouse serve` survives SIGHUP and reloads
// its plugin directory on it (the watcher is off here).
func TestSIGHUPReloadsPlugins(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	const token = "sighup-admin-token-0123456789"
	dir, addr := t.TempDir(), freeAddr(t)
	plugins := filepath.Join(dir, "plugins")
	if err := os.Mkdir(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	v2 := reloadTestWasm(t, "reload_v2")
	if err := os.WriteFile(filepath.Join(plugins, "claims.wasm"), reloadTestWasm(t, "reload_v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, addr, dir,
		"GATEHOUSE_PLUGINS__DIR="+plugins,
		"GATEHOUSE_PLUGINS__WATCH=false",
		"GATEHOUSE_PLUGINS__HOOKS__TOKEN_CLAIMS=claims",
		"GATEHOUSE_ADMIN__TOKEN="+token,
	)
	serving := func() string {
		req, _ := http.NewRequest(http.MethodGet, p.issuer+"/admin/plugins", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		status, body, err := testclient.Do(req)
		if err != nil || status != http.StatusOK {
			t.Fatalf("GET /admin/plugins: %d %v %v; logs:\n%s", status, body, err, p.Logs())
		}
		for _, pl := range body["plugins"].([]any) {
			if pl := pl.(map[string]any); pl["name"] == "claims" {
				v, _ := pl["version"].(string)
				return v
			}
		}
		return ""
	}
	sum := sha256.Sum256(v2)
	want := hex.EncodeToString(sum[:])
	if serving() == want || serving() == "" {
		t.Fatalf("claims serving %q before the change", serving())
	}

	if err := os.WriteFile(filepath.Join(plugins, "claims.wasm"), v2, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for serving() != want {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload claims; logs:\n%s", p.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status, _, err := testclient.GetJSON(p.issuer + "/readyz"); err != nil || status != http.StatusOK {
		t.Errorf("readyz after SIGHUP: %d %v", status, err)
	}
}
