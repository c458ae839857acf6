package gatehouse

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// sameDecode decodes doc into a fresh T with decodeFast and with
// encoding/json. When the document is well formed and encoding/json accepts
// it, the fast decoder must either decline or produce the same value.
func sameDecode[T any](t *testing.T, doc []byte) (fast bool) {
	t.Helper()
	var got, want T
	if !decodeFast(&got, doc) {
		return false
	}
	if !json.Valid(doc) || json.Unmarshal(doc, &want) != nil {
		return true
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: decodeFast %+v, encoding/json %+v", doc, got, want)
	}
	return true
}

func TestDecodeFast(t *testing.T) {
	t.Parallel()
	verified := true
	tests := []struct {
		name string
		doc  string
		fast bool
		want any
	}{
		{"sign_in", `{"provider":"github","env":"development","profile":{"email":"a@example.com","displayName":"A","picture":""},"claims":{"sub":42,"n":12345678901234567890}}`, true,
			SignInInput{Provider: "github", Env: "development", Profile: Profile{Email: "a@example.com", DisplayName: "A"}, Claims: json.RawMessage(`{"sub":42,"n":12345678901234567890}`)}},
		{"escapes and unicode", `{"profile":{"displayName":"J\u00fcrgen \"J\"","email":"ü@example.com"}}`, true,
			SignInInput{Profile: Profile{DisplayName: `Jürgen "J"`, Email: "ü@example.com"}}},
		{"username and email_verified", `{"profile":{"username":"a","email_verified":true}}`, true,
			SignInInput{Profile: Profile{Username: "a", EmailVerified: &verified}}},
		{"nulls leave fields", `{"provider":null,"profile":null,"claims":null}`, true, SignInInput{Claims: json.RawMessage(`null`)}},
		{"unknown members skipped", `{"x":[{"provider":"no"}],"provider":"p"}`, true, SignInInput{Provider: "p"}},
		{"wrong type declines", `{"provider":5}`, false, nil},
		{"cased name declines", `{"Provider":"p"}`, false, nil},
		{"not an object declines", `[]`, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got SignInInput
			ok := decodeFast(&got, []byte(tt.doc))
			if ok != tt.fast {
				t.Fatalf("decodeFast = %v, want %v", ok, tt.fast)
			}
			if ok && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("decodeFast = %+v, want %+v", got, tt.want)
			}
			sameDecode[SignInInput](t, []byte(tt.doc))
		})
	}

	var n NotifyInput
	doc := `{"event":"e","user":{"sub":"s","profile":{"email":"a@example.com"}},"client":{"id":"c","name":"C"},"binding_message":"b","scope":"openid","approval_url":"https://x/","expires_at":"2026-01-02T03:04:05Z"}`
	if !decodeFast(&n, []byte(doc)) {
		t.Fatal("notify input declined")
	}
	if n.User.Profile.Email != "a@example.com" || n.Client.Name != "C" || !n.ExpiresAt.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("notify input = %+v", n)
	}
	sameDecode[NotifyInput](t, []byte(doc))
	var r ResolveUserInput
	if !decodeFast(&r, []byte(`{"kind":"login_hint","value":"alice","client_id":"c","scope":"openid","user_code":"4711","purpose":"ciba"}`)) || r.Value != "alice" || r.ClientID != "c" || r.UserCode != "4711" || r.Purpose != "ciba" {
		t.Fatalf("resolve_user input = %+v", r)
	}
	var tc TokenClaimsInput
	if !decodeFast(&tc, []byte(`{"client_id":"c","sub":"s","scope":"x","grant_type":"g"}`)) || tc.GrantType != "g" || tc.Sub != "s" {
		t.Fatalf("token_claims input = %+v", tc)
	}
}

func FuzzDecodeFast(f *testing.F) {
	for _, seed := range []string{
		`{"provider":"github","env":"development","profile":{"email":"a@example.com","displayName":"A"},"claims":{"sub":"42"}}`,
		`{"kind":"login_hint","value":"al\u0069ce","client_id":"c","scope":"openid","user_code":"12\u00343","purpose":"profile"}`,
		`{"event":"e","user":{"sub":"s","profile":{}},"client":{"id":"c"},"expires_at":1767323045}`,
		`{"client_id":"c","sub":"s","scope":"x","grant_type":"g"}`,
		`{"profile":{"email":"\ud83d\ude00"},"PROVIDER":"x"}`, `{"claims":[1,{"a":"}"}]}`, `null`, `{}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		sameDecode[SignInInput](t, doc)
		sameDecode[ResolveUserInput](t, doc)
		sameDecode[NotifyInput](t, doc)
		sameDecode[TokenClaimsInput](t, doc)
	})
}
