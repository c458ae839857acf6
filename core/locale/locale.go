// Package locale holds the message catalogues of Gatehouse's pages and
// approval e-mail, and picks one for a request from its Accept-Language
// header (RFC 9110 §12.5.4, BCP 47 matching by golang.org/x/text). The
// catalogues shipped in the binary (messages/*.json, one flat JSON object
// of key → message per language) can be overridden and extended by an
// operator's directory of files of the same form.
package locale

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"

	"golang.org/x/text/language"
)

//go:embed messages/*.json
var shipped embed.FS

// Source is the language every message is written in first: its
// catalogue defines the keys and the placeholders of each message.
const Source = "en"

// Catalogue is one language's messages, by key. A message may name
// placeholders in braces, {client}, that the caller fills.
type Catalogue map[string]string

// ScopeText is how a scope value is shown on the consent and approval
// pages in one language.
type ScopeText struct {
	Name        string `json:"name" koanf:"name"`
	Description string `json:"description" koanf:"description"`
}

// Options configure a Bundle.
type Options struct {
	// Default is the language of a request whose Accept-Language names
	// none that a catalogue has (and of e-mails naming none). Empty is
	// Source.
	Default string
	// Dir is an operator's directory of <language>.json catalogues: a
	// shipped language's file replaces the messages it names, another
	// language's adds that language (its missing messages come from the
	// default language). Empty: the shipped catalogues alone.
	Dir string
	// Scopes are display texts of scope values by scope, then language.
	// They come before the shipped texts of the standard scopes.
	Scopes map[string]map[string]ScopeText
}

// Bundle is the set of catalogues a server speaks, with its default.
// It is immutable once built and safe for concurrent use.
type Bundle struct {
	tags    []language.Tag // the default first, then the others in name order
	matcher language.Matcher
	cats    map[string]Catalogue // by canonical tag
	scopes  map[string]map[string]ScopeText
	locs    map[string]*Localizer // by canonical tag, made once
	def     *Localizer
}

// Shipped lists the languages whose catalogues come with the binary.
func Shipped() []string {
	names, _ := fs.Glob(shipped, "messages/*.json")
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, strings.TrimSuffix(path.Base(n), ".json"))
	}
	return out
}

// ShippedCatalogue returns the catalogue of a shipped language as
// embedded, without an operator's changes.
func ShippedCatalogue(lang string) (Catalogue, error) {
	b, err := shipped.ReadFile("messages/" + lang + ".json")
	if err != nil {
		return nil, fmt.Errorf("locale: no shipped catalogue for %q: %w", lang, err)
	}
	return decode(b)
}

func decode(b []byte) (Catalogue, error) {
	var c Catalogue
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	if c == nil {
		return nil, errors.New("not a JSON object of messages")
	}
	return c, nil
}

// New loads the shipped catalogues and the operator's, and checks them:
// every message an operator gives has a key the source catalogue has and
// the same placeholders, the default language has a catalogue, and every
// scope text is for a language the server speaks. All problems are
// reported at once.
func New(o Options) (*Bundle, error) {
	var problems []error
	bad := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }

	cats := map[string]Catalogue{}
	for _, lang := range Shipped() {
		c, err := ShippedCatalogue(lang)
		if err != nil {
			return nil, err
		}
		cats[lang] = c
	}
	source := cats[Source]
	if o.Dir != "" {
		files, err := os.ReadDir(o.Dir)
		if err != nil {
			bad("ui.messages_dir: %v", err)
		}
		for _, f := range files {
			if f.IsDir() || !strings.HasSuffix(f.Name(), ".json") {
				continue
			}
			where := "ui.messages_dir: " + f.Name()
			tag, err := language.Parse(strings.TrimSuffix(f.Name(), ".json"))
			if err != nil {
				bad("%s: the file name is not a BCP 47 language tag: %v", where, err)
				continue
			}
			b, err := os.ReadFile(path.Join(o.Dir, f.Name()))
			if err != nil {
				bad("%s: %v", where, err)
				continue
			}
			c, err := decode(b)
			if err != nil {
				bad("%s: %v", where, err)
				continue
			}
			lang := tag.String()
			merged := Catalogue{}
			for k, v := range cats[lang] {
				merged[k] = v
			}
			for _, k := range slices.Sorted(maps.Keys(c)) {
				want, ok := source[k]
				switch {
				case !ok:
					bad("%s: %q is not a message key", where, k)
				case !slices.Equal(Placeholders(c[k]), Placeholders(want)):
					bad("%s: %q has placeholders %v, want %v", where, k, Placeholders(c[k]), Placeholders(want))
				default:
					merged[k] = c[k]
				}
			}
			cats[lang] = merged
		}
	}

	def := Source
	if o.Default != "" {
		tag, err := language.Parse(o.Default)
		if err != nil {
			bad("ui.default_language: %q is not a BCP 47 language tag", o.Default)
		} else if def = tag.String(); cats[def] == nil {
			bad("ui.default_language: no catalogue for %q (shipped: %s; add %s.json to ui.messages_dir)",
				def, strings.Join(Shipped(), ", "), def)
		}
	}

	scopes := map[string]map[string]ScopeText{}
	for _, scope := range slices.Sorted(maps.Keys(o.Scopes)) {
		scopes[scope] = map[string]ScopeText{}
		for _, raw := range slices.Sorted(maps.Keys(o.Scopes[scope])) {
			tag, err := language.Parse(raw)
			if err != nil {
				bad("ui.scopes %q: %q is not a BCP 47 language tag", scope, raw)
				continue
			}
			if cats[tag.String()] == nil {
				bad("ui.scopes %q: no catalogue for language %q", scope, raw)
				continue
			}
			scopes[scope][tag.String()] = o.Scopes[scope][raw]
		}
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}

	b := &Bundle{cats: cats, scopes: scopes}
	b.tags = append(b.tags, language.MustParse(def))
	for _, lang := range slices.Sorted(maps.Keys(cats)) {
		if lang != def {
			b.tags = append(b.tags, language.MustParse(lang))
		}
	}
	b.matcher = language.NewMatcher(b.tags)
	b.locs = map[string]*Localizer{}
	for _, t := range b.tags {
		b.locs[t.String()] = b.localizer(t.String())
	}
	b.def = b.locs[def]
	return b, nil
}

// Default is the bundle of the shipped catalogues with Source as the
// default: what a page uses when the server was built without one.
var Default = func() *Bundle {
	b, err := New(Options{})
	if err != nil {
		panic(fmt.Sprintf("locale: shipped catalogues: %v", err))
	}
	return b
}()

// Languages lists the languages the bundle speaks, the default first.
func (b *Bundle) Languages() []string {
	out := make([]string, len(b.tags))
	for i, t := range b.tags {
		out[i] = t.String()
	}
	return out
}

// DefaultLocalizer speaks the default language.
func (b *Bundle) DefaultLocalizer() *Localizer { return b.def }

// Bounds on what Negotiate reads of a header: it comes from anyone.
const (
	maxHeader  = 1024
	maxEntries = 32
)

// Negotiate picks the language for an Accept-Language header value: the
// best match of its ranges in order of their q-values (q=0 excludes a
// range), else the default. A malformed entry is skipped; a header that
// cannot be read at all, or names nothing the bundle speaks, gets the
// default. It never fails.
func (b *Bundle) Negotiate(acceptLanguage string) *Localizer {
	if acceptLanguage == "" || len(acceptLanguage) > maxHeader {
		return b.def
	}
	tags, q, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil {
		// One bad entry fails the whole parse: read the entries one by
		// one and keep those that parse.
		tags, q = tags[:0], q[:0]
		for i, entry := range strings.Split(acceptLanguage, ",") {
			if i == maxEntries {
				break
			}
			t, w, err := language.ParseAcceptLanguage(entry)
			if err == nil {
				tags, q = append(tags, t...), append(q, w...)
			}
		}
		tags = sortByWeight(tags, q)
	}
	if len(tags) > maxEntries {
		tags = tags[:maxEntries]
	}
	if len(tags) == 0 {
		return b.def
	}
	_, i, conf := b.matcher.Match(tags...)
	if conf == language.No {
		return b.def
	}
	return b.locs[b.tags[i].String()]
}

// sortByWeight orders tags by descending q, stably, as
// ParseAcceptLanguage does, and drops those of q 0.
func sortByWeight(tags []language.Tag, q []float32) []language.Tag {
	idx := make([]int, 0, len(tags))
	for i := range tags {
		if q[i] > 0 {
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case q[a] > q[b]:
			return -1
		case q[a] < q[b]:
			return 1
		}
		return 0
	})
	out := make([]language.Tag, len(idx))
	for j, i := range idx {
		out[j] = tags[i]
	}
	return out
}

// Lookup is the localizer of a language tag, matched like one
// Accept-Language range: a tag the bundle does not speak, or none, gets
// the default.
func (b *Bundle) Lookup(lang string) *Localizer {
	if lang == "" {
		return b.def
	}
	return b.Negotiate(lang)
}

func (b *Bundle) localizer(lang string) *Localizer {
	l := &Localizer{lang: lang, defLang: b.tags[0].String(), scopes: b.scopes}
	var names []string
	for _, name := range []string{lang, l.defLang, Source} {
		if !slices.Contains(names, name) && b.cats[name] != nil {
			names = append(names, name)
			l.chain = append(l.chain, b.cats[name])
		}
	}
	return l
}

// Localizer speaks one language: its catalogue, then the default
// language's, then Source's for a message it lacks.
type Localizer struct {
	lang    string
	defLang string
	chain   []Catalogue
	scopes  map[string]map[string]ScopeText
}

// Lang is the BCP 47 tag of the language, for <html lang> and
// Content-Language.
func (l *Localizer) Lang() string { return l.lang }

func (l *Localizer) message(key string) string {
	for _, c := range l.chain {
		if m, ok := c[key]; ok {
			return m
		}
	}
	return key
}

// Text is the message of key in plain text, its placeholders filled from
// args, given as name, value pairs: Text("consent.title", "client", name).
// A placeholder with no value is left as written.
func (l *Localizer) Text(key string, args ...any) string {
	return expand(l.message(key), args, func(s string) string { return s }, func(v any) string { return fmt.Sprint(v) })
}

// T is the message of key as HTML: the message and every argument are
// escaped, except an argument that is already template.HTML (a value the
// page marked up with the templates' own helpers, which escape it).
func (l *Localizer) T(key string, args ...any) template.HTML {
	return template.HTML(expand(l.message(key), args, template.HTMLEscapeString, func(v any) string {
		if h, ok := v.(template.HTML); ok {
			return string(h)
		}
		return template.HTMLEscapeString(fmt.Sprint(v))
	}))
}

// expand writes msg with its {name} placeholders replaced by the values
// of args (name, value pairs); lit converts the message's own text, val
// a value.
func expand(msg string, args []any, lit func(string) string, val func(any) string) string {
	var out strings.Builder
	for {
		open := strings.IndexByte(msg, '{')
		if open < 0 {
			break
		}
		end := strings.IndexByte(msg[open:], '}')
		if end < 0 {
			break
		}
		name := msg[open+1 : open+end]
		out.WriteString(lit(msg[:open]))
		if v, ok := arg(args, name); ok {
			out.WriteString(val(v))
		} else {
			out.WriteString(lit(msg[open : open+end+1]))
		}
		msg = msg[open+end+1:]
	}
	out.WriteString(lit(msg))
	return out.String()
}

func arg(args []any, name string) (any, bool) {
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok && k == name {
			return args[i+1], true
		}
	}
	return nil, false
}

// Placeholders lists the names in braces in msg, sorted, without repeats.
func Placeholders(msg string) []string {
	var out []string
	for {
		open := strings.IndexByte(msg, '{')
		if open < 0 {
			break
		}
		end := strings.IndexByte(msg[open:], '}')
		if end < 0 {
			break
		}
		out = append(out, msg[open+1:open+end])
		msg = msg[open+end+1:]
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Scope is the display text of a scope value: the configured text in
// this language (or its base language), else the shipped text of a
// standard scope, else the configured text in the default language. ok
// is false when there is none: the page shows the scope value itself.
func (l *Localizer) Scope(scope string) (ScopeText, bool) {
	if t, ok := l.configured(scope, l.lang); ok {
		return t, true
	}
	if slices.Contains(standardScopes, scope) {
		return ScopeText{Name: l.message("scope." + scope + ".name"), Description: l.message("scope." + scope + ".description")}, true
	}
	return l.configured(scope, l.defLang)
}

func (l *Localizer) configured(scope, lang string) (ScopeText, bool) {
	texts := l.scopes[scope]
	if t, ok := texts[lang]; ok && t.Name != "" {
		return t, true
	}
	if tag, err := language.Parse(lang); err == nil {
		if base, _ := tag.Base(); base.String() != lang {
			if t, ok := texts[base.String()]; ok && t.Name != "" {
				return t, true
			}
		}
	}
	return ScopeText{}, false
}

// Markup are the helpers templates use to mark up a value they give to a
// message (T keeps template.HTML as it is): each escapes the value itself.
var Markup = template.FuncMap{
	"code": func(v string) template.HTML {
		return template.HTML("<code>" + template.HTMLEscapeString(v) + "</code>")
	},
	"strong": func(v string) template.HTML {
		return template.HTML("<strong>" + template.HTMLEscapeString(v) + "</strong>")
	},
}

// standardScopes have shipped texts (OIDC Core §5.4, §11).
var standardScopes = []string{"openid", "profile", "email", "offline_access"}
