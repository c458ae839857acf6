// Package libcryptotest decides what a test that needs libcrypto.so.3 does
// where it cannot be loaded.
package libcryptotest

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/internal/libcrypto"
)

// Require skips tb when libcrypto cannot be loaded, saying why, and fails
// it instead when CI is set: a CI machine without libssl3, or building
// without cgo (no C compiler), would otherwise pass without testing the
// OpenSSL path at all.
func Require(tb testing.TB) {
	tb.Helper()
	err := libcrypto.Load()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("CI is set and %v: install libssl3 (make deps-test) and build with cgo", err)
	}
	tb.Skipf("skipped: %v (install libssl3 and build with cgo to run it)", err)
}

// SettledLiveKeys collects garbage until libcrypto.LiveKeys has not
// changed for three rounds (cleanups run on their own goroutine after a
// collection), at most 100 rounds, and returns it.
func SettledLiveKeys() int64 {
	n, same := libcrypto.LiveKeys(), 0
	for i := 0; i < 100 && same < 3; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		m := libcrypto.LiveKeys()
		if m == n {
			same++
		} else {
			n, same = m, 0
		}
	}
	return n
}
