package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/config"
)

// TestUI reads the ui section: per-scope texts in a list (scope values
// may contain dots, which koanf keys cannot) and the default language
// from the environment.
func TestUI(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte(`
ui:
  scopes:
    - scope: catalog.read
      texts:
        en: {name: Read the catalog, description: Entities and their relations.}
        de: {name: Den Katalog lesen}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GATEHOUSE_UI__DEFAULT_LANGUAGE", "de")
	cfg, err := config.Load(gatehouse.DefaultConfig, path)
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.UI.Locale()
	if cfg.UI.DefaultLanguage != "de" || o.Scopes["catalog.read"]["en"].Description != "Entities and their relations." ||
		o.Scopes["catalog.read"]["de"].Name != "Den Katalog lesen" {
		t.Errorf("ui %+v", cfg.UI)
	}

}

// TestUIRefused reports every mistake of the ui section at once.
func TestUIRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte(`
ui:
  default_language: klingon!
  messages_dir: /nonexistent/messages
  scopes:
    - scope: "two words"
      texts: {en: {name: x}}
    - scope: a
      texts: {}
    - scope: b
      texts: {en: {description: no name}, nl: {name: y}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(gatehouse.DefaultConfig, path)
	if err == nil {
		t.Fatal("a broken ui section was accepted")
	}
	for _, want := range []string{"ui.scopes[0].scope", "ui.scopes[1].texts", "ui.scopes[2].texts.en.name", "ui.messages_dir",
		`ui.scopes "b": no catalogue for language "nl"`, "ui.default_language"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
