package keyset_test

import (
	"context"
	"slices"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/keyset"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
)

func openKeys(t testing.TB, st *store.Store, alg string) *keyset.Keyset {
	t.Helper()
	return openKeysRSA(t, st, alg, "auto")
}

// openKeysRSA is openKeys with keys.rsa_implementation set to rsaImpl.
func openKeysRSA(t testing.TB, st *store.Store, alg, rsaImpl string) *keyset.Keyset {
	t.Helper()
	cfg, err := config.Load(gatehouse.DefaultConfig, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage.Backend = "memory"
	cfg.Keys.Algorithm = alg
	cfg.Keys.RSAImplementation = rsaImpl
	keys, err := keyset.Open(context.Background(), cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// published lists the JWKS as alg/kid pairs, in order.
func published(keys *keyset.Keyset) []keyset.Key {
	var out []keyset.Key
	for _, k := range keys.JWKS().Keys {
		out = append(out, keyset.Key{ID: k.KeyID, Algorithm: k.Algorithm})
	}
	return out
}

func algs(list []keyset.Key) []string {
	var out []string
	for _, k := range list {
		out = append(out, k.Algorithm)
	}
	return out
}

// signedAlg signs with alg and returns the algorithm and kid the token
// says, after checking the keyset verifies it.
func signedAlg(t *testing.T, keys *keyset.Keyset, alg jose.SignatureAlgorithm) (string, string) {
	t.Helper()
	var built jose.SignatureAlgorithm
	tok, err := keys.SignWith(alg, "JWT", func(a jose.SignatureAlgorithm) ([]byte, error) {
		built = a
		return []byte(`{"sub":"x"}`), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := keys.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("verify a token signed with %s: %v", alg, err)
	}
	if built != v.Algorithm {
		t.Errorf("payload built for %s, signed with %s", built, v.Algorithm)
	}
	return string(v.Algorithm), v.KeyID
}

// TestRS256AlongsideDefault: OIDC Core §15.1 needs RS256 for ID tokens, so
// the keyset keeps an RS256 key next to keys.algorithm's, publishes both,
// and signs with either on request.
func TestRS256AlongsideDefault(t *testing.T) {
	for _, tc := range []struct {
		alg  string
		want []string
	}{
		{"ES256", []string{"ES256", "RS256"}},
		{"EdDSA", []string{"EdDSA", "RS256"}},
		{"RS256", []string{"RS256"}},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			keys := openKeys(t, store.New(memory.New()), tc.alg)
			if got := keys.Algorithms(); !slices.Equal(got, tc.want) {
				t.Errorf("Algorithms() = %v, want %v", got, tc.want)
			}
			if got := algs(published(keys)); !slices.Equal(got, tc.want) {
				t.Errorf("JWKS algorithms = %v, want %v", got, tc.want)
			}
			for _, alg := range tc.want {
				if got, _ := signedAlg(t, keys, jose.SignatureAlgorithm(alg)); got != alg {
					t.Errorf("SignWith(%s) signed with %s", alg, got)
				}
			}
			// The default signer is keys.algorithm's.
			tok, err := keys.Sign("at+jwt", []byte(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			if v, err := keys.Verify(context.Background(), tok); err != nil || string(v.Algorithm) != tc.alg || v.KeyID != keys.KeyID() {
				t.Errorf("Sign: %v %v, want %s with %s", v.Algorithm, err, tc.alg, keys.KeyID())
			}
			// An algorithm the server does not sign with falls back to RS256.
			if !slices.Contains(tc.want, "EdDSA") {
				if got, _ := signedAlg(t, keys, jose.EdDSA); got != "RS256" {
					t.Errorf("SignWith(EdDSA) signed with %s, want the RS256 fallback", got)
				}
			}
		})
	}
}

// TestRotateEveryAlgorithm: a rotation replaces the key of every algorithm
// in use; the old ones stay published (and verify) until they expire.
func TestRotateEveryAlgorithm(t *testing.T) {
	ctx := context.Background()
	keys := openKeys(t, store.New(memory.New()), "ES256")
	before := published(keys)
	_, oldRS := signedAlg(t, keys, jose.RS256)
	oldTok, err := keys.SignWith(jose.RS256, "JWT", func(jose.SignatureAlgorithm) ([]byte, error) { return []byte(`{}`), nil })
	if err != nil {
		t.Fatal(err)
	}
	made, err := keys.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := algs(made); !slices.Equal(got, []string{"ES256", "RS256"}) {
		t.Fatalf("rotated %v, want ES256 and RS256", got)
	}
	after := published(keys)
	if len(after) != 4 || after[0] != made[0] || after[1] != made[1] {
		t.Fatalf("JWKS after rotation %v, want the new keys %v first, then the old %v", after, made, before)
	}
	for _, old := range before {
		if !slices.Contains(after[2:], old) {
			t.Errorf("retired key %v no longer published", old)
		}
	}
	if _, kid := signedAlg(t, keys, jose.RS256); kid == oldRS || kid != made[1].ID {
		t.Errorf("RS256 signs with %s after rotation, want %s", kid, made[1].ID)
	}
	if _, err := keys.Verify(context.Background(), oldTok); err != nil {
		t.Errorf("a token of the retired RS256 key no longer verifies: %v", err)
	}
}

// TestRotationPublishesInOrder: the JWKS lists a rotation's retired keys
// in the order of its active ones, def's algorithm first. The keys of one
// rotation are created in the same second, and their order was their
// random kids'.
func TestRotationPublishesInOrder(t *testing.T) {
	for range 10 {
		keys := openKeys(t, store.New(memory.New()), "ES256")
		if _, err := keys.Rotate(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := algs(published(keys)); !slices.Equal(got, []string{"ES256", "RS256", "ES256", "RS256"}) {
			t.Fatalf("JWKS after a rotation lists %v, want ES256, RS256, then the retired ES256, RS256", got)
		}
	}
}

// TestAlgorithmChange: reopening with another keys.algorithm retires the
// old default's key and keeps the RS256 one.
func TestAlgorithmChange(t *testing.T) {
	st := store.New(memory.New())
	first := published(openKeys(t, st, "ES256"))
	keys := openKeys(t, st, "EdDSA")
	after := published(keys)
	if got := algs(after[:2]); !slices.Equal(got, []string{"EdDSA", "RS256"}) {
		t.Fatalf("active keys %v, want EdDSA then RS256", got)
	}
	if after[1] != first[1] {
		t.Errorf("RS256 key changed from %v to %v; only the default algorithm's key should", first[1], after[1])
	}
	if !slices.Contains(after[2:], first[0]) {
		t.Errorf("the ES256 key %v is not kept published as retired: %v", first[0], after)
	}
	if got := keys.Algorithms(); !slices.Equal(got, []string{"EdDSA", "RS256"}) {
		t.Errorf("Algorithms() = %v", got)
	}
	// Reopening with the same configuration changes nothing.
	if again := published(openKeys(t, st, "EdDSA")); !slices.Equal(again, after) {
		t.Errorf("reopening changed the keys: %v, was %v", again, after)
	}
}

// TestStoredRSAKeySignsAsCheaply: an RS256 key read back from the store
// (another process's, or this one's after a restart) signs with the same
// work as the key this process generated, rather than rebuilding and
// checking the CRT form of the key on every signature.
func TestStoredRSAKeySignsAsCheaply(t *testing.T) {
	st := store.New(memory.New())
	created := openKeys(t, st, "RS256")
	loaded := openKeys(t, st, "RS256")
	if created.KeyID() != loaded.KeyID() {
		t.Fatalf("second keyset made key %s rather than reading %s", loaded.KeyID(), created.KeyID())
	}
	allocs := func(keys *keyset.Keyset) float64 {
		return testing.AllocsPerRun(20, func() {
			if _, err := keys.Sign("JWT", []byte(`{"sub":"x"}`)); err != nil {
				t.Fatal(err)
			}
		})
	}
	if c, l := allocs(created), allocs(loaded); l > c {
		t.Errorf("a signature with the stored key allocates %.0f times, with the generated one %.0f", l, c)
	}
}
