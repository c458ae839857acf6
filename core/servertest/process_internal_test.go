package servertest

import (
	"errors"
	"net"
	"net/http"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	RemoveBinary()
	os.Exit(code)
}

// TestStartProcessPortTaken: when another server holds the port and
// answers the probe, the start is not taken for the child's: it reports
// the port taken (StartProcessWith then tries another port).
func TestStartProcessPortTaken(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	foreign := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})}
	go func() { _ = foreign.Serve(ln) }()
	t.Cleanup(func() { _ = foreign.Close() })

	p, err := startProcess(t, ProcessOptions{Addr: ln.Addr().String(), Dir: t.TempDir()})
	if !errors.Is(err, errPortTaken) {
		t.Fatalf("start on a port another server answers on: %v, %v, want %v", p, err, errPortTaken)
	}
}

// TestStartProcessListens: a started process holds its port, and /proc
// says whose socket it is.
func TestStartProcessListens(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	p := StartProcessWith(t, ProcessOptions{})
	if !listens(p.PID(), p.Addr) {
		t.Fatalf("process %d does not hold %s", p.PID(), p.Addr)
	}
	if listens(os.Getpid(), p.Addr) {
		t.Fatalf("the test process is said to hold %s", p.Addr)
	}
}
