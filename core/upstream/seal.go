package upstream

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
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

// aeadFor derives an AES-256-GCM key from a bearer secret the client holds
// (a session cookie, a bridge client secret) by HKDF-SHA256 (RFC 5869).
// The secrets are 256-bit random values, so no password hashing is needed:
// what matters is that Gatehouse stores only their SHA-256, from which the
// key cannot be derived.
func aeadFor(secret, info string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, info, 32)
	if err != nil {
		return nil, fmt.Errorf("upstream: derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("upstream: cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("upstream: cipher: %w", err)
	}
	return aead, nil
}

// seal returns nonce ‖ ciphertext of plain under secret; id is bound as
// additional data so that a sealed value cannot be moved to another record.
func seal(secret, info, id string, plain []byte) ([]byte, error) {
	aead, err := aeadFor(secret, info)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails (Go 1.24+)
	return aead.Seal(nonce, nonce, plain, []byte(id)), nil
}

// unseal opens what seal made.
func unseal(secret, info, id string, sealed []byte) ([]byte, error) {
	aead, err := aeadFor(secret, info)
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	if len(sealed) < n+aead.Overhead() {
		return nil, errCannotOpen
	}
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], []byte(id))
	if err != nil {
		return nil, errCannotOpen
	}
	return plain, nil
}
