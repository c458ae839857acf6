package keyset

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// sealInfo binds the derived key to this use, so that keys.secret can be
// shared with other derivations without their keys colliding.
const sealInfo = "gatehouse signing-key seal v1"

// sealer encrypts private JWKs at rest with AES-256-GCM under a key derived
// from keys.secret by HKDF-SHA256 (RFC 5869).
type sealer struct{ aead cipher.AEAD }

func newSealer(secret string) (*sealer, error) { return deriveSealer(secret, sealInfo) }

// deriveSealer derives the sealing key for the use info names.
func deriveSealer(secret, info string) (*sealer, error) {
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, info, 32)
	if err != nil {
		return nil, fmt.Errorf("keyset: derive sealing key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("keyset: sealing cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keyset: sealing cipher: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// seal returns nonce ‖ ciphertext. The kid is authenticated as additional
// data, so a sealed key cannot be moved under another record's id.
func (s *sealer) seal(kid string, plain []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails (Go 1.24+)
	return s.aead.Seal(nonce, nonce, plain, []byte(kid))
}

// errWrongSecret is what a sealed key that does not open reports.
var errWrongSecret = errors.New("cannot unseal the key: keys.secret is wrong or the record is corrupt")

func (s *sealer) open(kid string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errWrongSecret
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(kid))
	if err != nil {
		return nil, errWrongSecret
	}
	return plain, nil
}

// Sealer is the same AES-256-GCM sealing, for other secrets the server
// keeps at rest under keys.secret (CIBA's client_notification_token and
// pushed token responses). Each use names itself by info, so its key is
// derived apart from the signing keys' and every other use's (RFC 5869
// §3.2).
type Sealer struct{ s *sealer }

// NewSealer derives a sealer for the use info from secret, which must not
// be empty: keys.secret, or a high-entropy secret the client holds and
// the server keeps only hashed (core/upstream's session cookies and bridge
// client secrets).
func NewSealer(secret, info string) (*Sealer, error) {
	if secret == "" || info == "" {
		return nil, errors.New("keyset: a sealer needs keys.secret and a use")
	}
	s, err := deriveSealer(secret, info)
	if err != nil {
		return nil, err
	}
	return &Sealer{s: s}, nil
}

// Seal returns nonce ‖ ciphertext of plain, authenticating ad (the
// record's id) so that a sealed value cannot be moved to another record.
func (s *Sealer) Seal(ad string, plain []byte) []byte { return s.s.seal(ad, plain) }

// ErrUnseal is what a sealed value that does not open reports.
var ErrUnseal = errors.New("cannot unseal: keys.secret is wrong or the record is corrupt")

// Open returns the plain text Seal sealed under the same ad.
func (s *Sealer) Open(ad string, sealed []byte) ([]byte, error) {
	plain, err := s.s.open(ad, sealed)
	if err != nil {
		return nil, ErrUnseal
	}
	return plain, nil
}
