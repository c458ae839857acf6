package upstream_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
)

// TestAuthHandler: auth_handler runs before sign_in and its profile is the
// one signed in (and handed to sign_in); its refusal reaches the popup.
func TestAuthHandler(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a plugin")
	}
	dir := t.TempDir()
	root := repoRoot(t)
	build := exec.Command("go", "build", "-trimpath", "-buildmode=c-shared", "-o", filepath.Join(dir, "shaper.wasm"), ".")
	build.Dir = filepath.Join(root, "core", "upstream", "testdata", "shaper") // a module of its own, on sdk/go
	build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build shaper: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(root, "plugins", "bin", "signin-default.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "signin-default.wasm"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	e := startWithProvider(t, func(c *config.Config) {
		c.Plugins.Dir = dir
		c.Plugins.Hooks["auth_handler"] = map[string]any{"corp": "shaper"}
		// A Go module's _initialize runs the Go runtime's start-up, which
		// the default 2 s can miss on a loaded machine: the test is about
		// the hook's answer, not the deadline.
		c.Plugins.Defaults.Timeout = time.Minute
	})
	// The upstream says ALICE@example.com and its name is ALICE: what is
	// signed in is the shaper's profile.
	msg, _ := e.popupSignIn(t, newBrowser(t), "ALICE@example.com")
	if msg.Response == nil {
		t.Fatalf("refused: %+v", msg.Error)
	}
	if p := msg.Response.Profile; p.DisplayName != "ALICE (corp)" || p.Email != "alice@example.com" ||
		msg.Response.BackstageIdentity.Identity.UserEntityRef != "user:default/alice" {
		t.Errorf("profile %+v identity %+v", p, msg.Response.BackstageIdentity.Identity)
	}
	msg, _ = e.popupSignIn(t, newBrowser(t), "suspended@example.com")
	if msg.Response != nil || msg.Error == nil || msg.Error.Message != "this account is suspended" {
		t.Errorf("suspended account: %+v %+v", msg.Response, msg.Error)
	}
}
