package keyset

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// cacheFile, in storage.dir, keeps the public keys of a server on the
// postgres backend, so that one starting while the database does not
// answer still publishes its JWKS (relying parties verify the tokens they
// hold) and verifies tokens.
const cacheFile = "jwks-cache.json"

// cachedKey is one public key in the cache.
type cachedKey struct {
	JWK       json.RawMessage `json:"jwk"`
	CreatedAt time.Time       `json:"created_at"`
	ExpiresAt time.Time       `json:"expires_at,omitzero"`
}

// writeCache replaces the cache with the published keys, atomically; a
// failure is logged, never fatal. Caller holds mu.
func (k *Keyset) writeCache() {
	if k.cachePath == "" {
		return
	}
	snap := k.snap.Load()
	keys := make([]cachedKey, 0, len(snap.published))
	for _, sk := range snap.published {
		raw, err := sk.public.MarshalJSON()
		if err != nil {
			slog.Warn("keyset: caching the public keys failed", "error", err)
			return
		}
		keys = append(keys, cachedKey{JWK: raw, CreatedAt: sk.createdAt, ExpiresAt: sk.expiresAt})
	}
	raw, err := json.Marshal(keys)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(k.cachePath), 0o700)
	}
	if err == nil {
		tmp := k.cachePath + ".tmp"
		if err = os.WriteFile(tmp, raw, 0o600); err == nil {
			err = os.Rename(tmp, k.cachePath)
		}
	}
	if err != nil {
		slog.Warn("keyset: caching the public keys failed", "cache", k.cachePath, "error", err)
	}
}

// readCache publishes the cached public keys (none signs) and returns how
// many. Caller holds mu.
func (k *Keyset) readCache() (int, error) {
	raw, err := os.ReadFile(k.cachePath)
	if err != nil {
		k.snap.Store(newSnapshot(nil, k.algs[0]))
		return 0, err
	}
	var cached []cachedKey
	if err := json.Unmarshal(raw, &cached); err != nil {
		k.snap.Store(newSnapshot(nil, k.algs[0]))
		return 0, fmt.Errorf("keyset: %s: %w", k.cachePath, err)
	}
	keys := make([]*signingKey, 0, len(cached))
	for _, c := range cached {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(c.JWK); err != nil || !jwk.IsPublic() || !jwk.Valid() {
			continue
		}
		keys = append(keys, &signingKey{id: jwk.KeyID, alg: jose.SignatureAlgorithm(jwk.Algorithm), public: jwk,
			createdAt: c.CreatedAt, expiresAt: c.ExpiresAt})
	}
	k.snap.Store(newSnapshot(keys, k.algs[0]))
	return len(keys), nil
}
