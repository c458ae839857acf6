package gatehouse

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// sameEncode checks that the fast encoding of v, when it is not declined,
// is a JSON document equal to encoding/json's.
func sameEncode(t *testing.T, v any) {
	t.Helper()
	fast, ok := appendResult(nil, v)
	if !ok {
		return
	}
	std, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%+v: encoding/json: %v", v, err)
	}
	var a, b any
	if err := json.Unmarshal(fast, &a); err != nil {
		t.Fatalf("fast encoding %q of %+v is not JSON: %v", fast, v, err)
	}
	if err := json.Unmarshal(std, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("fast %s, encoding/json %s", fast, std)
	}
}

func TestEncodeFast(t *testing.T) {
	t.Parallel()
	verified := true
	tests := []struct {
		v    any
		want string
	}{
		{SignInResult{Sub: "user:default/alice", Ent: []string{"user:default/alice", "group:default/staff"}},
			`{"sub":"user:default/alice","ent":["user:default/alice","group:default/staff"]}`},
		{SignInResult{Sub: "s", Ent: []string{}, Claims: map[string]any{"team": "a<b"}}, `{"sub":"s","ent":[],"claims":{"team":"a\u003cb"}}`},
		{SignInResult{Sub: "q\"\\\n\r\t\x01é"}, `{"sub":"q\"\\\n\r\t\u0001é","ent":null}`},
		{ResolveUserResult{Sub: "s", Profile: Profile{DisplayName: "D"}}, `{"sub":"s","profile":{"displayName":"D"}}`},
		{ResolveUserResult{Sub: "s", UserCodeVerified: true}, `{"sub":"s","profile":{},"user_code_verified":true}`},
		{AuthHandlerResult{Profile: Profile{Email: "e", DisplayName: "d", Picture: "p"}}, `{"profile":{"email":"e","displayName":"d","picture":"p"}}`},
		{AuthHandlerResult{Profile: Profile{Username: "u", EmailVerified: new(bool)}}, `{"profile":{"username":"u","email_verified":false}}`},
		{ResolveUserResult{Sub: "s", Ent: []string{"g"}, Profile: Profile{Email: "e", EmailVerified: &verified}}, `{"sub":"s","profile":{"email":"e","email_verified":true},"ent":["g"]}`},
		{NotifyResult{Deliveries: []Delivery{{Type: "log", Message: "m"}, {Type: "webhook", URL: "https://x/", Body: map[string]any{"k": 1}}}},
			`{"deliveries":[{"type":"log","message":"m"},{"type":"webhook","url":"https://x/","body":{"k":1}}]}`},
		{NotifyResult{Deliveries: []Delivery{{Type: "email", To: "alice@example.com", Subject: "Approve"}, {Type: "email", To: "bob@example.com"}}},
			`{"deliveries":[{"type":"email","to":"alice@example.com","subject":"Approve"},{"type":"email","to":"bob@example.com"}]}`},
		{NotifyResult{}, `{"deliveries":null}`},
		{TokenClaimsResult{Claims: map[string]any{"a": true}}, `{"claims":{"a":true}}`},
		{TokenClaimsResult{}, `{"claims":null}`},
	}
	for _, tt := range tests {
		got, ok := appendResult(nil, tt.v)
		if !ok || string(got) != tt.want {
			t.Errorf("appendResult(%+v) = %s, %v; want %s", tt.v, got, ok, tt.want)
		}
		sameEncode(t, tt.v)
	}
	if _, ok := appendResult(nil, SignInResult{Sub: "\xff"}); ok {
		t.Error("invalid UTF-8 was not declined")
	}
	if _, ok := appendResult(nil, SignInResult{Sub: "s", Claims: map[string]any{"f": func() {}}}); ok {
		t.Error("an unencodable claim was not declined")
	}
}

func FuzzEncodeFast(f *testing.F) {
	f.Add("user:default/alice", "group:default/staff", "https://x/", "\x00\"\\<>&\u2028é")
	f.Add("\xff", "", "", "\t")
	f.Fuzz(func(t *testing.T, a, b, c, d string) {
		sameEncode(t, SignInResult{Sub: a, Ent: []string{a, b}, Claims: map[string]any{c: d}})
		sameEncode(t, ResolveUserResult{Sub: a, Profile: Profile{Email: b, DisplayName: c, Picture: d}, UserCodeVerified: len(a) > len(b)})
		sameEncode(t, AuthHandlerResult{Profile: Profile{Email: d, Picture: a, Username: b}})
		sameEncode(t, NotifyResult{Deliveries: []Delivery{{Type: a, Message: b}, {Type: c, URL: d, Body: map[string]string{a: b}}, {Type: a, To: b, Subject: c}}})
		sameEncode(t, TokenClaimsResult{Claims: map[string]any{a: []string{b, c, d}}})
	})
}

// TestEncodeSamples: the fast path writes the recorded results of package
// hook's testdata byte for byte.
func TestEncodeSamples(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "hook", "testdata", "*.result*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	types := map[string]func() any{
		"sign_in": func() any { return new(SignInResult) }, "auth_handler": func() any { return new(AuthHandlerResult) },
		"resolve_user": func() any { return new(ResolveUserResult) }, "notify": func() any { return new(NotifyResult) },
		"token_claims": func() any { return new(TokenClaimsResult) },
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(raw, []byte("\n"))
		v := types[strings.Split(filepath.Base(file), ".")[0]]()
		if err := json.Unmarshal(want, v); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if got, ok := appendResult(nil, v); !ok || !bytes.Equal(got, want) {
			t.Errorf("%s: fast path wrote %s (%v), want %s", file, got, ok, want)
		}
	}
}
