package upstream

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// TestSeal: only the same secret, purpose and record id open a sealed
// grant; anything else, or a damaged value, is refused.
func TestSeal(t *testing.T) {
	plain := []byte(`{"token":{"access_token":"at","refresh_token":"rt"}}`)
	sealed, err := sealWith("secret-1", sealBridge, "bridge-a", plain)
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
		"no secret":     {"", sealBridge, "bridge-a", sealed},
	} {
		if _, err := unseal(tc.secret, tc.info, tc.id, tc.sealed); err != errCannotOpen {
			t.Errorf("%s: %v, want errCannotOpen", name, err)
		}
	}
	if again, _ := sealWith("secret-1", sealBridge, "bridge-a", plain); bytes.Equal(again, sealed) {
		t.Error("two seals of the same value are equal: the nonce is not random")
	}
}

// TestSealAtRest: a grant sealed before the sealing moved to
// core/seal (same HKDF-SHA256 derivation, nonce ‖ AES-256-GCM, record
// id as additional data) still opens, so bridged clients and provider
// sessions survive the upgrade.
func TestSealAtRest(t *testing.T) {
	old, err := hex.DecodeString("81d079a5b87850e9ad71d7b091bc279363fdf9ae760524b0d7c182fae63d5192ab343603d1d3c7455c642e0341af4ec846a7c48d00aada92178f4b")
	if err != nil {
		t.Fatal(err)
	}
	got, err := unseal("bridge-client-secret", sealBridge, "client-1", old)
	if err != nil || string(got) != `{"token":{"access_token":"at"}}` {
		t.Fatalf("unseal of a stored grant: %q %v", got, err)
	}
	if _, err := unseal("bridge-client-secreT", sealBridge, "client-1", old); err != errCannotOpen {
		t.Errorf("wrong secret: %v", err)
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
