package examples_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/plugin"
	"github.com/gatehouse-auth/gatehouse/core/plugin/plugintest"
	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// langs are the SDK languages with an example plugin, built by
// `make plugins` into bin/signin-example-<lang>.wasm.
var langs = []string{"go", "rust", "c", "assemblyscript", "wat"}

// The shared example policy's config (sdk/ABI.md), and the same without a group.
const (
	configWithGroup = `{"allowed_domains":["example.com"],"group":"group:default/staff"}`
	configNoGroup   = `{"allowed_domains":["EXAMPLE.com","example.org"]}`
)

type profile struct {
	Email       string `json:"email,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	Picture     string `json:"picture,omitempty"`
}

type signInInput struct {
	Provider string         `json:"provider"`
	Env      string         `json:"env"`
	Profile  *profile       `json:"profile,omitempty"`
	Claims   map[string]any `json:"claims,omitempty"`
}

func input(email string) signInInput {
	return signInInput{
		Provider: "github",
		Env:      "development",
		Profile:  &profile{Email: email, DisplayName: "Someone", Picture: "https://example.com/p.png"},
		// An upstream claim of the same name must not be taken for the profile's email.
		Claims: map[string]any{"email": "claims@example.com", "login": "someone"},
	}
}

type want struct {
	sub     string
	ent     []string
	message string // non-empty: the call is refused with access_denied and this message
}

var cases = []struct {
	name   string
	config string
	input  signInInput
	want   want
}{
	{"allowed domain", configWithGroup, input("alice@example.com"),
		want{sub: "user:default/alice", ent: []string{"user:default/alice", "group:default/staff"}}},
	{"mixed-case email and domain", configWithGroup, input("Alice.Smith@Example.COM"),
		want{sub: "user:default/alice.smith", ent: []string{"user:default/alice.smith", "group:default/staff"}}},
	{"subdomain is another domain", configWithGroup, input("bob@mail.example.com"),
		want{message: "email domain mail.example.com is not allowed"}},
	{"missing email", configWithGroup, signInInput{Provider: "github", Profile: &profile{DisplayName: "Nobody"}},
		want{message: "sign-in requires an email address"}},
	{"empty email", configWithGroup, input(""),
		want{message: "sign-in requires an email address"}},
	{"no profile", configWithGroup, signInInput{Provider: "github", Claims: map[string]any{"email": "alice@example.com"}},
		want{message: "sign-in requires an email address"}},
	{"disallowed domain", configWithGroup, input("eve@Evil.ORG"),
		want{message: "email domain evil.org is not allowed"}},
	{"no group in config, allow-list matched case-insensitively", configNoGroup, input("carol@example.com"),
		want{sub: "user:default/carol", ent: []string{"user:default/carol"}}},
	{"second allowed domain", configNoGroup, input("Dan@Example.Org"),
		want{sub: "user:default/dan", ent: []string{"user:default/dan"}}},
	{"email with two @ splits at the last", configWithGroup, input("dave@x@example.com"),
		want{sub: "user:default/dave@x", ent: []string{"user:default/dave@x", "group:default/staff"}}},
	{"email without @ has an empty domain", configWithGroup, input("nodomain"),
		want{message: "email domain  is not allowed"}},
	{"long local part and domain", configNoGroup, input("Jonathan.Quincy.Adams-Smith@EXAMPLE.ORG"),
		want{sub: "user:default/jonathan.quincy.adams-smith", ent: []string{"user:default/jonathan.quincy.adams-smith"}}},
	{"long disallowed domain", configWithGroup, input("x@A-Very-Long-Subdomain.Department.Example.com"),
		want{message: "email domain a-very-long-subdomain.department.example.com is not allowed"}},
	{"prefix of an allowed domain", configWithGroup, input("y@example.co"),
		want{message: "email domain example.co is not allowed"}},
	{"allowed domain as a suffix of a longer one", configWithGroup, input("z@notexample.com"),
		want{message: "email domain notexample.com is not allowed"}},
}

// loadAll loads every language's example once per config.
func loadAll(tb testing.TB, configs ...string) map[string]map[string]*plugin.Plugin {
	tb.Helper()
	ctx := context.Background()
	rt, err := plugin.NewRuntime(ctx, "")
	if err != nil {
		tb.Fatalf("new runtime: %v", err)
	}
	tb.Cleanup(func() { _ = rt.Close(context.Background()) })
	logger := slog.New(slog.DiscardHandler)
	loaded := map[string]map[string]*plugin.Plugin{}
	for _, lang := range langs {
		path := filepath.Join("bin", "signin-example-"+lang+".wasm")
		wasm := plugintest.ReadBuild(tb, path)
		loaded[lang] = map[string]*plugin.Plugin{}
		for _, cfg := range configs {
			name := "signin-example-" + lang
			p, err := rt.Load(ctx, name, wasm, plugin.Settings{Config: json.RawMessage(cfg), Logger: logger})
			if err != nil {
				tb.Fatalf("load %s: %v", path, err)
			}
			tb.Cleanup(func() { _ = p.Close(context.Background()) })
			if !p.Serves(hook.SignIn) {
				tb.Fatalf("%s does not serve sign_in; hooks %v", name, p.Hooks())
			}
			loaded[lang][cfg] = p
		}
	}
	return loaded
}

// TestSignInExamples runs one table through the example plugin of every
// language and expects the same answer, byte for byte, from each.
func TestSignInExamples(t *testing.T) {
	plugins := loadAll(t, configWithGroup, configNoGroup)
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			answers := map[string]string{}
			for _, lang := range langs {
				var raw json.RawMessage
				err := plugins[lang][tc.config].Call(ctx, hook.SignIn, tc.input, &raw)
				answers[lang] = answer(raw, err)
				if tc.want.message != "" {
					var refusal *plugin.Refusal
					if !errors.As(err, &refusal) {
						t.Errorf("%s: got %v (result %s), want a refusal", lang, err, raw)
						continue
					}
					if refusal.Code != "access_denied" || refusal.Message != tc.want.message {
						t.Errorf("%s: refused with %q %q, want access_denied %q", lang, refusal.Code, refusal.Message, tc.want.message)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s: %v", lang, err)
					continue
				}
				var got struct {
					Sub    string          `json:"sub"`
					Ent    []string        `json:"ent"`
					Claims json.RawMessage `json:"claims"`
				}
				if err := json.Unmarshal(raw, &got); err != nil {
					t.Errorf("%s: result %s: %v", lang, raw, err)
					continue
				}
				if got.Sub != tc.want.sub || !slices.Equal(got.Ent, tc.want.ent) || got.Claims != nil {
					t.Errorf("%s: got sub %q ent %q claims %s, want sub %q ent %q and no claims",
						lang, got.Sub, got.Ent, got.Claims, tc.want.sub, tc.want.ent)
				}
			}
			for _, lang := range langs[1:] {
				if answers[lang] != answers[langs[0]] {
					t.Errorf("%s answered %s, %s answered %s", lang, answers[lang], langs[0], answers[langs[0]])
				}
			}
		})
	}
}

// answer renders a call's outcome for comparing languages: the raw result,
// or the refusal's code and message, or the failure.
func answer(raw json.RawMessage, err error) string {
	var refusal *plugin.Refusal
	switch {
	case errors.As(err, &refusal):
		return fmt.Sprintf("refused %s: %s", refusal.Code, refusal.Message)
	case err != nil:
		return "failed: " + err.Error()
	}
	return "result " + string(raw)
}

// TestSignInExamplesRepeat makes sure an instance answers the same on the
// thousandth call as on the first (allocators reset, memory does not leak
// into the answer).
func TestSignInExamplesRepeat(t *testing.T) {
	plugins := loadAll(t, configWithGroup)
	ctx := context.Background()
	in := input("Alice@Example.com")
	for _, lang := range langs {
		p := plugins[lang][configWithGroup]
		for i := range 1000 {
			var out struct {
				Sub string   `json:"sub"`
				Ent []string `json:"ent"`
			}
			if err := p.Call(ctx, hook.SignIn, in, &out); err != nil {
				t.Fatalf("%s call %d: %v", lang, i, err)
			}
			if want := []string{"user:default/alice", "group:default/staff"}; out.Sub != "user:default/alice" || !reflect.DeepEqual(out.Ent, want) {
				t.Fatalf("%s call %d: got %+v", lang, i, out)
			}
		}
	}
}

// BenchmarkSignIn calls sign_in on a pooled instance of each language's
// example and reports the latency percentiles of single calls.
func BenchmarkSignIn(b *testing.B) {
	plugins := loadAll(b, configWithGroup)
	ctx := context.Background()
	in := input("alice@example.com")
	for _, lang := range langs {
		b.Run(lang, func(b *testing.B) {
			p := plugins[lang][configWithGroup]
			var out struct {
				Sub string   `json:"sub"`
				Ent []string `json:"ent"`
			}
			// Warm the pool before measuring.
			for range 100 {
				if err := p.Call(ctx, hook.SignIn, in, &out); err != nil {
					b.Fatalf("%s: %v", lang, err)
				}
			}
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				if err := p.Call(ctx, hook.SignIn, in, &out); err != nil {
					b.Fatalf("%s: %v", lang, err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
		})
	}
}
