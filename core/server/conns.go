package server

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// connTracker wraps the listener so that shutdown can see every connection
// and whether its client has sent anything yet.
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
	tc := &trackedConn{Conn: c, tracker: t}
	t.mu.Lock()
	t.conns[tc] = struct{}{}
	t.mu.Unlock()
	return tc, nil
}

// closeUnstarted closes the connections on which no byte has been read.
func (t *connTracker) closeUnstarted() {
	t.close(func(c *trackedConn) bool { return !c.started.Load() })
}

// closeAll closes every connection still open and reports how many there
// were: the last resort when in-flight requests outlive the shutdown
// deadline (a stuck handler or a client trickling its request).
func (t *connTracker) closeAll() int {
	return t.close(func(*trackedConn) bool { return true })
}

func (t *connTracker) close(match func(*trackedConn) bool) int {
	t.mu.Lock()
	var victims []*trackedConn
	for c := range t.conns {
		if match(c) {
			victims = append(victims, c)
		}
	}
	t.mu.Unlock()
	for _, c := range victims {
		_ = c.forceClose()
	}
	return len(victims)
}

// trackedConn notes its first read and leaves the tracker when closed.
type trackedConn struct {
	net.Conn
	tracker *connTracker
	started atomic.Bool
	closed  sync.Once
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.started.Load() {
		c.started.Store(true)
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
func (c *trackedConn) Close() error {
	return c.close(true)
}

// forceClose closes at once: shutdown's last resort, no lingering.
func (c *trackedConn) forceClose() error {
	return c.close(true)
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
