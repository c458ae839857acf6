package keyset

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse/core/internal/libcrypto"
)

// RS256 signatures are made by OpenSSL's libcrypto when it loads (three
// times as fast as crypto/rsa where OpenSSL uses AVX-512 IFMA), else by
// crypto/rsa. OpenSSL is trusted with nothing that is not checked: a key
// signs with it only once it made crypto/rsa's signature of a fixed
// message byte for byte (PKCS #1 v1.5 is deterministic), and each of its
// signatures is verified with crypto/rsa before it leaves (a faulty CRT
// signature can give the key away); a signature that fails is made again
// by crypto/rsa, which then signs alone with that key for nativeBackoff
// (logged once), so that an OpenSSL gone bad costs one error a period,
// not one a signature.

// nativeRSA makes RSASSA-PKCS1-v1_5 signatures of SHA-256 digests with one
// key: libcrypto's RSAKey, or a test's.
type nativeRSA interface {
	SignPKCS1v15SHA256(digest []byte) ([]byte, error)
}

// loadLibcrypto and newNativeRSA are libcrypto's; tests replace them.
var (
	loadLibcrypto = libcrypto.Load
	// nativeBackoff is how long crypto/rsa signs alone with a key after
	// one of OpenSSL's signatures with it failed.
	nativeBackoff = time.Minute
	newNativeRSA  = func(key *rsa.PrivateKey) (nativeRSA, error) {
		k, err := libcrypto.NewRSAKey(key)
		if err != nil {
			return nil, err
		}
		return k, nil
	}
)

// RSA implementations, what RSAImplementation reports.
const (
	RSAOpenSSL = "openssl"
	RSAGo      = "go"
)

// chooseRSA decides, once per Open, what makes RS256 signatures, and logs
// it: OpenSSL when the setting (keys.rsa_implementation) is "auto" and
// libcrypto.so.3 loads, else crypto/rsa.
func chooseRSA(setting string) string {
	if setting == RSAGo {
		slog.Info("keyset: RS256 signatures are made by crypto/rsa", "keys.rsa_implementation", setting)
		return RSAGo
	}
	if err := loadLibcrypto(); err != nil {
		slog.Info("keyset: RS256 signatures are made by crypto/rsa: OpenSSL cannot be used", "reason", err)
		return RSAGo
	}
	slog.Info("keyset: RS256 signatures are made by OpenSSL, each verified with crypto/rsa", "openssl", libcrypto.Version())
	return RSAOpenSSL
}

// RSAImplementation is what makes this keyset's RS256 signatures:
// RSAOpenSSL or RSAGo. A key that OpenSSL failed to load or check signs
// with crypto/rsa all the same (logged when it is loaded).
func (k *Keyset) RSAImplementation() string { return k.rsaImpl }

// prepareRSA gives an active RSA key its OpenSSL copy, when the keyset
// signs with OpenSSL and the copy passes the self-check. Retired keys
// sign nothing and get none.
func (k *Keyset) prepareRSA(sk *signingKey) {
	key, ok := sk.private.(*rsa.PrivateKey)
	if !ok || k.rsaImpl != RSAOpenSSL || !sk.expiresAt.IsZero() {
		return
	}
	native, err := newNativeRSA(key)
	if err == nil {
		err = selfCheck(key, native)
	}
	if err != nil {
		slog.Warn("keyset: OpenSSL cannot sign with this RSA key; crypto/rsa signs with it", "kid", sk.id, "error", err)
		return
	}
	sk.native = native
}

// selfCheckInput is what both implementations sign when a key is loaded.
var selfCheckInput = []byte("gatehouse keyset: RS256 self-check")

// selfCheck requires native to make crypto/rsa's signature, byte for byte.
func selfCheck(key *rsa.PrivateKey, native nativeRSA) error {
	digest := sha256.Sum256(selfCheckInput)
	want, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
	if err != nil {
		return fmt.Errorf("self-check: crypto/rsa: %w", err)
	}
	got, err := native.SignPKCS1v15SHA256(digest[:])
	if err != nil {
		return fmt.Errorf("self-check: %w", err)
	}
	if !bytes.Equal(got, want) {
		return errors.New("self-check: OpenSSL's signature differs from crypto/rsa's")
	}
	return nil
}

// signRSA is the RS256 signature of input (RFC 7518 §3.3): OpenSSL's when
// the key has it and it verifies, else crypto/rsa's.
func signRSA(sk *signingKey, key *rsa.PrivateKey, input []byte) ([]byte, error) {
	digest := sha256.Sum256(input)
	if sk.native != nil && sk.nativeOn() {
		sig, err := sk.native.SignPKCS1v15SHA256(digest[:])
		if err == nil {
			err = rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], sig)
		}
		if err == nil {
			return sig, nil
		}
		sk.nativeFailed(err)
	}
	return rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
}

// nativeOn reports whether OpenSSL may sign with sk now: it is not off, or
// its back-off is over (then it is tried again; its signatures are checked
// all the same).
func (sk *signingKey) nativeOn() bool {
	off := sk.nativeOffUntil.Load()
	return off == 0 || (time.Now().UnixNano() >= off && sk.nativeOffUntil.CompareAndSwap(off, 0))
}

// nativeFailed turns OpenSSL off for sk for nativeBackoff, and logs it
// once for the signatures that failed together.
func (sk *signingKey) nativeFailed(err error) {
	until := time.Now().Add(nativeBackoff).UnixNano()
	if sk.nativeOffUntil.CompareAndSwap(0, until) {
		slog.Error("keyset: an OpenSSL RS256 signature failed; crypto/rsa signs with this key alone for a while",
			"kid", sk.id, "for", nativeBackoff, "error", err)
	}
}

// opaqueKey makes go-jose sign through signRaw, so that a jose.Signer's
// signatures are made and checked as Sign's are.
type opaqueKey struct{ sk *signingKey }

var _ jose.OpaqueSigner = opaqueKey{}

func (o opaqueKey) Public() *jose.JSONWebKey {
	pub := o.sk.public
	return &pub
}

func (o opaqueKey) Algs() []jose.SignatureAlgorithm { return []jose.SignatureAlgorithm{o.sk.alg} }

func (o opaqueKey) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if alg != o.sk.alg {
		return nil, fmt.Errorf("keyset: key %s signs %s, not %s", o.sk.id, o.sk.alg, alg)
	}
	return signRaw(o.sk, payload)
}
