// Package libcrypto makes RSA PKCS #1 v1.5 SHA-256 signatures (RS256) with
// the system's OpenSSL 3, which is about three times as fast as crypto/rsa
// on CPUs where it uses AVX-512 IFMA. The library is opened at run time
// (dlopen of libcrypto.so.3), so a binary built with cgo needs neither
// OpenSSL's headers nor its library to build, and runs where it is absent;
// Load reports why it cannot be used. Without cgo, or off Linux, Load
// always reports so (stub.go).
//
// It checks nothing about the signatures it makes: its caller compares
// them with crypto/rsa's (core/keyset).
package libcrypto

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Library is the soname opened: OpenSSL 3.x's libcrypto.
const Library = "libcrypto.so.3"

// ErrUnavailable is what Load's error wraps when the library cannot be used.
var ErrUnavailable = errors.New("libcrypto: " + Library + " is not available")

var load = sync.OnceValues(func() (string, error) { return open(Library) })

// Load opens libcrypto.so.3 once and reports whether it can sign: nil, or
// an error wrapping ErrUnavailable that says why.
func Load() error {
	_, err := load()
	return err
}

// Version is the OpenSSL version loaded ("3.0.19"), "" when Load fails.
func Version() string {
	v, _ := load()
	return v
}

// live counts the keys held in C memory, for tests that check rotated keys
// are freed.
var live atomic.Int64

// LiveKeys is the number of keys made by NewRSAKey whose C memory is not
// freed yet.
func LiveKeys() int64 { return live.Load() }

// versionString formats OpenSSL_version_num's 0xMNN00PP0 as "M.NN.PP".
func versionString(v uint64) string {
	return fmt.Sprintf("%d.%d.%d", v>>28, (v>>20)&0xff, (v>>4)&0xff)
}
