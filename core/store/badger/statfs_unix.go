//go:build unix

package badger

import "golang.org/x/sys/unix"

// freeSpace is the space an unprivileged writer may still use on the
// filesystem holding dir.
func freeSpace(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil //nolint:unconvert // field types differ by OS
}
