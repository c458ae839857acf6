package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/config"
)

// TestRestartNeeded: a file loaded twice, changed in between, names the
// changed keys a reload does not apply, and only those.
func TestRestartNeeded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	load := func(yaml string) *config.Config {
		t.Helper()
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(gatehouse.DefaultConfig, path)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	running := load("log: {level: info}\n")
	if got := running.RestartNeeded(load("log: {level: info}\n")); len(got) != 0 {
		t.Errorf("the same file: %v", got)
	}
	next := load(`
log: {level: debug}
tokens: {access_token_ttl: 5m}
plugins:
  dir: /elsewhere
  defaults: {pool_size: 9}
  settings:
    new-plugin: {kv: true, http_allow: ["https://api.example.com/*"]}
  hooks: {token_claims: new-plugin}
`)
	if got, want := running.RestartNeeded(next), []string{"tokens", "plugins.dir", "log"}; !slices.Equal(got, want) {
		t.Errorf("restart needed %v, want %v", got, want)
	}
	if got, want := config.Reloadable(), []string{"plugins.defaults", "plugins.settings", "plugins.hooks"}; !slices.Equal(got, want) {
		t.Errorf("reloadable %v", got)
	}
}
