package upstream

import (
	"errors"
	"fmt"

	"github.com/gatehouse-auth/gatehouse/core/seal"
)

// Seal info strings: each use derives its own key, so that a secret used
// for one can never open the other's records.
const (
	sealSession = "gatehouse upstream session v1"
	sealBridge  = "gatehouse bridge grant v1"
)

// errCannotOpen is what a sealed record that does not open reports: the
// secret is wrong, or the record was moved or altered.
var errCannotOpen = errors.New("upstream: the sealed grant does not open with this secret")

// sealerFor is the sealer (core/seal) keyed by a bearer secret the client
// holds (a session cookie, a bridge client secret) rather than
// keys.secret: the secrets are 256-bit random values, so no password
// hashing is needed, and Gatehouse stores only their SHA-256, from which
// the key cannot be derived.
func sealerFor(secret, info string) (*seal.Sealer, error) {
	s, err := seal.New(secret, info)
	if err != nil {
		return nil, fmt.Errorf("upstream: sealing key: %w", err)
	}
	return s, nil
}

// seal returns nonce ‖ ciphertext of plain under secret; id is bound as
// additional data so that a sealed value cannot be moved to another record.
func sealWith(secret, info, id string, plain []byte) ([]byte, error) {
	s, err := sealerFor(secret, info)
	if err != nil {
		return nil, err
	}
	return s.Seal(id, plain), nil
}

// unseal opens what seal made.
func unseal(secret, info, id string, sealed []byte) ([]byte, error) {
	s, err := sealerFor(secret, info)
	if err != nil {
		return nil, errCannotOpen
	}
	plain, err := s.Open(id, sealed)
	if err != nil {
		return nil, errCannotOpen
	}
	return plain, nil
}
