package libcrypto_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/internal/libcrypto"
	"github.com/gatehouse-auth/gatehouse/core/internal/libcrypto/libcryptotest"
)

// TestSameSignaturesAsGo: PKCS #1 v1.5 is deterministic, so for every key
// and message OpenSSL's signature is crypto/rsa's, byte for byte, and it
// verifies.
func TestSameSignaturesAsGo(t *testing.T) {
	libcryptotest.Require(t)
	if v := libcrypto.Version(); !strings.HasPrefix(v, "3.") {
		t.Errorf("Version() = %q, want 3.x", v)
	}
	sizes := []int{2048, 2048, 2048, 3072, 4096}
	if testing.Short() {
		sizes = sizes[:2]
	}
	for i, bits := range sizes {
		t.Run(fmt.Sprintf("%d-%d", i, bits), func(t *testing.T) {
			key, err := rsa.GenerateKey(rand.Reader, bits)
			if err != nil {
				t.Fatal(err)
			}
			native, err := libcrypto.NewRSAKey(key)
			if err != nil {
				t.Fatal(err)
			}
			for n := range 20 {
				msg := make([]byte, n*37)
				rand.Read(msg)
				digest := sha256.Sum256(msg)
				want, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
				if err != nil {
					t.Fatal(err)
				}
				got, err := native.SignPKCS1v15SHA256(digest[:])
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("message %d: OpenSSL's signature differs from crypto/rsa's", n)
				}
				if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], got); err != nil {
					t.Fatalf("message %d: %v", n, err)
				}
			}
		})
	}
}

// TestBadInput: a digest that is not SHA-256's size is refused, not
// passed to the library.
func TestBadInput(t *testing.T) {
	libcryptotest.Require(t)
	_, native := newKey(t)
	for _, n := range []int{0, 20, 31, 33, 64} {
		if _, err := native.SignPKCS1v15SHA256(make([]byte, n)); err == nil {
			t.Errorf("a digest of %d bytes was signed", n)
		}
	}
}

// TestOpenFailures: a library that is missing, or is not libcrypto, is
// reported unavailable with the reason.
func TestOpenFailures(t *testing.T) {
	libcryptotest.Require(t)
	for name, want := range map[string]string{
		"libcrypto.so.0.404": "libcrypto.so.0.404",
		"libc.so.6":          "has no OpenSSL_version_num",
	} {
		_, err := libcrypto.Open(name)
		if !errors.Is(err, libcrypto.ErrUnavailable) || !strings.Contains(err.Error(), want) {
			t.Errorf("open %s: %v, want ErrUnavailable saying %q", name, err, want)
		}
	}
}

// TestConcurrentSigning: one key signs from many goroutines at once (run
// with -race); every signature is crypto/rsa's.
func TestConcurrentSigning(t *testing.T) {
	libcryptotest.Require(t)
	key, native := newKey(t)
	const workers, calls = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for c := range calls {
				digest := sha256.Sum256(fmt.Appendf(nil, "%d/%d", w, c))
				sig, err := native.SignPKCS1v15SHA256(digest[:])
				if err == nil {
					err = rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], sig)
				}
				if err != nil {
					errs <- fmt.Errorf("worker %d call %d: %w", w, c, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestKeysFreed: the library's copy of a key is freed once the key is
// unreachable.
func TestKeysFreed(t *testing.T) {
	libcryptotest.Require(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	before := libcryptotest.SettledLiveKeys()
	func() {
		keys := make([]*libcrypto.RSAKey, 10)
		for i := range keys {
			if keys[i], err = libcrypto.NewRSAKey(key); err != nil {
				t.Fatal(err)
			}
		}
		if got := libcrypto.LiveKeys(); got != before+10 {
			t.Fatalf("LiveKeys() = %d after making 10 keys, want %d", got, before+10)
		}
		digest := sha256.Sum256(nil)
		for _, k := range keys {
			if _, err := k.SignPKCS1v15SHA256(digest[:]); err != nil {
				t.Fatal(err)
			}
		}
	}()
	for i := 0; i < 100 && libcrypto.LiveKeys() > before; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if got := libcrypto.LiveKeys(); got != before {
		t.Errorf("LiveKeys() = %d once the keys are unreachable, want %d", got, before)
	}
}

// newKey is a new RSA-2048 key and its copy in the library.
func newKey(t *testing.T) (*rsa.PrivateKey, *libcrypto.RSAKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	native, err := libcrypto.NewRSAKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, native
}
