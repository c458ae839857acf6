package plugins_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/outbound"
	"github.com/gatehouse-auth/gatehouse/core/plugin"
	"github.com/gatehouse-auth/gatehouse/core/plugin/plugintest"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// The first-party plugins (the committed modules the binary embeds) and
// the Go example (built by `make plugins`), loaded through the real
// runtime: these tests see exactly what the server sees.

// rt is shared by every test so that each module is compiled once (its
// in-memory compilation cache); a Go module takes seconds to compile.
var rt *plugin.Runtime

func TestMain(m *testing.M) {
	var err error
	if rt, err = plugin.NewRuntime(context.Background(), ""); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = rt.Close(context.Background())
	os.Exit(code)
}

var loadLocks sync.Map // module path → *sync.Mutex

func load(tb testing.TB, path string, config string, limits plugin.Limits) *plugin.Plugin {
	tb.Helper()
	wasm := plugintest.ReadBuild(tb, path)
	ctx := context.Background()
	name := strings.TrimSuffix(filepath.Base(path), ".wasm")
	// One load of a module at a time: the first compiles it, the others find
	// it in the runtime's cache instead of compiling it again in parallel.
	mu, _ := loadLocks.LoadOrStore(path, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	p, err := rt.Load(ctx, name, wasm, plugin.Settings{
		Config: json.RawMessage(config),
		Limits: limits,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatalf("load %s: %v", path, err)
	}
	tb.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

// core is the committed module the binary embeds (make test checks it is
// the build of its sources).
func core(name string) string { return filepath.Join(name, name+".wasm") }

const goExample = "../examples/plugins/bin/signin-example-go.wasm"

// outcome is a call's answer reduced to what the tables compare.
type outcome struct {
	Result  map[string]any
	Code    string
	Message string
}

func call(t *testing.T, p *plugin.Plugin, hook string, input any) outcome {
	t.Helper()
	var res map[string]any
	err := p.Call(context.Background(), hook, input, &res)
	if err == nil {
		return outcome{Result: res}
	}
	if r, ok := errors.AsType[*plugin.Refusal](err); ok {
		if r.Plugin != p.Name() || r.Hook != hook {
			t.Errorf("refusal names %s/%s, want %s/%s", r.Plugin, r.Hook, p.Name(), hook)
		}
		return outcome{Code: r.Code, Message: r.Message}
	}
	t.Fatalf("%s %s: %v (not a refusal: the plugin failed)", p.Name(), hook, err)
	return outcome{}
}

func check(t *testing.T, got outcome, wantResult, code, message string) {
	t.Helper()
	if code != "" {
		if got.Code != code || (message != "" && got.Message != message) {
			t.Fatalf("got %+v, want %s %q", got, code, message)
		}
		return
	}
	if got.Code != "" {
		t.Fatalf("refused %s: %s, want %s", got.Code, got.Message, wantResult)
	}
	var want map[string]any
	if err := json.Unmarshal([]byte(wantResult), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Result, want) {
		b, _ := json.Marshal(got.Result)
		t.Fatalf("result = %s, want %s", b, wantResult)
	}
}

// profile is a sign_in input from an upstream that verified email.
func profile(email string) map[string]any {
	return map[string]any{"provider": "github", "env": "development",
		"profile": map[string]any{"email": email, "displayName": "Someone"}, "claims": map[string]any{"sub": "42", "email_verified": true}}
}

func TestExports(t *testing.T) {
	t.Parallel()
	for path, want := range map[string][]string{
		core("signin-default"):   {hook.SignIn},
		core("directory-static"): {hook.ResolveUser},
		core("notify-default"):   {hook.Notify},
		goExample:                {hook.SignIn},
	} {
		p := load(t, path, `{}`, plugin.Limits{PoolSize: 1})
		got := slices.Clone(p.Hooks())
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s serves %v, want exactly %v", path, got, want)
		}
	}
}

// The first-party plugins' behaviour, every refusal message included. These
// tables are the plugins' specification: they were the Go versions' unit
// tests, and now run through the real Wasm modules.

const signInUsers = `"users":[
	{"email":"Alice@Example.com","ref":"user:default/alice","groups":["group:default/staff","group:default/admins"]},
	{"email":"bob@example.org","ref":"user:partners/bob"}]`

func TestFirstPartySignInDefault(t *testing.T) {
	t.Parallel()
	const users = `"users":[{"email":"Alice@Example.com","ref":"user:default/alice","groups":["group:default/staff"]}]`
	tests := []struct {
		name, config, email string
		want                string
		code, message       string
	}{
		{"email_local_part", `{"resolver":"email_local_part"}`, "Alice@example.com",
			`{"sub":"user:default/alice","ent":["user:default/alice"]}`, "", ""},
		{"email_local_part namespace", `{"resolver":"email_local_part","namespace":"dev","allowed_domains":["example.com"]}`, "bob@EXAMPLE.com",
			`{"sub":"user:dev/bob","ent":["user:dev/bob"]}`, "", ""},
		{"domain not allowed", `{"resolver":"email_local_part","allowed_domains":["example.com"]}`, "eve@evil.test",
			"", "access_denied", "email domain evil.test is not allowed"},
		{"email directory", `{"resolver":"email",` + users + `}`, "alice@EXAMPLE.com",
			`{"sub":"user:default/alice","ent":["user:default/alice","group:default/staff"]}`, "", ""},
		{"email unknown", `{"resolver":"email",` + users + `}`, "bob@example.com",
			"", "access_denied", "user not found"},
		{"refuse", `{"resolver":"refuse"}`, "alice@example.com",
			"", "access_denied", "sign-in is refused by configuration"},
		{"missing email", `{"resolver":"email_local_part"}`, "",
			"", "access_denied", "sign-in requires an email address"},
		{"config error fails closed", `{"resolvers":["email"]}`, "alice@example.com",
			"", "server_error", `plugin config: unknown field "resolvers"`},

		{"local part", `{"resolver":"email_local_part"}`, "alice@example.com",
			`{"sub":"user:default/alice","ent":["user:default/alice"]}`, "", ""},
		{"local part lowercased in namespace", `{"resolver":"email_local_part","namespace":"dev"}`, "Alice.Smith@Example.com",
			`{"sub":"user:dev/alice.smith","ent":["user:dev/alice.smith"]}`, "", ""},
		{"local part with allowed domain", `{"resolver":"email_local_part","allowed_domains":["EXAMPLE.com"]}`, "carol@example.COM",
			`{"sub":"user:default/carol","ent":["user:default/carol"]}`, "", ""},
		{"local part other domain", `{"resolver":"email_local_part","allowed_domains":["example.com"]}`, "eve@Evil.test",
			"", "access_denied", "email domain evil.test is not allowed"},
		{"local part not an entity name", `{"resolver":"email_local_part"}`, "a+b@example.com",
			"", "access_denied", `email local part "a+b" is not a valid user entity name`},
		{"local part path traversal", `{"resolver":"email_local_part"}`, "../admin@example.com",
			"", "access_denied", `email local part "../admin" is not a valid user entity name`},
		{"email lookup case-insensitive", `{"resolver":"email",` + signInUsers + `}`, "ALICE@example.COM",
			`{"sub":"user:default/alice","ent":["user:default/alice","group:default/staff","group:default/admins"]}`, "", ""},
		{"email lookup without groups", `{"resolver":"email",` + signInUsers + `}`, "bob@example.org",
			`{"sub":"user:partners/bob","ent":["user:partners/bob"]}`, "", ""},
		{"email unknown user", `{"resolver":"email",` + signInUsers + `}`, "mallory@example.com",
			"", "access_denied", "user not found"},
		{"email lookup is not local-part lookup", `{"resolver":"email",` + signInUsers + `}`, "alice@example.org",
			"", "access_denied", "user not found"},
		{"email listed but domain not allowed", `{"resolver":"email","allowed_domains":["example.com"],` + signInUsers + `}`, "bob@example.org",
			"", "access_denied", "email domain example.org is not allowed"},
		{"refuse without email", `{"resolver":"refuse"}`, "",
			"", "access_denied", "sign-in is refused by configuration"},
		{"missing email for lookup", `{"resolver":"email",` + signInUsers + `}`, "  ",
			"", "access_denied", "sign-in requires an email address"},
		{"email without domain", `{"resolver":"email_local_part"}`, "alice@",
			"", "access_denied", `email "alice@" is not a valid address`},
		{"email without local part", `{"resolver":"email_local_part"}`, "@example.com",
			"", "access_denied", `email "@example.com" is not a valid address`},
		{"no resolver", `{}`, "alice@example.com",
			"", "server_error", "plugin config: resolver is required (" + resolverNames + ")"},
		{"unknown resolver", `{"resolver":"guess"}`, "alice@example.com",
			"", "server_error", `plugin config: resolver "guess" is not one of ` + resolverNames},
		{"misspelt key", `{"resolver":"email_local_part","allowed_domain":["example.com"]}`, "alice@example.com",
			"", "server_error", `plugin config: unknown field "allowed_domain"`},
		{"email resolver without users", `{"resolver":"email"}`, "alice@example.com",
			"", "server_error", "plugin config: the email resolver needs users"},
		{"every config problem at once", `{"resolver":"email","namespace":"a/b","users":[{"ref":"alice","groups":["staff"]}]}`, "alice@example.com",
			"", "server_error", "plugin config: namespace \"a/b\" is not a valid entity namespace\n" +
				"users[0]: email is required\n" +
				"users[0]: ref \"alice\" is not an entity ref such as user:default/alice\n" +
				"users[0].groups[0]: \"staff\" is not an entity ref such as group:default/staff"},

		// The SDK's decoding rules for the config: keys match
		// case-insensitively, a type error names its field, null keeps the
		// default.
		{"config keys are case-insensitive", `{"Resolver":"email_local_part","NAMESPACE":"dev"}`, "alice@example.com",
			`{"sub":"user:dev/alice","ent":["user:dev/alice"]}`, "", ""},
		{"config value of the wrong type", `{"resolver":1}`, "alice@example.com",
			"", "server_error", `plugin config: field "resolver": expected string, got number`},
		{"config type error in a user", `{"resolver":"email","users":[{"email":"a@example.com","groups":[1]}]}`, "alice@example.com",
			"", "server_error", `plugin config: field "users[0].groups[0]": expected string, got number`},
		{"null namespace keeps the default", `{"resolver":"email_local_part","namespace":null}`, "alice@example.com",
			`{"sub":"user:default/alice","ent":["user:default/alice"]}`, "", ""},
		// Case folding is Unicode's simple folding.
		{"Kelvin sign folds to k", `{"resolver":"email_local_part","allowed_domains":["\u212aexample.com"]}`, "\u212aim@Kexample.com",
			`{"sub":"user:default/kim","ent":["user:default/kim"]}`, "", ""},
		{"quoted local part escapes control characters", `{"resolver":"email_local_part"}`, "a\u202eb\n@example.com",
			"", "access_denied", `email local part "a\u{202e}b\n" is not a valid user entity name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := load(t, core("signin-default"), tt.config, plugin.Limits{PoolSize: 1})
			check(t, call(t, p, hook.SignIn, profile(tt.email)), tt.want, tt.code, tt.message)
		})
	}
}

// Backstage's entity-name rule, through the local part (and the namespace
// for the empty name, which the email check catches first).
func TestFirstPartySignInDefaultEntityNames(t *testing.T) {
	t.Parallel()
	p := load(t, core("signin-default"), `{"resolver":"email_local_part"}`, plugin.Limits{PoolSize: 1})
	for name, valid := range map[string]bool{
		"alice": true, "alice.smith": true, "a-b_c.d": true, "A1": true,
		".alice": false, "alice.": false, "a..b": false, "a/b": false, "a:b": false, "a b": false,
		strings.Repeat("a", 63): true, strings.Repeat("a", 64): false, "é": false,
	} {
		got := call(t, p, hook.SignIn, profile(name+"@example.com"))
		if valid {
			ref := "user:default/" + strings.ToLower(name)
			check(t, got, `{"sub":"`+ref+`","ent":["`+ref+`"]}`, "", "")
		} else {
			check(t, got, "", "access_denied", fmt.Sprintf("email local part %q is not a valid user entity name", name))
		}
	}
	empty := load(t, core("signin-default"), `{"resolver":"email_local_part","namespace":""}`, plugin.Limits{PoolSize: 1})
	check(t, call(t, empty, hook.SignIn, profile("alice@example.com")), "", "server_error",
		`plugin config: namespace "" is not a valid entity namespace`)
}

// A sign_in input of the wrong shape is refused (invalid_request, naming the
// field) before the config is read; member names match case-insensitively.
func TestFirstPartySignInDefaultInput(t *testing.T) {
	t.Parallel()
	p := load(t, core("signin-default"), `{"resolver":"email_local_part"}`, plugin.Limits{PoolSize: 1})
	check(t, call(t, p, hook.SignIn, json.RawMessage(`{"profile":{"email":1}}`)), "", "invalid_request",
		`invalid input: field "profile.email": expected string, got number`)
	check(t, call(t, p, hook.SignIn, json.RawMessage(`{"Profile":{"EMAIL":"Bob@example.com"},"claims":{"email_verified":true}}`)),
		`{"sub":"user:default/bob","ent":["user:default/bob"]}`, "", "")
	// Claims that are not an object are not read (and not an error): there
	// is no email_verified in them.
	check(t, call(t, p, hook.SignIn, json.RawMessage(`{"Profile":{"EMAIL":"Bob@example.com"},"claims":[1,{"email_verified":true}]}`)),
		"", "access_denied", `the sign-in provider did not say that email "Bob@example.com" is verified (email_verified)`)
}

const directoryUsers = `{"users":[
	{"sub":"user:default/alice","username":"alice","email":"Alice@Example.com","displayName":"Alice","picture":"https://example.com/a.png"},
	{"sub":"user:default/bob","username":"bobby","email":"bob@example.com","displayName":"Bob","user_code":" 4711 "},
	{"sub":"user:default/carol","username":"alice@example.com"}]}`

func TestFirstPartyDirectoryStatic(t *testing.T) {
	t.Parallel()
	p := load(t, core("directory-static"), `{"users":[
		{"sub":"user:default/alice","username":"alice","email":"alice@example.com","displayName":"Alice","picture":"https://example.com/a.png"},
		{"sub":"user:default/bob","username":"bob","email":"bob@example.com","displayName":"Bob"}]}`, plugin.Limits{PoolSize: 2})
	alice := `{"sub":"user:default/alice","profile":{"email":"alice@example.com","displayName":"Alice","picture":"https://example.com/a.png"}}`
	tests := []struct {
		name, kind, value string
		want              string
		code, message     string
	}{
		{"login_hint email", "login_hint", "ALICE@example.com", alice, "", ""},
		{"login_hint username", "login_hint", "bob", `{"sub":"user:default/bob","profile":{"email":"bob@example.com","displayName":"Bob"}}`, "", ""},
		{"login_hint sub", "login_hint", "user:default/alice", alice, "", ""},
		{"id_token_hint sub", "id_token_hint", "user:default/alice", alice, "", ""},
		{"id_token_hint is not an email", "id_token_hint", "alice@example.com", "", "unknown_user_id", "no user matches the id_token_hint"},
		{"unknown", "login_hint", "mallory", "", "unknown_user_id", "no user matches the login_hint"},
		{"login_hint_token", "login_hint_token", "eyJ", "", "unknown_user_id", "login_hint_token is not supported by directory-static"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := map[string]any{"kind": tt.kind, "value": tt.value, "client_id": "client-1", "scope": "openid"}
			check(t, call(t, p, hook.ResolveUser, in), tt.want, tt.code, tt.message)
		})
	}
}

func TestFirstPartyDirectoryStaticUserCodes(t *testing.T) {
	t.Parallel()
	alice := `{"sub":"user:default/alice","profile":{"email":"Alice@Example.com","displayName":"Alice","picture":"https://example.com/a.png"}}`
	bobVerified := `{"sub":"user:default/bob","profile":{"email":"bob@example.com","displayName":"Bob"},"user_code_verified":true}`
	tests := []struct {
		name, config, kind, value string
		userCode                  *string
		want                      string
		code, message             string
	}{
		{"login_hint email", directoryUsers, "login_hint", "alice@example.com", nil, alice, "", ""},
		{"login_hint email case-insensitive", directoryUsers, "login_hint", "ALICE@example.COM", nil, alice, "", ""},
		{"login_hint username", directoryUsers, "login_hint", "bobby", ptr(" 4711 "), bobVerified, "", ""},
		{"login_hint username is case-sensitive", directoryUsers, "login_hint", "Bobby", nil, "", "unknown_user_id", "no user matches the login_hint"},
		{"login_hint sub", directoryUsers, "login_hint", "user:default/bob", ptr(" 4711 "), bobVerified, "", ""},
		{"login_hint trimmed", directoryUsers, "login_hint", " bobby ", ptr(" 4711 "), bobVerified, "", ""},
		{"email wins over another user's username", directoryUsers, "login_hint", "alice@example.com", nil, alice, "", ""},
		{"id_token_hint sub", directoryUsers, "id_token_hint", "user:default/alice", nil, alice, "", ""},
		{"id_token_hint is only a sub", directoryUsers, "id_token_hint", "alice@example.com", nil, "", "unknown_user_id", "no user matches the id_token_hint"},
		{"unknown login_hint", directoryUsers, "login_hint", "mallory", nil, "", "unknown_user_id", "no user matches the login_hint"},
		{"empty login_hint", directoryUsers, "login_hint", "", nil, "", "unknown_user_id", "login_hint is empty"},
		{"empty id_token_hint", directoryUsers, "id_token_hint", "", nil, "", "unknown_user_id", "id_token_hint carries no subject"},
		{"login_hint_token", directoryUsers, "login_hint_token", "eyJ...", nil, "", "unknown_user_id", "login_hint_token is not supported by directory-static"},
		{"no users", `{}`, "login_hint", "alice", nil, "", "unknown_user_id", "no user matches the login_hint"},
		{"user_code right", directoryUsers, "login_hint", "bobby", ptr(" 4711 "), bobVerified, "", ""},
		{"user_code wrong", directoryUsers, "login_hint", "bobby", ptr("4712"), "", "invalid_user_code", "the user_code is not the user's"},
		{"user_code is kept as given, not trimmed", directoryUsers, "login_hint", "bobby", ptr("4711"), "", "invalid_user_code", "the user_code is not the user's"},
		{"user_code prefix", directoryUsers, "login_hint", "bobby", ptr(" 47"), "", "invalid_user_code", "the user_code is not the user's"},
		{"no user_code sent", directoryUsers, "login_hint", "bobby", nil, "", "missing_user_code", "the user has a user_code and the request carries none"},
		{"empty user_code is none", directoryUsers, "login_hint", "bobby", ptr(""), "", "missing_user_code", "the user has a user_code and the request carries none"},
		{"id_token_hint, no user_code sent", directoryUsers, "id_token_hint", "user:default/bob", nil, "", "missing_user_code", "the user has a user_code and the request carries none"},
		{"id_token_hint, user_code right", directoryUsers, "id_token_hint", "user:default/bob", ptr(" 4711 "), bobVerified, "", ""},
		// Not compared, so not reported verified: the host refuses it.
		{"user_code for a user without one", directoryUsers, "login_hint", "alice@example.com", ptr("1234"), alice, "", ""},
		{"no user_code for a user without one", directoryUsers, "login_hint", "alice@example.com", nil, alice, "", ""},
		{"user_code of an unknown user", directoryUsers, "login_hint", "mallory", ptr(" 4711 "), "", "unknown_user_id", "no user matches the login_hint"},
		{"unknown kind", directoryUsers, "guess", "alice", nil, "", "invalid_request", `unknown hint kind "guess"`},
		{"user without sub", `{"users":[{"username":"x"},{"sub":"a"},{"sub":"a"}]}`, "login_hint", "x", nil, "", "server_error",
			"plugin config: users[0]: sub is required\nusers[2]: sub \"a\" is already users[1]"},
		{"misspelt field", `{"users":[{"sub":"a","mail":"a@example.com"}]}`, "login_hint", "a", nil, "", "server_error",
			`plugin config: unknown field "users[0].mail"`},
		{"users of the wrong type", `{"users":{}}`, "login_hint", "a", nil, "", "server_error",
			`plugin config: field "users": expected array, got object`},
		{"every decoding problem at once", `{"users":[{"sub":"a"},{"sub":1,"mail":"a@example.com","Email":null}]}`, "login_hint", "a", nil, "", "server_error",
			"plugin config: field \"users[1].sub\": expected string, got number\nunknown field \"users[1].mail\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := load(t, core("directory-static"), tt.config, plugin.Limits{PoolSize: 1})
			in := map[string]any{"kind": tt.kind, "value": tt.value, "client_id": "client-1", "scope": "openid"}
			if tt.userCode != nil {
				in["user_code"] = *tt.userCode
			}
			check(t, call(t, p, hook.ResolveUser, in), tt.want, tt.code, tt.message)
		})
	}
}

// TestFirstPartyDirectoryStaticPurpose: a CIBA request (purpose ciba, or
// none from older hosts) for a user with a code needs the code; a profile
// lookup (purpose profile: consent, where nobody is asked to authorize
// anything) does not, but a code it is given must still be right.
func TestFirstPartyDirectoryStaticPurpose(t *testing.T) {
	t.Parallel()
	p := load(t, core("directory-static"), directoryUsers, plugin.Limits{PoolSize: 1})
	bob := `{"sub":"user:default/bob","profile":{"email":"bob@example.com","displayName":"Bob"}}`
	const missing = "the user has a user_code and the request carries none"
	for _, tt := range []struct {
		purpose, userCode string
		want, code, msg   string
	}{
		{"ciba", "", "", "missing_user_code", missing},
		{"", "", "", "missing_user_code", missing},
		{"profile", "", bob, "", ""},
		{"profile", "4712", "", "invalid_user_code", "the user_code is not the user's"},
	} {
		in := map[string]any{"kind": "id_token_hint", "value": "user:default/bob", "client_id": "client-1", "scope": "openid"}
		if tt.purpose != "" {
			in["purpose"] = tt.purpose
		}
		if tt.userCode != "" {
			in["user_code"] = tt.userCode
		}
		check(t, call(t, p, hook.ResolveUser, in), tt.want, tt.code, tt.msg)
	}
}

func ptr(s string) *string { return &s }

func TestFirstPartyNotifyDefault(t *testing.T) {
	t.Parallel()
	event := map[string]any{
		"event":           "ciba.authentication_requested",
		"user":            map[string]any{"sub": "user:default/alice", "profile": map[string]any{"email": "alice@example.com"}},
		"client":          map[string]any{"id": "client-1", "name": "Example App"},
		"binding_message": "W4SCT",
		"scope":           "openid",
		"approval_url":    "https://auth.example.com/approve/abc",
		"expires_at":      1767323045,
	}
	line := `ciba.authentication_requested: user \"user:default/alice\" <\"alice@example.com\">, client \"client-1\" (\"Example App\"), ` +
		`binding message \"W4SCT\", scope \"openid\", approve at \"https://auth.example.com/approve/abc\", expires 2026-01-02T03:04:05Z`
	body, _ := json.Marshal(event)
	tests := []struct {
		name, config, want string
	}{
		{"log only", `{}`, `{"deliveries":[{"type":"log","message":"` + line + `"}]}`},
		{"log and webhook", `{"webhook_url":"https://hooks.example.com/ciba"}`,
			`{"deliveries":[{"type":"log","message":"` + line + `"},{"type":"webhook","url":"https://hooks.example.com/ciba","body":` + string(body) + `}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := load(t, core("notify-default"), tt.config, plugin.Limits{PoolSize: 1})
			check(t, call(t, p, hook.Notify, event), tt.want, "", "")
		})
	}
}

const notifyEvent = `{"event":"ciba.authentication_requested",
	"user":{"sub":"user:default/alice","profile":{"email":"alice@example.com","displayName":"Alice"}},
	"client":{"id":"client-1","name":"Example App"},
	"binding_message":"W4SCT",
	"scope":"openid profile",
	"approval_url":"https://auth.example.com/backchannel/consent/abc",
	"expires_at":1767323045}`

const notifyLog = `ciba.authentication_requested: user "user:default/alice" <"alice@example.com">, client "client-1" ("Example App"), ` +
	`binding message "W4SCT", scope "openid profile", approve at "https://auth.example.com/backchannel/consent/abc", expires 2026-01-02T03:04:05Z`

func TestFirstPartyNotifyDefaultDeliveries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, config, input string
		want                string // the result, when code is empty
		code, message       string
	}{
		{"log only", `{}`, notifyEvent,
			`{"deliveries":[{"type":"log","message":` + jsonString(notifyLog) + `}]}`, "", ""},
		{"empty webhook_url is log only", `{"webhook_url":""}`, notifyEvent,
			`{"deliveries":[{"type":"log","message":` + jsonString(notifyLog) + `}]}`, "", ""},
		{"webhook", `{"webhook_url":"https://hooks.example.com/ciba"}`, notifyEvent,
			`{"deliveries":[{"type":"log","message":` + jsonString(notifyLog) + `},
			{"type":"webhook","url":"https://hooks.example.com/ciba","body":` + notifyEvent + `}]}`, "", ""},
		{"binding message cannot break the line", `{}`,
			`{"event":"ciba.authentication_requested","user":{"sub":"user:default/bob","profile":{}},"client":{"id":"c"},"binding_message":"ok\nlevel=ERROR forged"}`,
			`{"deliveries":[{"type":"log","message":` +
				jsonString(`ciba.authentication_requested: user "user:default/bob", client "c", binding message "ok\nlevel=ERROR forged"`) + `}]}`, "", ""},
		{"invisible characters are escaped in the line, combining marks kept", `{}`,
			`{"event":"e","user":{"sub":"s\u0000"},"client":{"id":"c","name":"\u202e\u0001Cafe\u0301 \u0939\u093f\u0928\u094d\u0926\u0940"}}`,
			`{"deliveries":[{"type":"log","message":` +
				jsonString(`e: user "s\0", client "c" ("\u{202e}\u{1}Cafe`+"\u0301 \u0939\u093f\u0928\u094d\u0926\u0940"+`")`) + `}]}`, "", ""},
		{"RFC 3339 expiry kept in the webhook body", `{"webhook_url":"http://127.0.0.1:9/hook"}`,
			`{"event":"e","user":{"sub":"s","profile":{}},"client":{"id":"c"},"expires_at":"2026-01-02T03:04:05Z"}`,
			`{"deliveries":[{"type":"log","message":` + jsonString(`e: user "s", client "c", expires 2026-01-02T03:04:05Z`) + `},
			{"type":"webhook","url":"http://127.0.0.1:9/hook","body":{"event":"e","user":{"sub":"s","profile":{}},"client":{"id":"c"},"expires_at":"2026-01-02T03:04:05Z"}}]}`, "", ""},
		{"relative webhook_url", `{"webhook_url":"/hook"}`, notifyEvent,
			"", "server_error", `plugin config: webhook_url "/hook" is not an absolute http(s) URL`},
		{"non-http webhook_url", `{"webhook_url":"file:///etc/passwd"}`, notifyEvent,
			"", "server_error", `plugin config: webhook_url "file:///etc/passwd" is not an absolute http(s) URL`},
		{"email to the profile address", `{"email":true}`, notifyEvent,
			`{"deliveries":[{"type":"log","message":` + jsonString(notifyLog) + `},{"type":"email","to":"alice@example.com"}]}`, "", ""},
		{"email with a subject, after the webhook", `{"webhook_url":"https://hooks.example.com/ciba","email":true,"email_subject":"Approve"}`, notifyEvent,
			`{"deliveries":[{"type":"log","message":` + jsonString(notifyLog) + `},
			{"type":"webhook","url":"https://hooks.example.com/ciba","body":` + notifyEvent + `},
			{"type":"email","to":"alice@example.com","subject":"Approve"}]}`, "", ""},
		{"email in the configured language", `{"email":true,"email_language":"de"}`, notifyEvent,
			`{"deliveries":[{"type":"log","message":` + jsonString(notifyLog) + `},{"type":"email","to":"alice@example.com","language":"de"}]}`, "", ""},
		{"a user's language wins", `{"email":true,"email_language":"de","email_languages":{"user:default/bob":"en","user:default/alice":"fr-CA"}}`, notifyEvent,
			`{"deliveries":[{"type":"log","message":` + jsonString(notifyLog) + `},{"type":"email","to":"alice@example.com","language":"fr-CA"}]}`, "", ""},
		{"another user's language does not apply", `{"email":true,"email_languages":{"user:default/bob":"fr"}}`, notifyEvent,
			`{"deliveries":[{"type":"log","message":` + jsonString(notifyLog) + `},{"type":"email","to":"alice@example.com"}]}`, "", ""},
		{"an empty user language falls back", `{"email":true,"email_language":"de","email_languages":{"user:default/alice":""}}`, notifyEvent,
			`{"deliveries":[{"type":"log","message":` + jsonString(notifyLog) + `},{"type":"email","to":"alice@example.com","language":"de"}]}`, "", ""},
		{"an unknown language is passed on for the server to match", `{"email":true,"email_language":"xx-Nope"}`, notifyEvent,
			`{"deliveries":[{"type":"log","message":` + jsonString(notifyLog) + `},{"type":"email","to":"alice@example.com","language":"xx-Nope"}]}`, "", ""},
		{"email_languages not an object", `{"email":true,"email_languages":["de"]}`, notifyEvent,
			"", "server_error", `plugin config: field "email_languages": expected object, got array`},
		{"email off", `{"email":false,"email_subject":"Approve"}`, notifyEvent,
			`{"deliveries":[{"type":"log","message":` + jsonString(notifyLog) + `}]}`, "", ""},
		{"no email without a profile address", `{"email":true}`, `{"user":{"sub":"s","profile":{}},"client":{"id":"c"}}`,
			`{"deliveries":[{"type":"log","message":` + jsonString(`notification: user "s", client "c"`) + `}]}`, "", ""},
		{"email not a bool", `{"email":"yes"}`, notifyEvent,
			"", "server_error", `plugin config: field "email": expected boolean, got string`},
		{"misspelt key", `{"webhook":"https://hooks.example.com"}`, notifyEvent,
			"", "server_error", `plugin config: unknown field "webhook"`},

		// The webhook body is the event as the plugin reads
		// it: unknown fields dropped, the expiry in UTC, null when absent.
		{"webhook body is the decoded event", `{"webhook_url":"https://hooks.example.com/ciba"}`,
			`{"event":"e","user":{"sub":"s","profile":{"email":"","x":1}},"client":{"id":"c","name":""},"extra":true,"expires_at":"2026-01-02T05:04:05.5+02:00"}`,
			`{"deliveries":[{"type":"log","message":` + jsonString(`e: user "s", client "c", expires 2026-01-02T03:04:05Z`) + `},
			{"type":"webhook","url":"https://hooks.example.com/ciba","body":{"event":"e","user":{"sub":"s","profile":{}},"client":{"id":"c"},"expires_at":"2026-01-02T03:04:05Z"}}]}`, "", ""},
		{"no expiry", `{"webhook_url":"https://hooks.example.com/ciba"}`, `{"user":{"sub":"s"},"client":{"id":"c"}}`,
			`{"deliveries":[{"type":"log","message":` + jsonString(`notification: user "s", client "c"`) + `},
			{"type":"webhook","url":"https://hooks.example.com/ciba","body":{"event":"","user":{"sub":"s","profile":{}},"client":{"id":"c"},"expires_at":null}}]}`, "", ""},
		{"bad expiry", `{}`, `{"expires_at":"2026-13-01T00:00:00Z"}`,
			"", "invalid_request", `invalid input: field "expires_at": "2026-13-01T00:00:00Z" is not an RFC 3339 time: month out of range`},
		{"expiry not in whole seconds", `{}`, `{"expires_at":1.5,"user":{"sub":true}}`,
			"", "invalid_request", "invalid input: field \"expires_at\": expected whole Unix seconds, got 1.5\nfield \"user.sub\": expected string, got boolean"},
		{"webhook_url that does not parse", `{"webhook_url":"https://h:80:90/"}`, notifyEvent,
			"", "server_error", `plugin config: webhook_url "https://h:80:90/" does not parse: invalid port ":80:90" after host`},
		{"webhook_url with a bad IP literal", `{"webhook_url":"https://[fe80::1::2]/"}`, notifyEvent,
			"", "server_error", `plugin config: webhook_url "https://[fe80::1::2]/" does not parse: invalid IP address "fe80::1::2": multiple :: in address at ":2"`},
		{"webhook_url without a host", `{"webhook_url":"https:///hook"}`, notifyEvent,
			"", "server_error", `plugin config: webhook_url "https:///hook" is not an absolute http(s) URL`},
		{"upper-case scheme", `{"webhook_url":"HTTPS://hooks.example.com/x"}`, `{"user":{"sub":"s"},"client":{"id":"c"},"expires_at":0}`,
			`{"deliveries":[{"type":"log","message":` + jsonString(`notification: user "s", client "c", expires 1970-01-01T00:00:00Z`) + `},
			{"type":"webhook","url":"HTTPS://hooks.example.com/x","body":{"event":"","user":{"sub":"s","profile":{}},"client":{"id":"c"},"expires_at":0}}]}`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := load(t, core("notify-default"), tt.config, plugin.Limits{PoolSize: 1})
			check(t, call(t, p, hook.Notify, json.RawMessage(tt.input)), tt.want, tt.code, tt.message)
		})
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// The shared example policy through the Go example's Wasm build.
func TestGoExample(t *testing.T) {
	t.Parallel()
	p := load(t, goExample, `{"allowed_domains":["example.com"],"group":"group:default/staff"}`, plugin.Limits{PoolSize: 1})
	check(t, call(t, p, hook.SignIn, profile("Alice@Example.com")),
		`{"sub":"user:default/alice","ent":["user:default/alice","group:default/staff"]}`, "", "")
	check(t, call(t, p, hook.SignIn, profile("eve@Evil.test")), "", "access_denied", "email domain evil.test is not allowed")
	check(t, call(t, p, hook.SignIn, profile("")), "", "access_denied", "sign-in requires an email address")
}

// Large requests must not exhaust an instance's memory: the Go build of
// signin-default once ran out of its 16 MiB after about 630 calls of 200 KB
// (its collector only ran inside an export), and the Rust build must free
// every request and response buffer. This drives the module with wazero directly, without the host's per-call
// deadline (which makes loop-heavy guest code several times slower), to
// keep the test to seconds.
func TestLargeRequestsDoNotExhaustMemory(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("700 calls of 200 KB")
	}
	path := core("signin-default")
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v: run make plugins", path, err)
	}
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithMemoryLimitPages(plugin.DefaultMemoryPages))
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	// The host functions the module imports, never called here (its catalog
	// lookup is off).
	_, err = r.NewHostModuleBuilder("gatehouse").
		NewFunctionBuilder().WithFunc(func(context.Context, int32, uint32, uint32) {}).Export("log").
		NewFunctionBuilder().WithFunc(func(context.Context, uint32, uint32) uint64 { panic("http_request called") }).Export("http_request").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := r.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
	if err != nil {
		t.Fatal(err)
	}
	alloc, free, signIn := mod.ExportedFunction("gh_alloc"), mod.ExportedFunction("gh_free"), mod.ExportedFunction("gh_sign_in")
	req, err := json.Marshal(map[string]any{"abi": 1, "hook": "sign_in", "config": map[string]any{"resolver": "email_local_part"},
		"input": map[string]any{"profile": map[string]any{"email": "alice@example.com"}, "claims": map[string]any{"blob": strings.Repeat("x", 200_000), "email_verified": true}}})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"result":{"sub":"user:default/alice","ent":["user:default/alice"]}}`
	for i := range 700 {
		res, err := alloc.Call(ctx, uint64(len(req)))
		if err != nil {
			t.Fatalf("call %d: gh_alloc: %v", i, err)
		}
		ptr := uint32(res[0])
		if !mod.Memory().Write(ptr, req) {
			t.Fatalf("call %d: gh_alloc returned %#x, out of bounds", i, ptr)
		}
		res, err = signIn.Call(ctx, uint64(ptr), uint64(len(req)))
		if err != nil {
			t.Fatalf("call %d: gh_sign_in: %v", i, err)
		}
		rptr, rlen := uint32(res[0]>>32), uint32(res[0])
		resp, ok := mod.Memory().Read(rptr, rlen)
		if !ok || string(resp) != want {
			t.Fatalf("call %d: response %q, want %s", i, resp, want)
		}
		if _, err := free.Call(ctx, uint64(ptr), uint64(len(req))); err != nil {
			t.Fatal(err)
		}
		if _, err := free.Call(ctx, uint64(rptr), uint64(rlen)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSDKHostFunctions builds a test plugin that calls every host function
// the SDK wraps and runs it in the real host: the SDK's imports must link,
// the host's answers (written back through gh_alloc while the guest is
// inside an export) must come through, and the allow-list must hold.
func TestSDKHostFunctions(t *testing.T) {
	t.Parallel()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command builds the test plugin: %v", err)
	}
	wasm := filepath.Join(t.TempDir(), "hostcheck.wasm")
	build := exec.Command(gobin, "build", "-buildmode=c-shared", "-trimpath", "-o", wasm, "./gatehouse/internal/hostcheck")
	build.Dir = filepath.Join("..", "sdk", "go")
	build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build hostcheck: %v\n%s", err, out)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Echo", r.Header.Get("X-Hostcheck"))
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
	}))
	defer srv.Close()

	logs := &logRecorder{}
	code, err := os.ReadFile(wasm)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]string{"url": srv.URL + "/ok", "denied_url": srv.URL + "/secret"})
	p, err := rt.Load(context.Background(), "hostcheck", code, plugin.Settings{
		Config:    cfg,
		HTTPAllow: []string{srv.URL + "/ok"},
		KV:        memory.New(),
		Limits:    plugin.Limits{PoolSize: 1},
		Logger:    slog.New(logs),
		// The loopback server above: the development setting.
		Outbound: outbound.New(outbound.Options{AllowPrivate: true}),
	})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	defer p.Close(context.Background())

	for i, visits := range []string{"", "+"} {
		var out struct{ Claims map[string]any }
		if err := p.Call(context.Background(), hook.TokenClaims, map[string]string{"sub": "user:default/alice"}, &out); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		want := map[string]any{
			"status": 200.0, "body": "POST /ok ping", "header": "user:default/alice",
			"denied":        "gatehouse: http GET " + srv.URL + "/secret: url not allowed",
			"visits_before": visits, "had_visits": i > 0,
		}
		if !reflect.DeepEqual(out.Claims, want) {
			t.Fatalf("call %d: claims %v, want %v", i, out.Claims, want)
		}
	}
	if !logs.has(slog.LevelWarn, "hostcheck for user:default/alice") {
		t.Errorf("the plugin's log line did not reach the host's logger: %v", logs.lines())
	}
}

// logRecorder is a slog.Handler keeping every message with its level.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Level.String()+" "+r.Message)
	return nil
}

func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) has(level slog.Level, msg string) bool {
	return slices.Contains(l.lines(), level.String()+" "+msg)
}

func (l *logRecorder) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.msgs)
}

// Many goroutines over a small pool: every answer is right (run with -race).
func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	p := load(t, core("directory-static"), `{"users":[{"sub":"user:default/alice","email":"alice@example.com"}]}`, plugin.Limits{PoolSize: 2})
	const workers, calls = 8, 25
	errs := make(chan error, workers)
	for range workers {
		go func() {
			for range calls {
				var res struct{ Sub string }
				err := p.Call(context.Background(), hook.ResolveUser, map[string]any{"kind": "login_hint", "value": "alice@example.com"}, &res)
				if err == nil && res.Sub != "user:default/alice" {
					err = errors.New("wrong sub " + res.Sub)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkSignIn measures a sign_in call of the first-party
// signin-default (Rust) and of the Go example, on a pooled, warm instance
// through the real runtime (deadline, envelope, response decoding
// included), and reports p50/p99 per call.
func BenchmarkSignIn(b *testing.B) {
	for _, bc := range []struct{ name, path, config string }{
		{"go-example", goExample, `{"allowed_domains":["example.com"],"group":"group:default/staff"}`},
		{"signin-default", core("signin-default"), `{"resolver":"email_local_part","allowed_domains":["example.com"]}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := load(b, bc.path, bc.config, plugin.Limits{PoolSize: 1})
			in := profile("alice@example.com")
			ctx := context.Background()
			var out struct{ Sub string }
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				if err := p.Call(ctx, hook.SignIn, in, &out); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			if n := len(lat); n > 0 {
				b.ReportMetric(float64(lat[n/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[n*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}
