package config_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/config"
)

// TestRSAImplementation: keys.rsa_implementation is auto unless set, may
// be go, and nothing else.
func TestRSAImplementation(t *testing.T) {
	cfg, err := config.Load(gatehouse.DefaultConfig, "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Keys.RSAImplementation != "auto" {
		t.Errorf("keys.rsa_implementation = %q by default, want auto", cfg.Keys.RSAImplementation)
	}
	t.Setenv("GATEHOUSE_KEYS__RSA_IMPLEMENTATION", "go")
	if cfg, err = config.Load(gatehouse.DefaultConfig, ""); err != nil {
		t.Fatal(err)
	}
	if cfg.Keys.RSAImplementation != "go" {
		t.Errorf("from the environment: %q, want go", cfg.Keys.RSAImplementation)
	}
	for _, bad := range []string{"openssl", "Go", ""} {
		t.Setenv("GATEHOUSE_KEYS__RSA_IMPLEMENTATION", bad)
		if _, err := config.Load(gatehouse.DefaultConfig, ""); err == nil || !strings.Contains(err.Error(), "keys.rsa_implementation") {
			t.Errorf("%q: %v, want keys.rsa_implementation refused", bad, err)
		}
	}
}
