package servertest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// listens reports whether process pid holds a socket listening on addr's
// port. Where there is no /proc/net (not Linux), it reports true: the
// probe then trusts whoever answers.
func listens(pid int, addr string) bool {
	_, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return false
	}
	inodes, err := listeningInodes(uint16(port))
	if err != nil {
		return true
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false // it has exited
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if err != nil {
			continue
		}
		if inode, ok := strings.CutPrefix(link, "socket:["); ok && inodes[strings.TrimSuffix(inode, "]")] {
			return true
		}
	}
	return false
}

// listeningInodes is the set of socket inodes listening on port, from
// /proc/net/tcp and tcp6 (columns: sl, local address, remote address,
// state, queues, timers, retransmits, uid, timeout, inode).
func listeningInodes(port uint16) (map[string]bool, error) {
	const listen = "0A"
	want := fmt.Sprintf(":%04X", port)
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			if os.IsNotExist(err) && table == "/proc/net/tcp6" {
				continue
			}
			return nil, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			cols := strings.Fields(sc.Text())
			if len(cols) > 9 && cols[3] == listen && strings.HasSuffix(cols[1], want) {
				inodes[cols[9]] = true
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return inodes, nil
}
