package main

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse"
	"github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse/resolveuser"
)

const users = `{"users":[
	{"sub":"user:default/alice","username":"alice","email":"Alice@Example.com","displayName":"Alice","picture":"https://example.com/a.png"},
	{"sub":"user:default/bob","username":"bobby","email":"bob@example.com","displayName":"Bob","user_code":" 4711 "},
	{"sub":"user:default/carol","username":"alice@example.com"}]}`

func TestResolveUser(t *testing.T) {
	t.Parallel()
	alice := resolveuser.Result{Sub: "user:default/alice", Profile: gatehouse.Profile{Email: "Alice@Example.com", DisplayName: "Alice", Picture: "https://example.com/a.png"}}
	bob := resolveuser.Result{Sub: "user:default/bob", Profile: gatehouse.Profile{Email: "bob@example.com", DisplayName: "Bob"}}
	tests := []struct {
		name, config, kind, value string
		userCode                  string
		want                      resolveuser.Result
		code, message             string
	}{
		{name: "login_hint email", config: users, kind: "login_hint", value: "alice@example.com", want: alice},
		{name: "login_hint email case-insensitive", config: users, kind: "login_hint", value: "ALICE@example.COM", want: alice},
		{name: "login_hint username", config: users, kind: "login_hint", value: "bobby", want: bob},
		{name: "login_hint username is case-sensitive", config: users, kind: "login_hint", value: "Bobby", code: "unknown_user_id", message: "no user matches the login_hint"},
		{name: "login_hint sub", config: users, kind: "login_hint", value: "user:default/bob", want: bob},
		{name: "login_hint trimmed", config: users, kind: "login_hint", value: " bobby ", want: bob},
		{name: "email wins over another user's username", config: users, kind: "login_hint", value: "alice@example.com", want: alice},
		{name: "id_token_hint sub", config: users, kind: "id_token_hint", value: "user:default/alice", want: alice},
		{name: "id_token_hint is only a sub", config: users, kind: "id_token_hint", value: "alice@example.com", code: "unknown_user_id", message: "no user matches the id_token_hint"},
		{name: "unknown login_hint", config: users, kind: "login_hint", value: "mallory", code: "unknown_user_id", message: "no user matches the login_hint"},
		{name: "empty login_hint", config: users, kind: "login_hint", value: "", code: "unknown_user_id", message: "login_hint is empty"},
		{name: "empty id_token_hint", config: users, kind: "id_token_hint", code: "unknown_user_id", message: "id_token_hint carries no subject"},
		{name: "login_hint_token", config: users, kind: "login_hint_token", value: "eyJ...", code: "unknown_user_id", message: "login_hint_token is not supported by directory-static"},
		{name: "no users", config: `{}`, kind: "login_hint", value: "alice", code: "unknown_user_id", message: "no user matches the login_hint"},
		{name: "user_code right", config: users, kind: "login_hint", value: "bobby", userCode: " 4711 ", want: bob},
		{name: "user_code wrong", config: users, kind: "login_hint", value: "bobby", userCode: "4712", code: "invalid_user_code", message: "the user_code is not the user's"},
		{name: "user_code is kept as given, not trimmed", config: users, kind: "login_hint", value: "bobby", userCode: "4711", code: "invalid_user_code", message: "the user_code is not the user's"},
		{name: "user_code prefix", config: users, kind: "login_hint", value: "bobby", userCode: " 47", code: "invalid_user_code", message: "the user_code is not the user's"},
		{name: "no user_code sent", config: users, kind: "login_hint", value: "bobby", want: bob},
		{name: "user_code for a user without one", config: users, kind: "login_hint", value: "alice@example.com", userCode: "1234", want: alice},
		{name: "user_code of an unknown user", config: users, kind: "login_hint", value: "mallory", userCode: " 4711 ", code: "unknown_user_id", message: "no user matches the login_hint"},
		{name: "unknown kind", config: users, kind: "guess", value: "alice", code: "invalid_request", message: `unknown hint kind "guess"`},
		{name: "user without sub", config: `{"users":[{"username":"x"},{"sub":"a"},{"sub":"a"}]}`, kind: "login_hint", value: "x", code: "server_error",
			message: "plugin config: users[0]: sub is required\nusers[2]: sub \"a\" is already users[1]"},
		{name: "misspelt field", config: `{"users":[{"sub":"a","mail":"a@example.com"}]}`, kind: "login_hint", value: "a", code: "server_error",
			message: `plugin config: json: unknown field "mail"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := resolveuser.Input{Kind: tt.kind, Value: tt.value, ClientID: "client-1", Scope: "openid", UserCode: tt.userCode}
			got, err := resolveUser(context.Background(), in, json.RawMessage(tt.config))
			req, _ := json.Marshal(map[string]any{"abi": 1, "hook": resolveuser.Hook, "config": json.RawMessage(tt.config), "input": in})
			resp := gatehouse.Call(resolveuser.Hook, req)
			var env struct {
				Result *resolveuser.Result `json:"result"`
				Error  *gatehouse.Error    `json:"error"`
			}
			if err := json.Unmarshal(resp, &env); err != nil {
				t.Fatalf("response %s: %v", resp, err)
			}
			if tt.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tt.want) || env.Result == nil || !reflect.DeepEqual(*env.Result, tt.want) {
					t.Fatalf("result = %+v, response %s, want %+v", got, resp, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("result = %+v, want error %s", got, tt.code)
			}
			if tt.code != "server_error" {
				if e, ok := errors.AsType[*gatehouse.Error](err); !ok || e.Code != tt.code {
					t.Fatalf("err = %v, want *gatehouse.Error %s", err, tt.code)
				}
			}
			if env.Error == nil || env.Result != nil || env.Error.Code != tt.code || env.Error.Message != tt.message {
				t.Fatalf("response %s, want %s %q", resp, tt.code, tt.message)
			}
		})
	}
}
