package main

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse"
	"github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse/signin"
)

// The shared example policy, run natively on the handler and through the
// SDK's envelope (the same bytes the Wasm export answers with).
func TestSignIn(t *testing.T) {
	t.Parallel()
	staff := `{"allowed_domains":["example.com","Example.ORG"],"group":"group:default/staff"}`
	tests := []struct {
		name, config, email string
		want                signin.Result
		message             string // access_denied message when set
	}{
		{"allowed", staff, "alice@example.com", signin.Result{Sub: "user:default/alice", Ent: []string{"user:default/alice", "group:default/staff"}}, ""},
		{"local part lowercased", staff, "Alice.Smith@EXAMPLE.com", signin.Result{Sub: "user:default/alice.smith", Ent: []string{"user:default/alice.smith", "group:default/staff"}}, ""},
		{"config domain case-insensitive", staff, "bob@example.org", signin.Result{Sub: "user:default/bob", Ent: []string{"user:default/bob", "group:default/staff"}}, ""},
		{"last @ splits", staff, "a@b@example.com", signin.Result{Sub: "user:default/a@b", Ent: []string{"user:default/a@b", "group:default/staff"}}, ""},
		{"no group", `{"allowed_domains":["example.com"]}`, "carol@example.com", signin.Result{Sub: "user:default/carol", Ent: []string{"user:default/carol"}}, ""},
		{"missing email", staff, "", signin.Result{}, "sign-in requires an email address"},
		{"other domain", staff, "eve@evil.test", signin.Result{}, "email domain evil.test is not allowed"},
		{"domain reported lowercased", staff, "eve@Evil.TEST", signin.Result{}, "email domain evil.test is not allowed"},
		{"subdomain is another domain", staff, "eve@mail.example.com", signin.Result{}, "email domain mail.example.com is not allowed"},
		{"no @", staff, "alice", signin.Result{}, "email domain  is not allowed"},
		{"empty config allows nobody", `{}`, "alice@example.com", signin.Result{}, "email domain example.com is not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := signin.Input{Provider: "github", Env: "development", Profile: gatehouse.Profile{Email: tt.email}}
			got, err := signIn(context.Background(), in, json.RawMessage(tt.config))
			if tt.message != "" {
				e, ok := err.(*gatehouse.Error)
				if !ok || e.Code != "access_denied" || e.Message != tt.message {
					t.Fatalf("err = %v, want access_denied %q", err, tt.message)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("result = %+v, want %+v", got, tt.want)
				}
			}

			req, _ := json.Marshal(map[string]any{"abi": 1, "hook": "sign_in", "config": json.RawMessage(tt.config), "input": in})
			var env struct {
				Result *signin.Result   `json:"result"`
				Error  *gatehouse.Error `json:"error"`
			}
			resp := gatehouse.Call(signin.Hook, req)
			if err := json.Unmarshal(resp, &env); err != nil {
				t.Fatalf("response %s: %v", resp, err)
			}
			if tt.message != "" {
				if env.Error == nil || env.Error.Code != "access_denied" || env.Error.Message != tt.message || env.Result != nil {
					t.Fatalf("response %s, want access_denied %q", resp, tt.message)
				}
			} else if env.Result == nil || env.Error != nil || !reflect.DeepEqual(*env.Result, tt.want) {
				t.Fatalf("response %s, want %+v", resp, tt.want)
			}
		})
	}
}
