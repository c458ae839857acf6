package keyset_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse/core/internal/libcrypto"
	"github.com/gatehouse-auth/gatehouse/core/internal/libcrypto/libcryptotest"
	"github.com/gatehouse-auth/gatehouse/core/keyset"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
)

const testIssuer = "https://id.example.com"

// idTokenClaims is a fresh ID token payload, different each call.
func idTokenClaims() []byte {
	nonce := make([]byte, 1+int(time.Now().UnixNano()%64))
	rand.Read(nonce)
	now := time.Now().Unix()
	return fmt.Appendf(nil, `{"iss":%q,"sub":"user:default/alice","aud":"web","exp":%d,"iat":%d,"nonce":%q}`,
		testIssuer, now+300, now, hex.EncodeToString(nonce))
}

// checkRS256 verifies an RS256 token of keys three ways: the keyset,
// go-jose against the JWKS, and go-oidc as a relying party does.
func checkRS256(t *testing.T, keys *keyset.Keyset, tok string) {
	t.Helper()
	v, err := keys.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("keyset: %v", err)
	}
	if v.Algorithm != jose.RS256 {
		t.Fatalf("signed with %s, want RS256", v.Algorithm)
	}
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var pubs []crypto.PublicKey
	jwks := keys.JWKS()
	for _, k := range jwks.Key(v.KeyID) {
		pubs = append(pubs, k.Key)
	}
	if len(pubs) != 1 {
		t.Fatalf("the JWKS has %d keys %s", len(pubs), v.KeyID)
	}
	if _, err := jws.Verify(pubs[0]); err != nil {
		t.Fatalf("go-jose: %v", err)
	}
	verifier := oidc.NewVerifier(testIssuer, &oidc.StaticKeySet{PublicKeys: pubs}, &oidc.Config{ClientID: "web"})
	if _, err := verifier.Verify(context.Background(), tok); err != nil {
		t.Fatalf("go-oidc: %v", err)
	}
}

// captureLog sends slog's default logger to a buffer until t ends.
func captureLog(t *testing.T) *lockedBuffer {
	buf := &lockedBuffer{}
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(buf, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	return buf
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// noLibcrypto is a libcrypto.so.3 that does not load.
func noLibcrypto() error {
	return fmt.Errorf("%w: simulated", libcrypto.ErrUnavailable)
}

// TestRS256OpenSSLSignsAsGo: with libcrypto.so.3 the RS256 key signs with
// OpenSSL, and its tokens are byte for byte those of a keyset signing with
// crypto/rsa over the same keys (a replica set to keys.rsa_implementation
// go), through
// Sign and through the go-jose Signer, across rotations; relying parties
// verify them.
func TestRS256OpenSSLSignsAsGo(t *testing.T) {
	libcryptotest.Require(t)
	st := store.New(memory.New())
	ossl := openKeys(t, st, "RS256")
	if got := ossl.RSAImplementation(); got != keyset.RSAOpenSSL || !ossl.SignsNatively(jose.RS256) {
		t.Fatalf("RSAImplementation() = %s, signs natively %v; want OpenSSL", got, ossl.SignsNatively(jose.RS256))
	}
	goKeys := openKeysRSA(t, st, "RS256", "go")
	if got := goKeys.RSAImplementation(); got != keyset.RSAGo || goKeys.SignsNatively(jose.RS256) {
		t.Fatalf("keys.rsa_implementation go: RSAImplementation() = %s, signs natively %v; want crypto/rsa", got, goKeys.SignsNatively(jose.RS256))
	}
	for round := range 3 {
		if round > 0 {
			if _, err := ossl.Rotate(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := goKeys.Reload(context.Background()); err != nil {
				t.Fatal(err)
			}
			if ossl.KeyID() != goKeys.KeyID() || !ossl.SignsNatively(jose.RS256) {
				t.Fatalf("after rotation: keys %s and %s, OpenSSL %v", ossl.KeyID(), goKeys.KeyID(), ossl.SignsNatively(jose.RS256))
			}
		}
		signer, err := ossl.Signer("JWT")
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			payload := idTokenClaims()
			got, err := ossl.Sign("JWT", payload)
			if err != nil {
				t.Fatal(err)
			}
			want, err := goKeys.Sign("JWT", payload)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("round %d: OpenSSL's token\n%s\ndiffers from crypto/rsa's\n%s", round, got, want)
			}
			checkRS256(t, ossl, got)
			obj, err := signer.Sign(payload)
			if err != nil {
				t.Fatal(err)
			}
			viaJose, err := obj.CompactSerialize()
			if err != nil {
				t.Fatal(err)
			}
			if viaJose != want {
				t.Fatalf("round %d: the go-jose Signer's token\n%s\ndiffers from Sign's\n%s", round, viaJose, want)
			}
		}
	}
}

// TestRS256LoadFailure: where libcrypto.so.3 does not load, RS256 signs
// with crypto/rsa, and the start says so and why.
func TestRS256LoadFailure(t *testing.T) {
	logs := captureLog(t)
	keyset.SetLibcryptoLoad(t, noLibcrypto)
	keys := openKeys(t, store.New(memory.New()), "ES256")
	if got := keys.RSAImplementation(); got != keyset.RSAGo || keys.SignsNatively(jose.RS256) {
		t.Fatalf("RSAImplementation() = %s, signs natively %v; want crypto/rsa", got, keys.SignsNatively(jose.RS256))
	}
	if !strings.Contains(logs.String(), "RS256 signatures are made by crypto/rsa") || !strings.Contains(logs.String(), "simulated") {
		t.Errorf("the start does not say crypto/rsa signs RS256 and why:\n%s", logs)
	}
	tok, err := keys.SignWith(jose.RS256, "JWT", func(jose.SignatureAlgorithm) ([]byte, error) { return idTokenClaims(), nil })
	if err != nil {
		t.Fatal(err)
	}
	checkRS256(t, keys, tok)
}

// TestRS256ForcedGo: keys.rsa_implementation go makes crypto/rsa sign
// RS256 even where OpenSSL loads (tested where it does), and the start
// says so.
func TestRS256ForcedGo(t *testing.T) {
	logs := captureLog(t)
	keyset.SetLibcryptoLoad(t, func() error { return nil })
	keys := openKeysRSA(t, store.New(memory.New()), "RS256", "go")
	if got := keys.RSAImplementation(); got != keyset.RSAGo || keys.SignsNatively(jose.RS256) {
		t.Fatalf("RSAImplementation() = %s, signs natively %v; want crypto/rsa", got, keys.SignsNatively(jose.RS256))
	}
	if !strings.Contains(logs.String(), "keys.rsa_implementation=go") {
		t.Errorf("the start does not say keys.rsa_implementation chose crypto/rsa:\n%s", logs)
	}
	tok, err := keys.Sign("JWT", idTokenClaims())
	if err != nil {
		t.Fatal(err)
	}
	checkRS256(t, keys, tok)
}

// faultyRSA stands in for OpenSSL: it makes crypto/rsa's signatures until
// call badFrom, and from then on a wrong one (or err).
type faultyRSA struct {
	key     *rsa.PrivateKey
	badFrom int64
	err     error
	calls   atomic.Int64
}

func (f *faultyRSA) SignPKCS1v15SHA256(digest []byte) ([]byte, error) {
	sig, err := rsa.SignPKCS1v15(nil, f.key, crypto.SHA256, digest)
	if f.calls.Add(1) >= f.badFrom {
		if f.err != nil {
			return nil, f.err
		}
		sig[len(sig)-1] ^= 1
	}
	return sig, err
}

// useFaulty makes every RSA key loaded until t ends sign through a
// faultyRSA, and returns the last one made.
func useFaulty(t *testing.T, badFrom int64, err error) func() *faultyRSA {
	keyset.SetLibcryptoLoad(t, func() error { return nil })
	var last atomic.Pointer[faultyRSA]
	keyset.SetNativeRSA(t, func(key *rsa.PrivateKey) (keyset.NativeRSA, error) {
		f := &faultyRSA{key: key, badFrom: badFrom, err: err}
		last.Store(f)
		return f, nil
	})
	return last.Load
}

// TestRS256SelfCheckRefuses: an OpenSSL whose signature of the self-check
// message is not crypto/rsa's never signs: the key signs with crypto/rsa,
// and the load says why.
func TestRS256SelfCheckRefuses(t *testing.T) {
	for name, err := range map[string]error{"wrong signature": nil, "error": errors.New("simulated sign failure")} {
		t.Run(name, func(t *testing.T) {
			logs := captureLog(t)
			last := useFaulty(t, 1, err)
			keys := openKeys(t, store.New(memory.New()), "RS256")
			if keys.SignsNatively(jose.RS256) {
				t.Fatal("a key that failed the self-check signs with OpenSSL")
			}
			if !strings.Contains(logs.String(), "self-check") {
				t.Errorf("the refusal is not logged with its reason:\n%s", logs)
			}
			f := last()
			tok, err := keys.Sign("JWT", idTokenClaims())
			if err != nil {
				t.Fatal(err)
			}
			checkRS256(t, keys, tok)
			if n := f.calls.Load(); n != 1 {
				t.Errorf("OpenSSL was asked for %d signatures, want the self-check's only", n)
			}
		})
	}
}

// TestRS256FaultySignatureNotReleased: an OpenSSL signature that does not
// verify (a fault after the self-check) never leaves the server: crypto/rsa
// makes that one, on every path that signs with the key, and it is logged.
func TestRS256FaultySignatureNotReleased(t *testing.T) {
	for name, err := range map[string]error{"wrong signature": nil, "error": errors.New("simulated sign failure")} {
		t.Run(name, func(t *testing.T) {
			logs := captureLog(t)
			last := useFaulty(t, 2, err)
			keyset.SetNativeBackoff(t, 0) // every path below reaches OpenSSL
			keys := openKeys(t, store.New(memory.New()), "RS256")
			if !keys.SignsNatively(jose.RS256) {
				t.Fatal("a key that passed the self-check does not sign with OpenSSL")
			}
			f := last()
			sign := map[string]func(payload []byte) (string, error){
				"Sign": func(payload []byte) (string, error) { return keys.Sign("JWT", payload) },
				"Signer": func(payload []byte) (string, error) {
					s, err := keys.Signer("JWT")
					if err != nil {
						return "", err
					}
					obj, err := s.Sign(payload)
					if err != nil {
						return "", err
					}
					return obj.CompactSerialize()
				},
				"SigningKey.Sign": func(payload []byte) (string, error) {
					var inner []byte
					tok, err := keys.SignWithKey("JWT", func(key keyset.SigningKey) ([]byte, error) {
						var err error
						inner, err = key.Sign([]byte("header.payload"))
						return payload, err
					})
					if err == nil && rsa.VerifyPKCS1v15(&f.key.PublicKey, crypto.SHA256, sha256Sum("header.payload"), inner) != nil {
						err = errors.New("SigningKey.Sign released a faulty signature")
					}
					return tok, err
				},
			}
			for path, fn := range sign {
				before := f.calls.Load()
				tok, err := fn(idTokenClaims())
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				checkRS256(t, keys, tok)
				if f.calls.Load() == before {
					t.Errorf("%s does not sign through OpenSSL", path)
				}
			}
			if !strings.Contains(logs.String(), "an OpenSSL RS256 signature failed") {
				t.Errorf("the faulty signature is not logged:\n%s", logs)
			}
		})
	}
}

// TestRS256FailureBacksOff: after a failed OpenSSL signature crypto/rsa
// signs alone with the key for the back-off, logged once; then OpenSSL is
// tried again.
func TestRS256FailureBacksOff(t *testing.T) {
	logs := captureLog(t)
	last := useFaulty(t, 2, errors.New("simulated sign failure"))
	const backoff = 200 * time.Millisecond
	keyset.SetNativeBackoff(t, backoff)
	keys := openKeys(t, store.New(memory.New()), "RS256")
	f := last()
	failedAt := time.Now()
	for range 5 {
		tok, err := keys.Sign("JWT", idTokenClaims())
		if err != nil {
			t.Fatal(err)
		}
		checkRS256(t, keys, tok)
	}
	if time.Since(failedAt) < backoff {
		if n := f.calls.Load(); n != 2 {
			t.Errorf("OpenSSL was asked for %d signatures during the back-off, want 2 (the self-check and the one that failed)", n)
		}
		if n := strings.Count(logs.String(), "an OpenSSL RS256 signature failed"); n != 1 {
			t.Errorf("the failure is logged %d times, want once:\n%s", n, logs)
		}
	}
	time.Sleep(time.Until(failedAt.Add(backoff)) + 10*time.Millisecond)
	before := f.calls.Load()
	if _, err := keys.Sign("JWT", idTokenClaims()); err != nil {
		t.Fatal(err)
	}
	if f.calls.Load() == before {
		t.Error("OpenSSL is not tried again after the back-off")
	}
}

// TestRS256SignWhileRotating: many goroutines sign with the OpenSSL key
// while it is rotated (run with -race); every token verifies, and tokens
// of every key the rotations made are among them.
func TestRS256SignWhileRotating(t *testing.T) {
	libcryptotest.Require(t)
	keys := openKeys(t, store.New(memory.New()), "ES256")
	const workers, minCalls, maxCalls, rotations = 8, 10, 5000, 3
	var rotated atomic.Bool
	var signed atomic.Int64
	var wg sync.WaitGroup
	toks := make(chan string, workers*maxCalls)
	errs := make(chan error, workers+1)
	for range workers {
		wg.Go(func() {
			// Until a token after the last rotation, at least minCalls.
			for i := range maxCalls {
				done := rotated.Load()
				tok, err := keys.SignWith(jose.RS256, "JWT", func(jose.SignatureAlgorithm) ([]byte, error) { return idTokenClaims(), nil })
				if err != nil {
					errs <- err
					return
				}
				toks <- tok
				signed.Add(1)
				if done && i >= minCalls {
					return
				}
			}
		})
	}
	wg.Go(func() {
		defer rotated.Store(true)
		for r := range rotations {
			// Each key signs some tokens before it is rotated.
			for i := 0; i < 10000 && signed.Load() < int64((r+1)*workers); i++ {
				time.Sleep(time.Millisecond)
			}
			if _, err := keys.Rotate(context.Background()); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(toks)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	kids := map[string]bool{}
	for tok := range toks {
		v, err := keys.Verify(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		if !kids[v.KeyID] {
			kids[v.KeyID] = true
			checkRS256(t, keys, tok)
		}
	}
	if len(kids) != rotations+1 {
		t.Errorf("tokens by %d RS256 keys, want %d: the signing did not overlap the rotations", len(kids), rotations+1)
	}
	if !keys.SignsNatively(jose.RS256) {
		t.Error("the rotated RS256 key does not sign with OpenSSL")
	}
}

// TestRotatedRSAKeysFreed: a rotation leaves OpenSSL one copy, the active
// key's; the retired keys' copies are freed.
func TestRotatedRSAKeysFreed(t *testing.T) {
	libcryptotest.Require(t)
	before := libcryptotest.SettledLiveKeys()
	keys := openKeys(t, store.New(memory.New()), "RS256")
	for range 4 {
		if _, err := keys.Rotate(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 100 && libcrypto.LiveKeys() > before+1; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if got := libcrypto.LiveKeys(); got != before+1 {
		t.Errorf("OpenSSL holds %d keys after 4 rotations, want %d (the active one)", got-before, 1)
	}
	if len(keys.JWKS().Keys) != 5 || !keys.SignsNatively(jose.RS256) {
		t.Errorf("%d keys published, signs natively %v", len(keys.JWKS().Keys), keys.SignsNatively(jose.RS256))
	}
	runtime.KeepAlive(keys)
}

func sha256Sum(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}
