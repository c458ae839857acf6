//go:build linux || darwin || freebsd

package badger

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// nextData is the offset of the first byte at or after off that is not in
// a hole of f, and the end of that data; io.EOF when only holes follow.
// Where the filesystem does not track holes, the data runs to the end.
func nextData(f *os.File, off int64) (start, end int64, err error) {
	start, err = unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
	if errors.Is(err, unix.ENXIO) {
		return 0, 0, io.EOF
	}
	if err != nil {
		return 0, 0, err
	}
	end, err = unix.Seek(int(f.Fd()), start, unix.SEEK_HOLE)
	return start, end, err
}
