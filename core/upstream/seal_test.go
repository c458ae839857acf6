package upstream

import (
	"bytes"
	"testing"
)

// TestSeal: only the same secret, purpose and record id open a sealed
// grant; anything else, or a damaged value, is refused.
func TestSeal(t *testing.T) {
	plain := []byte(`{"token":{"access_token":"at","refresh_token":"rt"}}`)
	sealed, err := seal("secret-1", sealBridge, "bridge-a", plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("refresh_token")) {
		t.Fatal("sealed value holds the plain text")
	}
	got, err := unseal("secret-1", sealBridge, "bridge-a", sealed)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("unseal: %q %v", got, err)
	}
	damaged := bytes.Clone(sealed)
	damaged[len(damaged)-1] ^= 1
	for name, tc := range map[string]struct {
		secret, info, id string
		sealed           []byte
	}{
		"wrong secret":  {"secret-2", sealBridge, "bridge-a", sealed},
		"other purpose": {"secret-1", sealSession, "bridge-a", sealed},
		"moved record":  {"secret-1", sealBridge, "bridge-b", sealed},
		"damaged":       {"secret-1", sealBridge, "bridge-a", damaged},
		"truncated":     {"secret-1", sealBridge, "bridge-a", sealed[:10]},
		"empty":         {"secret-1", sealBridge, "bridge-a", nil},
	} {
		if _, err := unseal(tc.secret, tc.info, tc.id, tc.sealed); err != errCannotOpen {
			t.Errorf("%s: %v, want errCannotOpen", name, err)
		}
	}
	if again, _ := seal("secret-1", sealBridge, "bridge-a", plain); bytes.Equal(again, sealed) {
		t.Error("two seals of the same value are equal: the nonce is not random")
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"  short  ", 10, "short"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"}, // é is two bytes: not cut in half
	} {
		if got := truncate(tc.in, tc.n); got != tc.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
