package keyset

import (
	"bytes"
	"errors"
	"testing"
)

// TestSealer: a value sealed for one use and record opens only with the
// same secret, use and record id.
func TestSealer(t *testing.T) {
	s, err := NewSealer("secret-one", "use a")
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("client notification token")
	sealed := s.Seal("record-1", plain)
	if bytes.Contains(sealed, plain) {
		t.Fatal("the sealed value holds the plain text")
	}
	if got, err := s.Open("record-1", sealed); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	otherSecret, _ := NewSealer("secret-two", "use a")
	otherUse, _ := NewSealer("secret-one", "use b")
	keys, _ := newSealer("secret-one")
	tests := []struct {
		name   string
		open   func() ([]byte, error)
		wanted error
	}{
		{"another record", func() ([]byte, error) { return s.Open("record-2", sealed) }, ErrUnseal},
		{"another secret", func() ([]byte, error) { return otherSecret.Open("record-1", sealed) }, ErrUnseal},
		{"another use", func() ([]byte, error) { return otherUse.Open("record-1", sealed) }, ErrUnseal},
		{"the signing keys' sealer", func() ([]byte, error) { return keys.open("record-1", sealed) }, errWrongSecret},
		{"truncated", func() ([]byte, error) { return s.Open("record-1", sealed[:10]) }, ErrUnseal},
	}
	for _, tt := range tests {
		if _, err := tt.open(); !errors.Is(err, tt.wanted) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.wanted)
		}
	}
	if _, err := NewSealer("", "use a"); err == nil {
		t.Error("NewSealer without a secret succeeded")
	}
}
