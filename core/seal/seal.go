// Package seal encrypts what the server keeps at rest and must recover:
// private signing keys and CIBA's secrets under keys.secret, upstream
// sessions and bridge grants under a secret the client holds. One
// construction for all of them: AES-256-GCM under a key derived by
// HKDF-SHA256 (RFC 5869) from the secret and a use name, so that each use
// has its own key and a secret shared between uses never opens another's
// records (RFC 5869 §3.2).
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// ErrOpen is what a sealed value that does not open reports: the secret
// or the use is wrong, or the value was moved to another record or altered.
var ErrOpen = errors.New("seal: the value does not open: wrong secret, or the record was moved or altered")

// Sealer seals and opens values for one use. Safe for concurrent use.
type Sealer struct{ aead cipher.AEAD }

// New derives the sealer of use from secret; neither may be empty.
func New(secret, use string) (*Sealer, error) {
	if secret == "" || use == "" {
		return nil, errors.New("seal: a sealer needs a secret and a use")
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, use, 32)
	if err != nil {
		return nil, fmt.Errorf("seal: derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: cipher: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal returns nonce ‖ ciphertext of plain. ad (the record's id) is
// authenticated, so that a sealed value cannot be moved to another record.
func (s *Sealer) Seal(ad string, plain []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails (Go 1.24+)
	return s.aead.Seal(nonce, nonce, plain, []byte(ad))
}

// Open returns the plain text Seal sealed under the same ad, or ErrOpen.
func (s *Sealer) Open(ad string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, ErrOpen
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(ad))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}
