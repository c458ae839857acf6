package server

import (
	"net"
	"testing"
	"time"
)

// TestClosedConnDeadlines: after closeAll, setting a write deadline (which
// fasthttp does before writing a response, panicking on error) succeeds,
// and the write itself reports the closed connection.
func TestClosedConnDeadlines(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tracker := trackConns(ln)
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := tracker.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if n := tracker.closeAll(); n != 1 {
		t.Fatalf("closeAll closed %d connections, want 1", n)
	}
	if err := conn.SetWriteDeadline(time.Now().Add(time.Second)); err != nil {
		t.Errorf("SetWriteDeadline on a closed connection: %v, want nil", err)
	}
	if _, err := conn.Write([]byte("HTTP/1.1 200 OK\r\n\r\n")); err == nil {
		t.Error("write to a closed connection succeeded")
	}
	if n := tracker.closeAll(); n != 0 {
		t.Errorf("closeAll after close found %d connections", n)
	}
}
