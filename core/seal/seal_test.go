package seal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// TestSealer: a value sealed for one use and record opens only with the
// same secret, use and record id.
func TestSealer(t *testing.T) {
	s, err := New("secret-one", "use a")
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
	otherSecret, _ := New("secret-two", "use a")
	otherUse, _ := New("secret-one", "use b")
	for name, open := range map[string]func() ([]byte, error){
		"another record": func() ([]byte, error) { return s.Open("record-2", sealed) },
		"another secret": func() ([]byte, error) { return otherSecret.Open("record-1", sealed) },
		"another use":    func() ([]byte, error) { return otherUse.Open("record-1", sealed) },
		"truncated":      func() ([]byte, error) { return s.Open("record-1", sealed[:10]) },
		"flipped": func() ([]byte, error) {
			return s.Open("record-1", append(sealed[:len(sealed)-1:len(sealed)-1], sealed[len(sealed)-1]^1))
		},
	} {
		if _, err := open(); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: err = %v, want ErrOpen", name, err)
		}
	}
	if _, err := New("", "use a"); err == nil {
		t.Error("New without a secret succeeded")
	}
	if _, err := New("secret", ""); err == nil {
		t.Error("New without a use succeeded")
	}
}

// TestSealedAtRest: values sealed before this package existed (by the
// signing keys' sealer, same derivation and layout) still open: the
// format of stored records is fixed.
func TestSealedAtRest(t *testing.T) {
	s, err := New("keys-secret", "gatehouse signing-key seal v1")
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := hex.DecodeString(recorded)
	if got, err := s.Open("kid-1", sealed); err != nil || string(got) != "private jwk" {
		t.Fatalf("Open(recorded) = %q, %v", got, err)
	}
}

// recorded was sealed by the signing keys' sealer of an earlier release
// (secret "keys-secret", record "kid-1", plain text "private jwk").
const recorded = "e5728530031bf9c0356dcd3852d18367700134a776f2f775d93d1bfcc60f824fa86c57f4bf711f"
