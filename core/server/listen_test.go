package server

import (
	"context"
	"errors"
	"net"
	"testing"
)

// TestListenHostName listens on a host name at the addresses it resolves
// to and accepts there.
func TestListenHostName(t *testing.T) {
	t.Parallel()
	ln, err := Listen(context.Background(), "localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ips, err := net.LookupIP("localhost")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, ip := range ips {
		addr := net.JoinHostPort(ip.String(), port)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("localhost resolves to %s, but %s refuses: %v", ip, addr, err)
		}
		a, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
		c.Close()
	}
}

// TestMultiListener accepts from every listener and, once closed, answers
// net.ErrClosed and frees the ports.
func TestMultiListener(t *testing.T) {
	t.Parallel()
	var lns []net.Listener
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Logf("%s: %v (skipped)", addr, err)
			continue
		}
		lns = append(lns, ln)
	}
	m := newMultiListener(lns)
	for _, ln := range lns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		a, err := m.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if a.LocalAddr().String() != ln.Addr().String() {
			t.Errorf("accepted on %s, dialled %s", a.LocalAddr(), ln.Addr())
		}
		a.Close()
		c.Close()
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
	for _, ln := range lns {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			c.Close()
			t.Errorf("%s still accepts after Close", ln.Addr())
		}
	}
}
