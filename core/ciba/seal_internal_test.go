package ciba

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

// TestSecrets: sealed values open only for their record with the same
// secret; with no secret values stay as they are and a warning says so at
// start; a sealed value met without the secret is an error, never sent
// as it is.
func TestSecrets(t *testing.T) {
	var logs bytes.Buffer
	quiet := slog.New(slog.NewTextHandler(&logs, nil))
	none, err := newSecrets("", quiet)
	if err != nil || none.sealer != nil {
		t.Fatalf("newSecrets(\"\") = %+v, %v", none, err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "stored unsealed") {
		t.Errorf("no warning at start: %q", logs.String())
	}
	if v, sealed := none.sealString("a", "tok"); v != "tok" || sealed {
		t.Errorf("unsealed sealString = %q, %v", v, sealed)
	}

	x, err := newSecrets("s3cret", quiet)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newSecrets("another", quiet)
	v, sealed := x.sealString("rec-1", "tok")
	if !sealed || v == "tok" {
		t.Fatalf("sealString = %q, %v", v, sealed)
	}
	if got, err := x.openString("rec-1", v, true); err != nil || got != "tok" {
		t.Errorf("openString = %q, %v", got, err)
	}
	for name, open := range map[string]func() (string, error){
		"another record": func() (string, error) { return x.openString("rec-2", v, true) },
		"another secret": func() (string, error) { return other.openString("rec-1", v, true) },
		"no secret":      func() (string, error) { return none.openString("rec-1", v, true) },
		"not base64":     func() (string, error) { return x.openString("rec-1", "!!", true) },
	} {
		if got, err := open(); err == nil || got != "" {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
	if _, err := none.openString("rec-1", v, true); !errors.Is(err, errSealedNoSecret) {
		t.Errorf("no secret: %v", err)
	}

	// The queue seals at Enqueue and opens for the attempt.
	q := &Queue{secrets: x}
	d := store.Delivery{ID: "d1", Bearer: "tok", Body: []byte(`{"access_token":"at"}`)}
	d.Bearer, _ = q.secrets.sealString(deliveryAD(d.ID, "bearer"), d.Bearer)
	d.Body, _ = q.secrets.sealBytes(deliveryAD(d.ID, "body"), d.Body)
	d.Sealed = true
	plain, err := q.open(d)
	if err != nil || plain.Bearer != "tok" || string(plain.Body) != `{"access_token":"at"}` || plain.Sealed {
		t.Errorf("open = %+v, %v", plain, err)
	}
	if _, err := (&Queue{}).open(d); err == nil {
		t.Error("a queue without the secret opened a sealed item")
	}
	moved := d
	moved.ID = "d2"
	if _, err := q.open(moved); err == nil {
		t.Error("an item's sealed fields opened under another id")
	}
}
