// Package rss measures the process's resident memory for tests that bound
// what a hostile input may cost.
package rss

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// PeakGrowthMiB runs fn and returns the process's peak RSS while it ran, in
// MiB above the RSS before it. It resets the kernel's high-water mark
// (clear_refs 5) where it can, else it samples VmRSS after fn, which can
// only under-report.
func PeakGrowthMiB(tb testing.TB, fn func()) int64 {
	tb.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	before := statusKiB(tb, "VmRSS")
	field := "VmRSS"
	if os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil {
		field = "VmHWM"
	}
	fn()
	return (statusKiB(tb, field) - before) >> 10
}

// statusKiB reads a field of /proc/self/status in KiB (0 where there is none).
func statusKiB(tb testing.TB, field string) int64 {
	tb.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
