package hook_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// samples maps the recorded documents of testdata (<hook>.<input|result>[.variant].json,
// each exactly as the host writes an input and the SDK a result) to the
// type that carries them.
var samples = map[string]func() any{
	"sign_in.input":       func() any { return new(hook.SignInInput) },
	"sign_in.result":      func() any { return new(hook.SignInResult) },
	"auth_handler.result": func() any { return new(hook.AuthHandlerResult) },
	"resolve_user.input":  func() any { return new(hook.ResolveUserInput) },
	"resolve_user.result": func() any { return new(hook.ResolveUserResult) },
	"notify.input":        func() any { return new(hook.NotifyInput) },
	"notify.result":       func() any { return new(hook.NotifyResult) },
	"token_claims.input":  func() any { return new(hook.TokenClaimsInput) },
	"token_claims.result": func() any { return new(hook.TokenClaimsResult) },
}

// TestWireSamples decodes every recorded document into its type and
// encodes it again: the bytes must not change, so the field names and
// omitempty of the types are the wire format of ABI v1.
func TestWireSamples(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	seen := map[string]bool{}
	for _, file := range files {
		parts := strings.Split(filepath.Base(file), ".")
		kind := parts[0] + "." + parts[1]
		newValue, ok := samples[kind]
		if !ok {
			t.Fatalf("%s: no type for %s", file, kind)
		}
		seen[kind] = true
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(raw, []byte("\n"))
		v := newValue()
		if err := json.Unmarshal(want, v); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		got, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s round trip:\n got %s\nwant %s", file, got, want)
		}
	}
	for kind := range samples {
		if !seen[kind] {
			t.Errorf("no sample of %s in testdata", kind)
		}
	}
}

// TestDeliveryBody: a decoded body is the plugin's bytes, for the host to
// post as they are; an absent one is nil.
func TestDeliveryBody(t *testing.T) {
	t.Parallel()
	var r hook.NotifyResult
	doc := `{"deliveries":[{"type":"webhook","url":"u","body":{"b":1.50,"a":[]}},{"type":"log","body":null},{"type":"log"}]}`
	if err := json.Unmarshal([]byte(doc), &r); err != nil {
		t.Fatal(err)
	}
	for i, want := range []any{json.RawMessage(`{"b":1.50,"a":[]}`), json.RawMessage(`null`), nil} {
		got := r.Deliveries[i].Body
		if g, ok := got.(json.RawMessage); (ok != (want != nil)) || (ok && string(g) != string(want.(json.RawMessage))) {
			t.Errorf("delivery %d body = %#v, want %#v", i, got, want)
		}
	}
	if r.Deliveries[0].Type != hook.DeliveryWebhook || r.Deliveries[0].URL != "u" {
		t.Errorf("delivery 0 = %+v", r.Deliveries[0])
	}
	if err := json.Unmarshal([]byte(`{"deliveries":[{"type":5}]}`), &r); err == nil {
		t.Error("a delivery of the wrong type decoded")
	}
}

// TestTimestamp: RFC3339 writes what the host sends; a Timestamp built in
// Go writes Unix seconds; each reads back the form it read.
func TestTimestamp(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		ts   hook.Timestamp
		want string
	}{
		{hook.RFC3339(at), `"2026-01-01T12:00:00Z"`},
		{hook.RFC3339(at.In(time.FixedZone("x", 3600))), `"2026-01-01T12:00:00Z"`},
		{hook.Timestamp{Time: at}, `1767268800`},
		{hook.Timestamp{}, `null`},
	} {
		b, err := json.Marshal(tc.ts)
		if err != nil || string(b) != tc.want {
			t.Errorf("Marshal(%v) = %s, %v, want %s", tc.ts.Time, b, err, tc.want)
		}
		var back hook.Timestamp
		if err := json.Unmarshal(b, &back); err != nil || !back.Equal(tc.ts.Time) {
			t.Errorf("Unmarshal(%s) = %v, %v", b, back.Time, err)
		}
		if again, _ := json.Marshal(back); string(again) != tc.want {
			t.Errorf("round trip of %s wrote %s", b, again)
		}
	}
}
