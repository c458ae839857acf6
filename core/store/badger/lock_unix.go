//go:build unix

package badger

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// checkUnlocked refuses a data directory that a running process holds:
// Badger locks the directory itself (flock) while the database is open.
func checkUnlocked(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fmt.Errorf("badger: the data directory %s is in use by a running gatehouse: stop it first", dir)
	}
	return unix.Flock(int(f.Fd()), unix.LOCK_UN)
}
