package server

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// connTracker wraps the listener so that shutdown can see every connection
// and whether its client has sent anything yet.
//
// It also decides how each connection closes. fasthttp's graceful shutdown
// closes the connections it counts as idle, between two requests, from
// another goroutine than the one serving it; but that goroutine marks the
// connection active only after the next request's first bytes have
// arrived. A request arriving in that gap used to be read, executed and
// logged on a connection already closed under it, and its answer was lost:
// for a refresh-token rotation, the client's retry then looked like reuse
// and revoked the whole grant. So a connection whose next request has
// started is not closed by that sweep (the server answers it, then closes
// it as it stops), and a connection closed as idle refuses any bytes that
// arrive after that, so no request is executed that cannot be answered.
//
// fasthttp's graceful shutdown closes keep-alive connections that sit idle
// between requests, but it marks a freshly accepted connection active
// before its first byte arrives and then blocks reading the request line
// for up to ReadTimeout. A client that opens a connection and sends nothing
// (Go's transport dialling a spare connection under concurrent load, a
// browser's preconnect, a port scanner) therefore held shutdown for the
// whole ReadTimeout. Such a connection carries no request, so closing it is
// as safe as closing an idle keep-alive one; nginx does the same on a
// graceful stop.
type connTracker struct {
	net.Listener
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

func trackConns(ln net.Listener) *connTracker {
	return &connTracker{Listener: ln, conns: map[*trackedConn]struct{}{}}
}

// Accept wraps each accepted connection.
func (t *connTracker) Accept() (net.Conn, error) {
	c, err := t.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, tracker: t, idle: true}
	t.mu.Lock()
	t.conns[tc] = struct{}{}
	t.mu.Unlock()
	if tlsc, ok := c.(*tls.Conn); ok {
		return &trackedTLSConn{trackedConn: tc, tls: tlsc}, nil
	}
	return tc, nil
}

// trackedTLSConn is a tracked connection of server.tls: fasthttp finds
// the TLS state (the client certificate of RFC 8705) through its
// Handshake and ConnectionState methods, which a plain trackedConn must
// not have (fasthttp would take it for TLS).
type trackedTLSConn struct {
	*trackedConn
	tls *tls.Conn
}

func (c *trackedTLSConn) Handshake() error                     { return c.tls.Handshake() }
func (c *trackedTLSConn) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }

// tracked is the trackedConn of a connection Accept returned.
func tracked(c net.Conn) (*trackedConn, bool) {
	switch tc := c.(type) {
	case *trackedConn:
		return tc, true
	case *trackedTLSConn:
		return tc.trackedConn, true
	}
	return nil, false
}

// connState is fasthttp's ConnState hook: it follows each connection
// between requests (new or idle) and inside one (active).
func (t *connTracker) connState(c net.Conn, state fasthttp.ConnState) {
	tc, ok := tracked(c)
	if !ok {
		return
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	switch state {
	case fasthttp.StateNew, fasthttp.StateIdle:
		tc.idle, tc.readSinceIdle = true, false
	case fasthttp.StateActive:
		tc.idle = false
	}
}

// closeUnstarted closes the connections on which no byte has been read,
// as idle ones (a first request arriving meanwhile is served).
func (t *connTracker) closeUnstarted() {
	for _, c := range t.matching(func(c *trackedConn) bool { return !c.started.Load() }) {
		_ = c.Close()
	}
}

// closeAll closes every connection still open and reports how many there
// were: the last resort when in-flight requests outlive the shutdown
// deadline (a stuck handler or a client trickling its request).
func (t *connTracker) closeAll() int {
	victims := t.matching(func(*trackedConn) bool { return true })
	for _, c := range victims {
		_ = c.close(false)
	}
	return len(victims)
}

func (t *connTracker) matching(match func(*trackedConn) bool) []*trackedConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	var found []*trackedConn
	for c := range t.conns {
		if match(c) {
			found = append(found, c)
		}
	}
	return found
}

// trackedConn notes its reads and leaves the tracker when closed.
type trackedConn struct {
	net.Conn
	tracker *connTracker
	started atomic.Bool // a byte has been read, ever
	closed  sync.Once

	mu sync.Mutex
	// idle: the server awaits the next request (fasthttp's StateNew or
	// StateIdle); readSinceIdle: its first bytes have been read since.
	idle, readSinceIdle bool
	// shut: closed as idle; bytes read later are refused.
	shut bool
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		shut := c.shut
		c.readSinceIdle = true
		c.mu.Unlock()
		if shut {
			return 0, net.ErrClosed
		}
		if !c.started.Load() {
			c.started.Store(true)
		}
	}
	return n, err
}

// Close closes the connection the way nginx's lingering close does: it
// sends FIN after the response, then reads and discards what the client
// is still sending (briefly, boundedly) before closing. fasthttp closes a
// connection right after answering a request it refused unread, such as
// 413 for a body over the limit; closing a socket with unread data makes
// the kernel send RST, and a client still writing its body would see
// "connection reset" instead of the 413.
//
// A connection between requests has nothing to linger for; it closes at
// once, so the goroutine waiting on it for the next request stops, unless
// that request has begun to arrive (see connTracker).
func (c *trackedConn) Close() error {
	c.mu.Lock()
	if c.idle && c.readSinceIdle {
		c.mu.Unlock()
		return nil // the server answers it and closes the connection then
	}
	idle := c.idle
	c.shut = c.shut || idle
	c.mu.Unlock()
	return c.close(!idle)
}

// Bounds of a lingering close: what a client may still send, and how long.
const (
	lingerBytes   = 1 << 20
	lingerTimeout = 2 * time.Second
)

func (c *trackedConn) close(linger bool) error {
	err := net.ErrClosed
	c.closed.Do(func() {
		c.tracker.mu.Lock()
		delete(c.tracker.conns, c)
		c.tracker.mu.Unlock()
		tcp, ok := c.Conn.(*net.TCPConn)
		if !ok || !linger || tcp.CloseWrite() != nil || tcp.SetReadDeadline(time.Now().Add(lingerTimeout)) != nil {
			err = c.Conn.Close()
			return
		}
		// Drain aside: neither fasthttp's worker nor shutdown waits.
		err = nil
		go func() {
			_, _ = io.CopyN(io.Discard, tcp, lingerBytes)
			_ = tcp.Close()
		}()
	})
	return err
}

// SetWriteDeadline ignores a connection closed under it: fasthttp panics
// ("BUG: error in SetWriteDeadline") when setting the deadline fails, and
// closeAll closes connections whose handlers are still running. The write
// that follows then fails like any write to a dead peer.
func (c *trackedConn) SetWriteDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}
