package config

import (
	"fmt"

	"github.com/gatehouse-auth/gatehouse/core/locale"
)

// UI configures the language of Gatehouse's pages and approval e-mail and
// the texts they show for scope values.
type UI struct {
	// DefaultLanguage is the language of a request whose Accept-Language
	// names none the server speaks (a BCP 47 tag with a catalogue).
	DefaultLanguage string `koanf:"default_language"`
	// MessagesDir holds <language>.json catalogues overriding messages of
	// the shipped languages or adding languages; empty: none.
	MessagesDir string `koanf:"messages_dir"`
	// Scopes are the display texts of scope values, per language.
	Scopes []ScopeTexts `koanf:"scopes"`
}

// ScopeTexts are the display texts of one scope value, by language tag.
type ScopeTexts struct {
	Scope string                      `koanf:"scope"`
	Texts map[string]locale.ScopeText `koanf:"texts"`
}

// Locale is the locale.Options the configuration describes.
func (u UI) Locale() locale.Options {
	o := locale.Options{Default: u.DefaultLanguage, Dir: u.MessagesDir, Scopes: map[string]map[string]locale.ScopeText{}}
	for _, s := range u.Scopes {
		texts := o.Scopes[s.Scope]
		if texts == nil {
			texts = map[string]locale.ScopeText{}
			o.Scopes[s.Scope] = texts
		}
		for lang, t := range s.Texts {
			texts[lang] = t
		}
	}
	return o
}

// validate lists the problems of the ui section: the scope entries, and
// whatever locale.New finds in the catalogues and languages.
func (u UI) validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("ui.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	seen := map[string]bool{}
	for i, s := range u.Scopes {
		key := fmt.Sprintf("scopes[%d]", i)
		switch {
		case !scopeToken(s.Scope):
			bad(key+".scope", "must be one scope value (RFC 6749 §3.3), got %q", s.Scope)
		case seen[s.Scope]:
			bad(key+".scope", "%q is listed twice", s.Scope)
		}
		seen[s.Scope] = true
		if len(s.Texts) == 0 {
			bad(key+".texts", "must give at least one language's name")
		}
		for lang, t := range s.Texts {
			if t.Name == "" {
				bad(key+".texts."+lang+".name", "must not be empty")
			}
		}
	}
	if _, err := locale.New(u.Locale()); err != nil {
		errs = append(errs, err)
	}
	return errs
}
