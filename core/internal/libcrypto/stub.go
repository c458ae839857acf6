//go:build !linux || !cgo

package libcrypto

import (
	"crypto/rsa"
	"fmt"
)

func open(string) (string, error) {
	return "", fmt.Errorf("%w: this build has no cgo (CGO_ENABLED=0) or is not for Linux", ErrUnavailable)
}

// RSAKey is never made in this build.
type RSAKey struct{}

// NewRSAKey reports why the library is not available.
func NewRSAKey(*rsa.PrivateKey) (*RSAKey, error) {
	_, err := load()
	return nil, err
}

// SignPKCS1v15SHA256 is never called in this build.
func (*RSAKey) SignPKCS1v15SHA256([]byte) ([]byte, error) {
	_, err := load()
	return nil, err
}
