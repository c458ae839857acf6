//go:build !linux

package pgtest

import "syscall"

func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred}
}

// children is not known here: Pause stops the postmaster only.
func children(int) []int { return nil }
