// Package keyset holds the server's signing keys: generated on first start,
// persisted in the store (sealed when keys.secret is set), parsed once and
// kept in memory, published as a JWKS, rotated with the old key kept until
// its tokens expire.
package keyset

import (
	"context"
	"errors"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// Keyset is safe for concurrent use.
type Keyset struct {
	cfg *config.Config
	st  *store.Store
}

// Open loads the keys from the store, generating the first one if there is
// none.
func Open(ctx context.Context, cfg *config.Config, st *store.Store) (*Keyset, error) {
	return nil, errors.New("keyset: pending")
}

// Signer returns a signer for the active key with the given JWT "typ"
// header ("JWT", "at+jwt", ...), kid set.
func (k *Keyset) Signer(typ string) (jose.Signer, error) {
	return nil, errors.New("keyset: pending")
}

// Algorithm is the active key's algorithm (ES256, RS256 or EdDSA).
func (k *Keyset) Algorithm() jose.SignatureAlgorithm { return "" }

// Algorithms lists every algorithm the server can sign with, for discovery.
func (k *Keyset) Algorithms() []string { return nil }

// JWKS returns the public keys: the active one and retired ones still valid.
func (k *Keyset) JWKS() jose.JSONWebKeySet { return jose.JSONWebKeySet{} }

// Rotate generates a new active key and retires the current one; retired
// keys stay in the JWKS for keep (the longest token lifetime).
func (k *Keyset) Rotate(ctx context.Context) (kid string, err error) {
	return "", errors.New("keyset: pending")
}

// Reload re-reads the keys from the store (after `gatehouse keys rotate`
// ran in another process).
func (k *Keyset) Reload(ctx context.Context) error { return errors.New("keyset: pending") }
