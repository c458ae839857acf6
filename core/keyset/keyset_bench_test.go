package keyset_test

import (
	"log/slog"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/internal/libcrypto/libcryptotest"
	"github.com/gatehouse-auth/gatehouse/core/keyset"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
)

// BenchmarkSign is one JWS signature per algorithm with a key read back
// from the store, as every process but the one that created the key has it.
// RS256 is measured with each implementation: RS256/openssl is the
// system's libcrypto with crypto/rsa's verification of each signature,
// RS256/go crypto/rsa alone.
func BenchmarkSign(b *testing.B) {
	// The keysets' start-up lines would split the benchmark's.
	logger := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	b.Cleanup(func() { slog.SetDefault(logger) })
	for _, tc := range []struct{ name, alg, rsaImpl string }{
		{"ES256", "ES256", "auto"},
		{"RS256/go", "RS256", keyset.RSAGo},
		{"RS256/openssl", "RS256", "auto"},
		{"EdDSA", "EdDSA", "auto"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			if tc.name == "RS256/openssl" {
				libcryptotest.Require(b)
			}
			st := store.New(memory.New())
			openKeysRSA(b, st, tc.alg, tc.rsaImpl)
			keys := openKeysRSA(b, st, tc.alg, tc.rsaImpl)
			if tc.alg == "RS256" && keys.RSAImplementation() != tc.name[len("RS256/"):] {
				b.Fatalf("signs RS256 with %s", keys.RSAImplementation())
			}
			payload := []byte(`{"iss":"https://id.example.com","sub":"user:default/alice","aud":"web","exp":1700000000,"iat":1699999700}`)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := keys.Sign("JWT", payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
