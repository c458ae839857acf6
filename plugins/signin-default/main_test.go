package main

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse"
	"github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse/signin"
)

const directory = `"users":[
	{"email":"Alice@Example.com","ref":"user:default/alice","groups":["group:default/staff","group:default/admins"]},
	{"email":"bob@example.org","ref":"user:partners/bob"}]`

func TestSignIn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, config, email string
		want                signin.Result
		code, message       string // expected error when code is set
	}{
		{name: "local part", config: `{"resolver":"email_local_part"}`, email: "alice@example.com",
			want: signin.Result{Sub: "user:default/alice", Ent: []string{"user:default/alice"}}},
		{name: "local part lowercased in namespace", config: `{"resolver":"email_local_part","namespace":"dev"}`, email: "Alice.Smith@Example.com",
			want: signin.Result{Sub: "user:dev/alice.smith", Ent: []string{"user:dev/alice.smith"}}},
		{name: "local part with allowed domain", config: `{"resolver":"email_local_part","allowed_domains":["EXAMPLE.com"]}`, email: "carol@example.COM",
			want: signin.Result{Sub: "user:default/carol", Ent: []string{"user:default/carol"}}},
		{name: "local part other domain", config: `{"resolver":"email_local_part","allowed_domains":["example.com"]}`, email: "eve@Evil.test",
			code: "access_denied", message: "email domain evil.test is not allowed"},
		{name: "local part not an entity name", config: `{"resolver":"email_local_part"}`, email: "a+b@example.com",
			code: "access_denied", message: `email local part "a+b" is not a valid user entity name`},
		{name: "local part path traversal", config: `{"resolver":"email_local_part"}`, email: "../admin@example.com",
			code: "access_denied", message: `email local part "../admin" is not a valid user entity name`},
		{name: "email lookup case-insensitive", config: `{"resolver":"email",` + directory + `}`, email: "ALICE@example.COM",
			want: signin.Result{Sub: "user:default/alice", Ent: []string{"user:default/alice", "group:default/staff", "group:default/admins"}}},
		{name: "email lookup without groups", config: `{"resolver":"email",` + directory + `}`, email: "bob@example.org",
			want: signin.Result{Sub: "user:partners/bob", Ent: []string{"user:partners/bob"}}},
		{name: "email unknown user", config: `{"resolver":"email",` + directory + `}`, email: "mallory@example.com",
			code: "access_denied", message: "user not found"},
		{name: "email lookup is not local-part lookup", config: `{"resolver":"email",` + directory + `}`, email: "alice@example.org",
			code: "access_denied", message: "user not found"},
		{name: "email listed but domain not allowed", config: `{"resolver":"email","allowed_domains":["example.com"],` + directory + `}`, email: "bob@example.org",
			code: "access_denied", message: "email domain example.org is not allowed"},
		{name: "refuse", config: `{"resolver":"refuse"}`, email: "alice@example.com",
			code: "access_denied", message: "sign-in is refused by configuration"},
		{name: "refuse without email", config: `{"resolver":"refuse"}`,
			code: "access_denied", message: "sign-in is refused by configuration"},
		{name: "missing email", config: `{"resolver":"email_local_part"}`,
			code: "access_denied", message: "sign-in requires an email address"},
		{name: "missing email for lookup", config: `{"resolver":"email",` + directory + `}`, email: "  ",
			code: "access_denied", message: "sign-in requires an email address"},
		{name: "email without domain", config: `{"resolver":"email_local_part"}`, email: "alice@",
			code: "access_denied", message: `email "alice@" is not a valid address`},
		{name: "email without local part", config: `{"resolver":"email_local_part"}`, email: "@example.com",
			code: "access_denied", message: `email "@example.com" is not a valid address`},
		{name: "no resolver", config: `{}`, email: "alice@example.com",
			code: "server_error", message: "plugin config: resolver is required (email_local_part, email or refuse)"},
		{name: "unknown resolver", config: `{"resolver":"guess"}`, email: "alice@example.com",
			code: "server_error", message: `plugin config: resolver "guess" is not one of email_local_part, email, refuse`},
		{name: "misspelt key", config: `{"resolver":"email_local_part","allowed_domain":["example.com"]}`, email: "alice@example.com",
			code: "server_error"},
		{name: "email resolver without users", config: `{"resolver":"email"}`, email: "alice@example.com",
			code: "server_error", message: "plugin config: the email resolver needs users"},
		{name: "every config problem at once", config: `{"resolver":"email","namespace":"a/b","users":[{"ref":"alice","groups":["staff"]}]}`, email: "alice@example.com",
			code: "server_error", message: "plugin config: namespace \"a/b\" is not a valid entity namespace\n" +
				"users[0]: email is required\n" +
				"users[0]: ref \"alice\" is not an entity ref such as user:default/alice\n" +
				"users[0].groups[0]: \"staff\" is not an entity ref such as group:default/staff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := signin.Input{Provider: "github", Env: "development", Profile: gatehouse.Profile{Email: tt.email, DisplayName: "Someone"}}
			got, err := signIn(context.Background(), in, json.RawMessage(tt.config))
			resp := gatehouse.Call(signin.Hook, request(t, tt.config, in))
			var env struct {
				Result *signin.Result   `json:"result"`
				Error  *gatehouse.Error `json:"error"`
			}
			if err := json.Unmarshal(resp, &env); err != nil {
				t.Fatalf("response %s: %v", resp, err)
			}
			if tt.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("result = %+v, want %+v", got, tt.want)
				}
				if env.Result == nil || !reflect.DeepEqual(*env.Result, tt.want) {
					t.Fatalf("response %s, want %+v", resp, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("result = %+v, want error %s", got, tt.code)
			}
			if env.Error == nil || env.Result != nil || env.Error.Code != tt.code {
				t.Fatalf("response %s, want error code %s", resp, tt.code)
			}
			if tt.code == "access_denied" {
				if e, ok := errors.AsType[*gatehouse.Error](err); !ok || e.Code != tt.code {
					t.Fatalf("err = %v, want *gatehouse.Error %s", err, tt.code)
				}
			}
			if tt.message != "" && env.Error.Message != tt.message {
				t.Fatalf("message = %q, want %q", env.Error.Message, tt.message)
			}
			if tt.message == "" && !strings.HasPrefix(env.Error.Message, "plugin config: ") {
				t.Fatalf("message = %q, want a config error", env.Error.Message)
			}
		})
	}
}

func TestValidEntityName(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"alice": true, "alice.smith": true, "a-b_c.d": true, "A1": true,
		"": false, ".alice": false, "alice.": false, "a..b": false, "a/b": false, "a:b": false, "a b": false,
		strings.Repeat("a", 63): true, strings.Repeat("a", 64): false, "é": false,
	} {
		if got := validEntityName(s); got != want {
			t.Errorf("validEntityName(%q) = %v, want %v", s, got, want)
		}
	}
}

func request(t *testing.T, config string, in any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"abi": 1, "hook": signin.Hook, "config": json.RawMessage(config), "input": in})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
