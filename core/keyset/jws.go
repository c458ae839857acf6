package keyset

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// maxJWS bounds what Verify parses; the server's own tokens are far
// smaller, and anything larger is not ours.
const maxJWS = 16 << 10

var b64 = base64.RawURLEncoding

// Sign signs payload (the JWT claims) as a compact JWS (RFC 7515 §7.1) with
// the keys.algorithm key, header {alg, kid, typ}. It is the hot path of every token
// endpoint: the encoded header is cached per typ and the signature is made
// directly from the in-memory key, so a call costs one signature and a few
// small allocations. Tokens from Sign and from Signer are interchangeable.
func (k *Keyset) Sign(typ string, payload []byte) (string, error) {
	return k.SignFunc(typ, func(jose.SignatureAlgorithm) ([]byte, error) { return payload, nil })
}

// SignFunc is Sign for payloads that depend on the signing algorithm (an ID
// token's at_hash, OIDC Core §3.1.3.6): build gets the algorithm of the key
// that will sign.
func (k *Keyset) SignFunc(typ string, build func(alg jose.SignatureAlgorithm) ([]byte, error)) (string, error) {
	return k.SignWith(k.algs[0], typ, build)
}

// SignWith is SignFunc with the active key of alg, one of Algorithms (an
// ID token in the algorithm its client registered). An algorithm the
// server does not sign with (a client registered it before the operator
// changed keys.algorithm) falls back to RS256, the OIDC default.
func (k *Keyset) SignWith(alg jose.SignatureAlgorithm, typ string, build func(alg jose.SignatureAlgorithm) ([]byte, error)) (string, error) {
	return k.signWithKey(alg, typ, func(key SigningKey) ([]byte, error) { return build(key.Alg) })
}

// SigningKey is the key a JWS is being signed with, for payloads that
// carry a signature of their own by the same key (a Backstage user token's
// identity proof, which Backstage checks against the token's kid).
type SigningKey struct {
	Alg jose.SignatureAlgorithm
	ID  string
	sk  *signingKey
}

// Sign makes the JWS signature of a signing input (RFC 7515 §5.1) with
// the key.
func (s SigningKey) Sign(input []byte) ([]byte, error) { return signRaw(s.sk, input) }

// SignWithKey is SignFunc for payloads that depend on the signing key
// itself (keys.algorithm's): build gets the key that will sign, with its id.
func (k *Keyset) SignWithKey(typ string, build func(key SigningKey) ([]byte, error)) (string, error) {
	return k.signWithKey(k.algs[0], typ, build)
}

func (k *Keyset) signWithKey(alg jose.SignatureAlgorithm, typ string, build func(key SigningKey) ([]byte, error)) (string, error) {
	snap := k.snap.Load()
	active := snap.active[alg]
	if active == nil {
		active = snap.active[IDTokenDefault]
	}
	if active == nil || active.private == nil {
		return "", errNoSigningKey
	}
	header := snap.header(active, typ)
	payload, err := build(SigningKey{Alg: active.alg, ID: active.id, sk: active})
	if err != nil {
		return "", err
	}
	buf := make([]byte, 0, len(header)+b64.EncodedLen(len(payload))+1+b64.EncodedLen(signatureSize(active)))
	buf = append(buf, header...)
	buf = b64.AppendEncode(buf, payload)
	sig, err := signRaw(active, buf)
	if err != nil {
		return "", fmt.Errorf("keyset: sign with %s: %w", active.id, err)
	}
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	return string(buf), nil
}

// header returns the encoded protected header of sk for typ followed by ".".
func (s *snapshot) header(sk *signingKey, typ string) []byte {
	key := headerKey{sk.id, typ}
	if h, ok := s.headers.Load(key); ok {
		return h.([]byte)
	}
	raw, _ := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ,omitempty"`
	}{string(sk.alg), sk.id, typ})
	h := append(b64.AppendEncode(nil, raw), '.')
	actual, _ := s.headers.LoadOrStore(key, h)
	return actual.([]byte)
}

func signatureSize(sk *signingKey) int {
	switch key := sk.private.(type) {
	case *ecdsa.PrivateKey:
		return 64
	case *rsa.PrivateKey:
		return key.Size()
	default:
		return ed25519.SignatureSize
	}
}

// signRaw makes the JWS signature of input (RFC 7518 §3.3, §3.4; RFC 8037 §3.1).
func signRaw(sk *signingKey, input []byte) ([]byte, error) {
	switch key := sk.private.(type) {
	case *ecdsa.PrivateKey:
		digest := sha256.Sum256(input)
		r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
		if err != nil {
			return nil, err
		}
		// JWS wants R ‖ S, each left-padded to the curve size, not ASN.1.
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig, nil
	case *rsa.PrivateKey:
		return signRSA(sk, key, input)
	case ed25519.PrivateKey:
		return ed25519.Sign(key, input), nil
	}
	return nil, fmt.Errorf("unsupported key type %T", sk.private)
}

// Verified is a JWS that one of the server's keys signed.
type Verified struct {
	Payload   []byte
	Type      string // the "typ" header, "" when absent
	KeyID     string
	Algorithm jose.SignatureAlgorithm
}

// ErrUnknownKey reports a JWS whose kid is none of the published keys.
var ErrUnknownKey = errors.New("keyset: the token was not signed by a known key")

// Verify checks a compact JWS signed by one of the server's keys (active, or
// retired and still published) and returns its payload and header. Only
// the algorithm of the key named by kid is accepted, which rules out "none"
// and algorithm confusion. It checks no claims: that is the caller's job.
//
// A kid not in memory makes it read the keys from the store first (at
// most once a second), so a token signed by a key that another process on
// the same database made verifies here at once.
func (k *Keyset) Verify(ctx context.Context, raw string) (Verified, error) {
	if len(raw) > maxJWS {
		return Verified{}, errors.New("keyset: token too large")
	}
	jws, err := jose.ParseSignedCompact(raw, supported)
	if err != nil {
		return Verified{}, fmt.Errorf("keyset: parse JWS: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return Verified{}, errors.New("keyset: expected one signature")
	}
	h := jws.Signatures[0].Protected
	sk, ok := k.snap.Load().byKID[h.KeyID]
	if !ok && h.KeyID != "" {
		sk, ok = k.lookupMiss(ctx, h.KeyID)
	}
	if !ok || !sk.live(k.now()) {
		return Verified{}, ErrUnknownKey
	}
	if h.Algorithm != string(sk.alg) {
		return Verified{}, fmt.Errorf("keyset: algorithm %q does not match key %s", h.Algorithm, sk.id)
	}
	payload, err := jws.Verify(sk.public.Key)
	if err != nil {
		return Verified{}, fmt.Errorf("keyset: %w", err)
	}
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	return Verified{Payload: payload, Type: typ, KeyID: sk.id, Algorithm: sk.alg}, nil
}
