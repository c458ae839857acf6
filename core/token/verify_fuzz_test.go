package token_test

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/keyset"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

// newIssuer is an issuer on a fresh keyset (alg) and memory store.
func newIssuer(tb testing.TB, alg string) (*token.Issuer, *config.Config, *store.Store) {
	tb.Helper()
	cfg, err := config.Load(gatehouse.DefaultConfig, "")
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Storage.Backend = "memory"
	cfg.Keys.Algorithm = alg
	st := store.New(memory.New())
	// The clients the tests mint for: a token is valid only while its
	// client exists.
	for _, id := range []string{"web", "machine"} {
		if err := st.Clients.Create(context.Background(), id, store.Client{ID: id}); err != nil {
			tb.Fatal(err)
		}
	}
	keys, err := keyset.Open(context.Background(), cfg, st)
	if err != nil {
		tb.Fatal(err)
	}
	return token.NewIssuer(cfg, keys, st), cfg, st
}

// fuzzTokens mints one token of each kind and returns them with the
// access token's jti and the identity's subject.
func fuzzTokens(tb testing.TB, iss *token.Issuer) (access token.Access, identity, id string) {
	tb.Helper()
	ctx := context.Background()
	access, err := iss.AccessToken(ctx, token.AccessRequest{
		ClientID: "web", Subject: "user:default/alice", Scope: "openid profile",
		Ownership: []string{"user:default/alice"}, AuthTime: time.Now(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	identity, _, err = iss.IdentityToken(ctx, token.Identity{Subject: "user:default/bob", Ownership: []string{"group:default/a"}})
	if err != nil {
		tb.Fatal(err)
	}
	id, err = iss.IDToken(ctx, token.IDRequest{ClientID: "web", Subject: "user:default/alice", Nonce: "n", AccessToken: access.Token})
	if err != nil {
		tb.Fatal(err)
	}
	return access, identity, id
}

// jwtSeeds are hostile variations of the real tokens: alg none, alg
// swapped to HS256, the payload of one token under another's signature,
// truncations, JWS JSON serialisation, oversized, empty parts.
func jwtSeeds(tokens ...string) []string {
	b64 := base64.RawURLEncoding.EncodeToString
	seeds := []string{"", ".", "..", "a.b.c", "a.b.c.d.e",
		b64([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + b64([]byte(`{"iss":"http://127.0.0.1:7007","sub":"x","client_id":"x","jti":"x","exp":9999999999}`)) + ".",
		b64([]byte(`{"alg":"HS256","kid":"x"}`)) + ".e30.AAAA",
		`{"payload":"e30","signatures":[{"protected":"eyJhbGciOiJFUzI1NiJ9","signature":"AAAA"}]}`,
		strings.Repeat("a", 20_000) + ".b.c",
	}
	for _, tok := range tokens {
		parts := strings.Split(tok, ".")
		seeds = append(seeds, tok, tok[:len(tok)-2], tok+"A", parts[0]+"."+parts[1]+".",
			b64([]byte(`{"alg":"none","typ":"at+jwt"}`))+"."+parts[1]+".",
			strings.Replace(tok, ".", "..", 1))
		for _, other := range tokens {
			op := strings.Split(other, ".")
			seeds = append(seeds, parts[0]+"."+op[1]+"."+parts[2])
		}
	}
	return seeds
}

// invalid checks that a refusal is a 401 invalid_token, never a 500.
func invalid(t *testing.T, raw string, err error) {
	t.Helper()
	if oe := oauth.AsError(err); oe.Code != "invalid_token" || oe.Status != 401 {
		t.Fatalf("%.80q refused with %d %s (%v), want 401 invalid_token", raw, oe.Status, oe.Code, err)
	}
}

// seededIssuer is an ES256 issuer and its access token, with the fuzz
// corpus seeded from an access, an identity and an ID token it minted.
func seededIssuer(f *testing.F) (*token.Issuer, token.Access) {
	iss, _, _ := newIssuer(f, "ES256")
	access, identity, id := fuzzTokens(f, iss)
	for _, s := range jwtSeeds(access.Token, identity, id) {
		f.Add(s)
	}
	return iss, access
}

// FuzzVerifyAccessToken: whatever the string, VerifyAccessToken either
// refuses it with invalid_token or it is the access token this issuer
// minted — never an ID or identity token, never a forgery.
func FuzzVerifyAccessToken(f *testing.F) {
	iss, access := seededIssuer(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := iss.VerifyAccessToken(ctx, raw)
		if err != nil {
			invalid(t, raw, err)
			return
		}
		if v.JTI != access.JTI || v.ClientID != "web" || v.Subject != "user:default/alice" {
			t.Fatalf("%q verified as %+v, which this issuer never minted", raw, v)
		}
	})
}

// FuzzVerifyIdentityToken: the same for Backstage identity tokens.
func FuzzVerifyIdentityToken(f *testing.F) {
	iss, _ := seededIssuer(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw string) {
		who, err := iss.VerifyIdentityToken(ctx, raw)
		if err != nil {
			invalid(t, raw, err)
			return
		}
		if who.Subject != "user:default/bob" || !slices.Equal(who.Ownership, []string{"group:default/a"}) {
			t.Fatalf("%q verified as %+v, which this issuer never minted", raw, who)
		}
	})
}
