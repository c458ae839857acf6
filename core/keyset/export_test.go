package keyset

import (
	"crypto/rsa"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// NativeRSA is what makes a key's OpenSSL signatures.
type NativeRSA = nativeRSA

// SetLibcryptoLoad makes the keysets opened until tb ends see load's
// answer for libcrypto.so.3.
func SetLibcryptoLoad(tb testing.TB, load func() error) {
	old := loadLibcrypto
	loadLibcrypto = load
	tb.Cleanup(func() { loadLibcrypto = old })
}

// SetNativeRSA makes the RSA keys loaded until tb ends get their OpenSSL
// signer from open.
func SetNativeRSA(tb testing.TB, open func(*rsa.PrivateKey) (NativeRSA, error)) {
	old := newNativeRSA
	newNativeRSA = open
	tb.Cleanup(func() { newNativeRSA = old })
}

// SetNativeBackoff sets how long crypto/rsa signs alone after an OpenSSL
// signature failed, until tb ends.
func SetNativeBackoff(tb testing.TB, d time.Duration) {
	old := nativeBackoff
	nativeBackoff = d
	tb.Cleanup(func() { nativeBackoff = old })
}

// SignsNatively reports whether the active key of alg signs with OpenSSL.
func (k *Keyset) SignsNatively(alg jose.SignatureAlgorithm) bool {
	sk := k.snap.Load().active[alg]
	return sk != nil && sk.native != nil
}
