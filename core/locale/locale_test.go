package locale_test

import (
	"html/template"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/locale"
)

// TestNegotiate picks the language of a request from Accept-Language:
// the q-values order the ranges, q=0 excludes one, a region falls back to
// its language, and anything unreadable or unknown gets the default.
func TestNegotiate(t *testing.T) {
	t.Parallel()
	en := must(t, locale.Options{})
	de := must(t, locale.Options{Default: "de"})
	for _, tc := range []struct {
		header  string
		want    string // with default en
		wantDef string // with default de
	}{
		{"", "en", "de"},
		{"de", "de", "de"},
		{"de-DE", "de", "de"},
		{"de-AT,en;q=0.5", "de", "de"},
		{"DE-ch", "de", "de"},
		{"en-US,en;q=0.9", "en", "en"},
		{"en;q=0.5, de", "de", "de"},
		{"en;q=0.9, de;q=0.8", "en", "en"},
		{"fr-FR, fr;q=0.9, de;q=0.1", "de", "de"},
		{"de;q=0, en", "en", "en"},
		{"de;q=0", "en", "de"},
		{"fr, it", "en", "de"},
		{"*", "en", "de"},
		{"!!!,,;q=x", "en", "de"},
		{"de;q=abc", "en", "de"},
		{"xx-!!-yy, de;q=0.7", "de", "de"},
		{"en;q=0.2, 12345678901, de;q=0.4", "de", "de"},
		{strings.Repeat("de-", 600) + "de", "en", "de"},
		{strings.Repeat("fr,", 100) + "de", "en", "de"},
		{"\x00\xff", "en", "de"},
	} {
		if got := en.Negotiate(tc.header).Lang(); got != tc.want {
			t.Errorf("default en, Accept-Language %.40q: %s, want %s", tc.header, got, tc.want)
		}
		if got := de.Negotiate(tc.header).Lang(); got != tc.wantDef {
			t.Errorf("default de, Accept-Language %.40q: %s, want %s", tc.header, got, tc.wantDef)
		}
	}
}

// TestShippedCataloguesComplete holds every shipped language to the
// source catalogue: the same keys, no empty message, the same
// placeholders. A message added to en.json fails it until every other
// language has it too.
func TestShippedCataloguesComplete(t *testing.T) {
	t.Parallel()
	langs := locale.Shipped()
	if !slices.Contains(langs, locale.Source) || len(langs) < 2 {
		t.Fatalf("shipped languages %v: want %s and at least one more", langs, locale.Source)
	}
	src, err := locale.ShippedCatalogue(locale.Source)
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range langs {
		c, err := locale.ShippedCatalogue(lang)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range incomplete(src, c) {
			t.Errorf("%s.json: %s", lang, p)
		}
	}
}

// TestIncompleteCatalogueIsCaught checks the check above: a catalogue
// missing a message, with an extra one, an empty one or other
// placeholders is reported.
func TestIncompleteCatalogueIsCaught(t *testing.T) {
	t.Parallel()
	src, err := locale.ShippedCatalogue(locale.Source)
	if err != nil {
		t.Fatal(err)
	}
	de, err := locale.ShippedCatalogue("de")
	if err != nil {
		t.Fatal(err)
	}
	broken := maps.Clone(de)
	delete(broken, "consent.heading")
	broken["consent.hedaing"] = "{client} möchte auf Ihr Konto zugreifen"
	broken["page.deny"] = ""
	broken["consent.title"] = "{app} autorisieren"
	got := strings.Join(incomplete(src, broken), "\n")
	for _, want := range []string{`"consent.heading" is missing`, `"consent.hedaing" is not`, `"page.deny" is empty`, `"consent.title" has placeholders [app]`} {
		if !strings.Contains(got, want) {
			t.Errorf("the check did not report %s; it reported:\n%s", want, got)
		}
	}
}

// incomplete lists how c falls short of the source catalogue src.
func incomplete(src, c locale.Catalogue) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(src)) {
		m, ok := c[k]
		switch {
		case !ok:
			out = append(out, "message "+quote(k)+" is missing")
		case strings.TrimSpace(m) == "":
			out = append(out, "message "+quote(k)+" is empty")
		case !slices.Equal(locale.Placeholders(m), locale.Placeholders(src[k])):
			out = append(out, "message "+quote(k)+" has placeholders ["+strings.Join(locale.Placeholders(m), " ")+
				"], want ["+strings.Join(locale.Placeholders(src[k]), " ")+"]")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c)) {
		if _, ok := src[k]; !ok {
			out = append(out, "message "+quote(k)+" is not in the source catalogue")
		}
	}
	return out
}

func quote(s string) string { return `"` + s + `"` }

// TestMessages fills placeholders and escapes for HTML everything but
// values the templates marked up themselves.
func TestMessages(t *testing.T) {
	t.Parallel()
	b := must(t, locale.Options{})
	en, de := b.Negotiate("en"), b.Negotiate("de")
	if got := en.Text("consent.heading", "client", "<Acme & Co>"); got != "<Acme & Co> wants to access your account" {
		t.Errorf("Text: %q", got)
	}
	if got := de.T("consent.heading", "client", `<script>alert("x")</script>`); got != template.HTML(`&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; möchte auf Ihr Konto zugreifen`) {
		t.Errorf("T escapes the value: %q", got)
	}
	if got := en.T("page.scope_use", "scope", template.HTML("<code>a&amp;b</code>")); got != "Use <code>a&amp;b</code>" {
		t.Errorf("T keeps marked-up values: %q", got)
	}
	if got := en.Text("consent.heading"); got != "{client} wants to access your account" {
		t.Errorf("a placeholder with no value: %q", got)
	}
	if got := en.Text("no.such.key"); got != "no.such.key" {
		t.Errorf("an unknown key: %q", got)
	}
}

// TestOperatorCatalogues reads ui.messages_dir: a shipped language's file
// replaces what it names, a new language is added and falls back to the
// default language, and every mistake is reported at once.
func TestOperatorCatalogues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "de.json", `{"page.approve": "Erlauben"}`)
	write(t, dir, "fr.json", `{"page.approve": "Autoriser", "consent.heading": "{client} demande l'accès à votre compte"}`)
	write(t, dir, "README.txt", "not a catalogue")
	b := must(t, locale.Options{Dir: dir, Default: "de"})
	if got := b.Languages(); !slices.Equal(got, []string{"de", "en", "fr"}) {
		t.Errorf("languages %v", got)
	}
	fr := b.Negotiate("fr-CA, en;q=0.1")
	if fr.Lang() != "fr" || fr.Text("page.approve") != "Autoriser" || fr.Text("page.deny") != "Ablehnen" {
		t.Errorf("fr: %s %q %q (missing messages come from the default, de)", fr.Lang(), fr.Text("page.approve"), fr.Text("page.deny"))
	}
	if de := b.Negotiate("de"); de.Text("page.approve") != "Erlauben" || de.Text("page.deny") != "Ablehnen" {
		t.Errorf("de: %q %q", de.Text("page.approve"), de.Text("page.deny"))
	}

	bad := t.TempDir()
	write(t, bad, "de.json", `{"page.aprove": "Erlauben", "consent.heading": "{app} möchte zugreifen"}`)
	write(t, bad, "not a tag!.json", `{}`)
	write(t, bad, "it.json", `["not", "an", "object"]`)
	_, err := locale.New(locale.Options{Dir: bad, Default: "pt", Scopes: map[string]map[string]locale.ScopeText{
		"catalog.read": {"nl": {Name: "Catalogus lezen"}},
	}})
	if err == nil {
		t.Fatal("a broken messages_dir was accepted")
	}
	for _, want := range []string{`"page.aprove" is not a message key`, `"consent.heading" has placeholders [app], want [client]`,
		"not a tag!.json", "it.json", `ui.default_language: no catalogue for "pt"`, `ui.scopes "catalog.read": no catalogue for language "nl"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := locale.New(locale.Options{Dir: filepath.Join(bad, "absent")}); err == nil || !strings.Contains(err.Error(), "ui.messages_dir") {
		t.Errorf("an absent messages_dir: %v", err)
	}
}

// TestScopeTexts: configured texts come first, in the page's language or
// its base language, then the shipped texts of the standard scopes, then
// the configured text in the default language; a custom scope with none
// is shown as its value.
func TestScopeTexts(t *testing.T) {
	t.Parallel()
	b := must(t, locale.Options{Scopes: map[string]map[string]locale.ScopeText{
		"catalog.read": {"en": {Name: "Read the catalog", Description: "Entities"}, "de": {Name: "Den Katalog lesen"}},
		"email":        {"en": {Name: "Know your work address"}},
		"deploy":       {"en": {Name: "Deploy services"}},
	}})
	en, de := b.Negotiate("en"), b.Negotiate("de-AT")
	for _, tc := range []struct {
		l           *locale.Localizer
		scope, want string
	}{
		{en, "catalog.read", "Read the catalog"},
		{de, "catalog.read", "Den Katalog lesen"},
		{en, "email", "Know your work address"},
		{de, "email", "Ihre E-Mail-Adresse sehen"},
		{de, "openid", "Ihre Identität bestätigen"},
		{en, "offline_access", "Keep access while you are away"},
		{de, "deploy", "Deploy services"},
		{en, "custom:thing", ""},
	} {
		got, ok := tc.l.Scope(tc.scope)
		if got.Name != tc.want || ok != (tc.want != "") {
			t.Errorf("%s %s: %q %v, want %q", tc.l.Lang(), tc.scope, got.Name, ok, tc.want)
		}
	}
	if got, _ := en.Scope("catalog.read"); got.Description != "Entities" {
		t.Errorf("description %q", got.Description)
	}
}

// FuzzNegotiate: any header picks a language the bundle speaks.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"de-DE,de;q=0.9,en;q=0.8", "*;q=0.1", "en;q=", ";;;,,,", "zh-Hant-TW-u-ca-chinese"} {
		f.Add(s)
	}
	b, err := locale.New(locale.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header string) {
		if lang := b.Negotiate(header).Lang(); !slices.Contains(b.Languages(), lang) {
			t.Fatalf("%q: %q is not a language of the bundle", header, lang)
		}
	})
}

func must(t *testing.T, o locale.Options) *locale.Bundle {
	t.Helper()
	b, err := locale.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkNegotiate is the cost a page pays to pick its language.
func BenchmarkNegotiate(b *testing.B) {
	bundle, err := locale.New(locale.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, header := range []string{"de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", "fr-CA, xx-!!, de;q=0.1"} {
		b.Run(header, func(b *testing.B) {
			for b.Loop() {
				bundle.Negotiate(header)
			}
		})
	}
}
