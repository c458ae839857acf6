package keyset

import (
	"errors"

	"github.com/gatehouse-auth/gatehouse/core/seal"
)

// sealUse names the signing keys' use of keys.secret (core/seal), so that
// their key is derived apart from every other use's.
const sealUse = "gatehouse signing-key seal v1"

func newSealer(secret string) (*seal.Sealer, error) { return seal.New(secret, sealUse) }

// errWrongSecret is what a sealed key that does not open reports.
var errWrongSecret = errors.New("cannot unseal the key: keys.secret is wrong or the record is corrupt")
