package ciba

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/plugin"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// fakeHooks answers resolve_user with err, or else with answer (alice, as
// a module that predates user_code_verified answers, when empty),
// recording the input as the host would send it.
type fakeHooks struct {
	plugin.Hooks
	err    error
	answer string
	input  []byte
}

func (f *fakeHooks) ResolveUser(_ context.Context, in hook.ResolveUserInput) (out hook.ResolveUserResult, err error) {
	f.input, _ = json.Marshal(in)
	if f.err != nil {
		return out, f.err
	}
	answer := f.answer
	if answer == "" {
		answer = `{"sub":"user:default/alice"}`
	}
	return out, json.Unmarshal([]byte(answer), &out)
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
			want := tt.want
			if want == "" && code != "" {
				want = "invalid_user_code" // sent, and nothing verified it
			}
			switch {
			case want == "" && (err != nil || u.Sub != "user:default/alice"):
				t.Errorf("%v: got %+v, %v", tt.err, u, err)
			case want != "" && oauth.AsError(err).Code != want:
				t.Errorf("%v, user_code %q: got %v, want %s", tt.err, code, err, want)
			}
			var in map[string]any
			if err := json.Unmarshal(hooks.input, &in); err != nil {
				t.Fatal(err)
			}
			if got, sent := in["user_code"]; (code == "") == sent || (sent && got != code) {
				t.Errorf("user_code %q: input %s", code, hooks.input)
			}
			if in["kind"] != "login_hint" || in["value"] != "alice" || in["client_id"] != "c1" || in["scope"] != "openid" || in["purpose"] != "ciba" {
				t.Errorf("input %s", hooks.input)
			}
		}
	}
}

// TestResolveUserCodeVerified: a user_code counts as verified only when one
// was sent and the plugin reports it compared it (user_code_verified); a
// code sent that the plugin does not report verified is invalid_user_code;
// a report with no code sent is ignored.
func TestResolveUserCodeVerified(t *testing.T) {
	const verified = `{"sub":"user:default/alice","user_code_verified":true}`
	tests := []struct {
		name, code, answer string
		want               string // error code, "" for accepted
		verified           bool
	}{
		{"code sent and verified", "1234", verified, "", true},
		{"code sent, old plugin", "1234", `{"sub":"user:default/alice"}`, "invalid_user_code", false},
		{"code sent, plugin says not verified", "1234", `{"sub":"user:default/alice","user_code_verified":false}`, "invalid_user_code", false},
		{"no code, old plugin", "", `{"sub":"user:default/alice"}`, "", false},
		{"no code, plugin claims verified", "", verified, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Service{hooks: &fakeHooks{answer: tt.answer}}
			req := &authRequest{hintKind: "login_hint", hint: "alice", scope: "openid", userCode: tt.code}
			u, err := s.resolveUser(context.Background(), &store.Client{ID: "c1"}, req)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && oauth.AsError(err).Code != tt.want:
				t.Fatalf("got %v, want %s", err, tt.want)
			case tt.want == "" && u.userCodeVerified != tt.verified:
				t.Errorf("verified %v, want %v", u.userCodeVerified, tt.verified)
			}
		})
	}
}
