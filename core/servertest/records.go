package servertest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// StoreClient registers a client directly in st, as DCR would have: a
// confidential one gets secret (stored hashed), and one without redirect
// URIs gets redirectURI.
func StoreClient(tb testing.TB, st *store.Store, id string, meta store.ClientMetadata, secret, redirectURI string) store.Client {
	tb.Helper()
	c := store.Client{ClientMetadata: meta, ID: id, IssuedAt: time.Now()}
	if meta.TokenEndpointAuthMethod != oauth.AuthNone {
		c.SecretHash = oauth.HashSecret(secret)
	}
	if len(c.RedirectURIs) == 0 {
		c.RedirectURIs = []string{redirectURI}
	}
	if err := st.Clients.Create(context.Background(), id, c); err != nil {
		tb.Fatal(err)
	}
	return c
}

// StoreCode stores c as /v1/authorize would issue it and returns the raw
// code.
func StoreCode(tb testing.TB, st *store.Store, c store.AuthCode) string {
	tb.Helper()
	raw := oauth.RandomToken(32)
	if err := st.Codes.Create(context.Background(), store.HashID(raw), c); err != nil {
		tb.Fatal(err)
	}
	return raw
}

// Challenge is the S256 code challenge of verifier (RFC 7636 §4.2).
func Challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
