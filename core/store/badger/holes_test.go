package badger

import (
	"os"
	"path/filepath"
	"testing"
)

// sparseLog writes a value-log file of size bytes: a header, then a hole,
// with each of the bytes of at written at its offset.
func sparseLog(tb testing.TB, size int64, at map[int64]byte) string {
	tb.Helper()
	name := filepath.Join(tb.TempDir(), "000001.vlog")
	f, err := os.Create(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, vlogHeaderSize)); err != nil {
		tb.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		tb.Fatal(err)
	}
	for off, b := range at {
		if _, err := f.WriteAt([]byte{b}, off); err != nil {
			tb.Fatal(err)
		}
	}
	return name
}

// TestValueLogHoles: a value-log file mapped by a server that did not stop
// cleanly is mostly a hole; it is empty unless a byte other than zero is
// written anywhere past its header, before, between or after its holes.
func TestValueLogHoles(t *testing.T) {
	const size = 8 << 20
	for _, tc := range []struct {
		name  string
		at    map[int64]byte
		empty bool
	}{
		{"header and a hole", nil, true},
		{"zeros written between holes", map[int64]byte{3 << 20: 0, 5<<20 + 7: 0}, true},
		{"a byte after the header", map[int64]byte{vlogHeaderSize: 1}, false},
		{"a byte between holes", map[int64]byte{5<<20 + 7: 0x80}, false},
		{"a byte among zeros", map[int64]byte{3 << 20: 0, 3<<20 + 1: 1}, false},
		{"the last byte", map[int64]byte{size - 1: 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := valueLogEmpty(sparseLog(t, size, tc.at)); got != tc.empty {
				t.Fatalf("valueLogEmpty = %v, want %v", got, tc.empty)
			}
		})
	}
}

// BenchmarkValueLogEmpty: the file a killed server leaves, 128 MiB mapped
// and its header written.
func BenchmarkValueLogEmpty(b *testing.B) {
	name := sparseLog(b, 128<<20, nil)
	for b.Loop() {
		if !valueLogEmpty(name) {
			b.Fatal("not empty")
		}
	}
}
