package ciba

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"

	"github.com/gatehouse-auth/gatehouse/core/seal"
)

// sealInfo names CIBA's use of keys.secret, so that its key is derived
// apart from the signing keys' (core/keyset).
const sealInfo = "gatehouse ciba secrets v1"

// secrets seals what CIBA keeps at rest until it is delivered — the
// client_notification_token, the bearer and body of queued callbacks (a
// pushed token response) — under keys.secret (core/seal). With
// no keys.secret it stores them as they are, as keyset does with the
// signing keys, and says so once at start. The zero value (nil sealer)
// stores unsealed.
type secrets struct{ sealer *seal.Sealer }

// newSecrets derives the sealer from keys.secret, or warns on log that
// CIBA's secrets are stored unsealed.
func newSecrets(secret string, log *slog.Logger) (secrets, error) {
	if secret == "" {
		log.Warn("ciba: client notification tokens and pushed token responses are stored unsealed until delivered: set keys.secret to encrypt them at rest")
		return secrets{}, nil
	}
	s, err := seal.New(secret, sealInfo)
	if err != nil {
		return secrets{}, fmt.Errorf("ciba: %w", err)
	}
	return secrets{sealer: s}, nil
}

// errSealedNoSecret is what opening a sealed value reports when
// keys.secret has been removed since it was sealed.
var errSealedNoSecret = errors.New("ciba: the value is sealed and keys.secret is not set")

// sealBytes seals plain for the record field ad; sealed says whether it
// did (no secret: plain is returned as it is).
func (x secrets) sealBytes(ad string, plain []byte) (out []byte, sealed bool) {
	if x.sealer == nil {
		return plain, false
	}
	return x.sealer.Seal(ad, plain), true
}

// openBytes reverses sealBytes.
func (x secrets) openBytes(ad string, v []byte, sealed bool) ([]byte, error) {
	if !sealed {
		return v, nil
	}
	if x.sealer == nil {
		return nil, errSealedNoSecret
	}
	plain, err := x.sealer.Open(ad, v)
	if err != nil {
		return nil, fmt.Errorf("ciba: %s: %w", ad, err)
	}
	return plain, nil
}

// sealString seals a string field, as base64url of the sealed bytes.
// The empty string stays empty.
func (x secrets) sealString(ad, plain string) (out string, sealed bool) {
	if plain == "" || x.sealer == nil {
		return plain, false
	}
	return base64.RawURLEncoding.EncodeToString(x.sealer.Seal(ad, []byte(plain))), true
}

// openString reverses sealString.
func (x secrets) openString(ad, v string, sealed bool) (string, error) {
	if !sealed || v == "" {
		return v, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return "", fmt.Errorf("ciba: %s: sealed value is not base64url: %w", ad, err)
	}
	plain, err := x.openBytes(ad, raw, true)
	if err != nil {
		return "", err
	}
	return string(plain), nil
}
