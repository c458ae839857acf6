package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
)

// Listen listens for TCP connections on addr. An IP address (or an empty
// host) is listened on as net.Listen does. A host name is listened on at
// every address it resolves to, on one port: net.Listen would take only
// the first, so with addr localhost:7007 a client that resolves localhost
// to ::1 first (most systems list ::1 for it) would be refused while one
// that tries 127.0.0.1 gets in. An address that cannot be bound (no IPv6
// on the host) is skipped while another one can.
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	var lc net.ListenConfig
	if host == "" || net.ParseIP(host) != nil {
		return lc.Listen(ctx, "tcp", addr)
	}
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	// IPv4 first: with port 0 it picks the port the others then share.
	slices.SortStableFunc(ips, func(a, b net.IP) int {
		return boolOrder(a.To4() == nil) - boolOrder(b.To4() == nil)
	})
	ips = slices.CompactFunc(ips, net.IP.Equal)
	var (
		lns  []net.Listener
		errs []error
	)
	for _, ip := range ips {
		ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(ip.String(), port))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if port == "0" {
			port = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		}
		lns = append(lns, ln)
	}
	switch len(lns) {
	case 0:
		return nil, fmt.Errorf("listen %s: %w", addr, errors.Join(errs...))
	case 1:
		return lns[0], nil
	}
	return newMultiListener(lns), nil
}

func boolOrder(b bool) int {
	if b {
		return 1
	}
	return 0
}

// multiListener accepts from several listeners as one.
type multiListener struct {
	lns    []net.Listener
	conns  chan net.Conn
	errc   chan error
	closed chan struct{}
	once   sync.Once
}

func newMultiListener(lns []net.Listener) *multiListener {
	m := &multiListener{lns: lns, conns: make(chan net.Conn), errc: make(chan error, len(lns)), closed: make(chan struct{})}
	for _, ln := range lns {
		go m.accept(ln)
	}
	return m
}

func (m *multiListener) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			m.errc <- err
			return
		}
		select {
		case m.conns <- c:
		case <-m.closed:
			_ = c.Close()
			return
		}
	}
}

// Accept returns the next connection from any listener, or the first
// listener's failure (net.ErrClosed once Close has been called).
func (m *multiListener) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case err := <-m.errc:
		_ = m.Close()
		return nil, err
	case <-m.closed:
		return nil, net.ErrClosed
	}
}

// Close closes every listener.
func (m *multiListener) Close() error {
	var errs []error
	m.once.Do(func() {
		close(m.closed)
		for _, ln := range m.lns {
			errs = append(errs, ln.Close())
		}
	})
	return errors.Join(errs...)
}

// Addr is the first listener's address (IPv4 where there is one).
func (m *multiListener) Addr() net.Addr { return m.lns[0].Addr() }
