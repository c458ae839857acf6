package storetest

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The damages a reliability test does to a stopped store's data directory,
// shared by the store's own tests and the server binary's.

// NewestFile is the path of the highest-numbered file with ext in dir.
func NewestFile(tb testing.TB, dir, ext string) string {
	tb.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "*"+ext))
	if len(names) == 0 {
		tb.Fatalf("no %s file in %s", ext, dir)
	}
	slices.Sort(names)
	return names[len(names)-1]
}

// usedLen is how much of a file holds data: a memtable log is mapped larger
// than what it holds and filled from the start.
func usedLen(tb testing.TB, raw []byte) int {
	tb.Helper()
	return len(bytes.TrimRight(raw, "\x00"))
}

// TruncateHalf cuts the file at path to half of what it holds.
func TruncateHalf(tb testing.TB, path string) {
	tb.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.Truncate(path, int64(usedLen(tb, raw)/2)); err != nil {
		tb.Fatal(err)
	}
}

// FlipMiddle inverts the byte in the middle of what the file at path holds.
func FlipMiddle(tb testing.TB, path string) {
	tb.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	raw[usedLen(tb, raw)/2] ^= 0xff
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		tb.Fatal(err)
	}
}
