package ciba

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/plugin"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// fakeHooks answers every call with err, recording the input.
type fakeHooks struct {
	err   error
	input []byte
}

func (f *fakeHooks) CallHook(_ context.Context, _, _ string, input, out any) error {
	f.input, _ = json.Marshal(input)
	if f.err != nil {
		return f.err
	}
	return json.Unmarshal([]byte(`{"sub":"user:default/alice"}`), out)
}

// TestResolveUserRefusals: the resolve_user refusals named in CIBA Core
// §13 become those errors, every other refusal access_denied, a failure
// server_error; the user_code goes to the plugin only when sent.
func TestResolveUserRefusals(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{&plugin.Refusal{Code: "unknown_user_id"}, "unknown_user_id"},
		{&plugin.Refusal{Code: "invalid_user_code"}, "invalid_user_code"},
		{&plugin.Refusal{Code: "missing_user_code"}, "missing_user_code"},
		{&plugin.Refusal{Code: "expired_login_hint_token"}, "expired_login_hint_token"},
		{&plugin.Refusal{Code: "access_denied"}, "access_denied"},
		{&plugin.Refusal{Code: "invalid_request"}, "access_denied"},
		{&plugin.Refusal{Code: "server_error"}, "access_denied"},
		{&plugin.Refusal{Code: "something_new"}, "access_denied"},
		{errors.New("trap: unreachable"), "server_error"},
	}
	for _, tt := range tests {
		for _, code := range []string{"", "1234"} {
			hooks := &fakeHooks{err: tt.err}
			s := &Service{hooks: hooks}
			req := &authRequest{hintKind: "login_hint", hint: "alice", scope: "openid", userCode: code}
			u, err := s.resolveUser(context.Background(), &store.Client{ID: "c1"}, req)
			switch {
			case tt.want == "" && (err != nil || u.Sub != "user:default/alice"):
				t.Errorf("%v: got %+v, %v", tt.err, u, err)
			case tt.want != "" && oauth.AsError(err).Code != tt.want:
				t.Errorf("%v: got %v, want %s", tt.err, err, tt.want)
			}
			var in map[string]any
			if err := json.Unmarshal(hooks.input, &in); err != nil {
				t.Fatal(err)
			}
			if got, sent := in["user_code"]; (code == "") == sent || (sent && got != code) {
				t.Errorf("user_code %q: input %s", code, hooks.input)
			}
			if in["kind"] != "login_hint" || in["value"] != "alice" || in["client_id"] != "c1" || in["scope"] != "openid" {
				t.Errorf("input %s", hooks.input)
			}
		}
	}
}
