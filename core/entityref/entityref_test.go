package entityref_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/entityref"
)

func TestParse(t *testing.T) {
	t.Parallel()
	valid := map[string]entityref.Ref{
		"user:default/alice":         {"user", "default", "alice"},
		"user:development/guest":     {"user", "development", "guest"},
		"group:default/staff":        {"group", "default", "staff"},
		"user:default/alice.smith":   {"user", "default", "alice.smith"},
		"User:my-team/Alice_B-2":     {"User", "my-team", "Alice_B-2"},
		"component:a--b/x":           {"component", "a--b", "x"},
		"user:default/" + long(63):   {"user", "default", long(63)},
		"api:" + lower(63) + "/n":    {"api", lower(63), "n"},
		"Kind9:default/a":            {"Kind9", "default", "a"},
		"user:default/a.b_c-d.e2":    {"user", "default", "a.b_c-d.e2"},
		"template:default/x1":        {"template", "default", "x1"},
		"user:0default/alice":        {"user", "0default", "alice"},
		"resource:ns/name.with.dots": {"resource", "ns", "name.with.dots"},
	}
	for ref, want := range valid {
		got, err := entityref.Parse(ref)
		if err != nil || got != want || got.String() != ref {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", ref, got, err, want)
		}
	}
	invalid := []string{
		"",
		"Not An Entity Ref <script>\n",
		"user:default/alice\n",
		"user:default/alice ",
		" user:default/alice",
		"alice",                     // no kind, no namespace
		"default/alice",             // no kind
		"user:alice",                // no namespace
		"user:/alice",               // empty namespace
		":default/alice",            // empty kind
		"user:default/",             // empty name
		"user/default:alice",        // the slash first: no kind
		"user:default/a/b",          // a slash in the name
		"user:default/alice:admin",  // a colon in the name
		"user:Default/alice",        // namespaces are lower case
		"user:de_fault/alice",       // nor underscores
		"user:default-/alice",       // nor a trailing dash
		"1user:default/alice",       // a kind starts with a letter
		"us-er:default/alice",       // and has no dashes
		"user:default/-alice",       // a name starts with a letter or digit
		"user:default/alice.",       // and ends with one
		"user:default/al ice",       // no spaces
		"user:default/al%2Fice",     // nor escapes
		"user:default/ålice",        // ASCII only
		"user:default/<script>",     // markup
		"user:default/" + long(64),  // 63 at most
		"user:" + lower(64) + "/a",  // 63 at most
		"u" + lower(63) + ":ns/a",   // 63 at most
		"user:default/alice\x00",    // NUL
		"user:default/alice\u2028x", // line separator
	}
	for _, ref := range invalid {
		if r, err := entityref.Parse(ref); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", ref, r)
		} else if strings.ContainsAny(err.Error(), "\n\x00") {
			t.Errorf("Parse(%q): the error carries control characters: %q", ref, err)
		}
		if entityref.Valid(ref) {
			t.Errorf("Valid(%q)", ref)
		}
	}
}

func long(n int) string  { return "A" + strings.Repeat("b", n-1) }
func lower(n int) string { return strings.Repeat("a", n) }

// FuzzParse: what Parse accepts prints back as itself and is plain
// printable ASCII; nothing panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"user:default/alice", "Not An Entity Ref <script>\n", "a/b:c", "user:default/a/b", ":/", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		r, err := entityref.Parse(ref)
		if err != nil {
			return
		}
		if r.String() != ref {
			t.Fatalf("Parse(%q) prints as %q", ref, r.String())
		}
		for i := 0; i < len(ref); i++ {
			if ref[i] <= 0x20 || ref[i] >= 0x7f {
				t.Fatalf("Parse(%q) accepted byte %#x", ref, ref[i])
			}
		}
	})
}
