package token_test

import (
	"context"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/token"
)

// BenchmarkAccessToken is the signing hot path of every token response:
// an RFC 9068 access token signed with the in-memory key, per algorithm.
func BenchmarkAccessToken(b *testing.B) {
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			iss, _, _ := newIssuer(b, alg)
			req := token.AccessRequest{ClientID: "machine", Subject: "machine", Scope: "catalog.read"}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := iss.AccessToken(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyAccessToken is what every resource request (userinfo,
// introspection) pays: signature, claims, and the revocation lookups.
func BenchmarkVerifyAccessToken(b *testing.B) {
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			iss, _, _ := newIssuer(b, alg)
			ctx := context.Background()
			at, err := iss.AccessToken(ctx, token.AccessRequest{ClientID: "web", Subject: "user:default/alice", Scope: "openid"})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := iss.VerifyAccessToken(ctx, at.Token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
