package keyset_test

import (
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
)

// BenchmarkSign is one JWS signature per algorithm with a key read back
// from the store, as every process but the one that created the key has it.
func BenchmarkSign(b *testing.B) {
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			st := store.New(memory.New())
			openKeys(b, st, alg)
			keys := openKeys(b, st, alg)
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
