package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/config"
)

// TestGuestEmail: the embedded configuration gives the guest a verified
// email (relying parties that sign people in by email accept it); a
// guest.email that is not a plain address is refused.
func TestGuestEmail(t *testing.T) {
	cfg, err := config.Load(gatehouse.DefaultConfig, "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Guest.Email != "guest@example.com" || !cfg.Guest.EmailVerified {
		t.Errorf("embedded guest email %q verified %v, want guest@example.com, true", cfg.Guest.Email, cfg.Guest.EmailVerified)
	}
	for _, bad := range []string{"guest", "Guest <guest@example.com>", "guest@example.com, other@example.com"} {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte("guest:\n  email: \""+bad+"\"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := config.Load(gatehouse.DefaultConfig, path); err == nil || !strings.Contains(err.Error(), "guest.email") {
			t.Errorf("guest.email %q: %v, want refused", bad, err)
		}
	}
}
