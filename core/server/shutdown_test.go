package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/server"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
)

// serving starts a Gatehouse on the memory store and returns its address,
// a stop function, and the channel Serve's result arrives on.
func serving(t *testing.T) (addr string, stop context.CancelFunc, done <-chan error) {
	_, addr, stop, done = servingServer(t)
	return addr, stop, done
}

// servingServer is serving that also returns the server.
func servingServer(t *testing.T) (srv *server.Server, addr string, stop context.CancelFunc, done <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(gatehouse.DefaultConfig, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server.Addr = ln.Addr().String()
	cfg.Server.PublicURL = "http://" + cfg.Server.Addr
	cfg.Storage.Backend = "memory"
	ctx, cancel := context.WithCancel(context.Background())
	srv, err = server.New(ctx, cfg, store.New(memory.New()))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ch := make(chan error, 1)
	go func() { ch <- srv.Serve(ctx, ln) }()
	t.Cleanup(cancel)
	return srv, cfg.Server.Addr, cancel, ch
}

// TestShutdownWithSilentConnections: connections that carry no request —
// opened and never written to, or kept alive after a response — do not
// hold up a graceful shutdown, and a connection whose request is being
// answered still gets its whole response.
func TestShutdownWithSilentConnections(t *testing.T) {
	t.Parallel()
	addr, stop, done := serving(t)

	// A client that connects and says nothing, as Go's transport does with
	// a spare connection or a browser with a preconnect.
	silent := make([]net.Conn, 3)
	for i := range silent {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent[i] = c
	}
	// A keep-alive connection that has served one request.
	kept, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	if _, err := io.WriteString(kept, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(kept), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	stop()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	for i, c := range append(silent, kept) {
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
			t.Errorf("connection %d still open after shutdown: %v", i, err)
		}
	}
}

// TestShutdownClosesStalledRequests: a client that starts a request and
// never finishes it cannot keep the server from stopping: after the grace
// period Serve closes it and says so.
func TestShutdownClosesStalledRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the 10 s shutdown grace period")
	}
	t.Parallel()
	srv, addr, stop, done := servingServer(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "POST /v1/token HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	// Until the server has read the partial request, the connection counts
	// as one that never started a request, which shutdown closes at once.
	// How soon that read happens depends on the scheduler alone.
	for i := 0; server.StartedConns(srv) == 0; i++ {
		if i == 500 {
			t.Fatal("the server did not read the partial request within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	stop()
	err = <-done
	if err == nil || !strings.Contains(err.Error(), "closed 1 connections") {
		t.Fatalf("Serve: %v, want the stalled connection reported as closed", err)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Errorf("stalled connection still open: %v", err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// TestShutdownAnswersWhatItExecutes: a SIGTERM under keep-alive load never
// leaves a request executed (access-logged) but unanswered: a client that
// got no answer must be able to retry, and for a refresh-token rotation an
// executed retry is a reuse that revokes the grant. Clients send requests
// back to back on their connections while the server stops; every request
// id the access log shows must have had its response read.
// (Not parallel: it captures the default logger.)
func TestShutdownAnswersWhatItExecutes(t *testing.T) {
	for round := range 3 {
		logs := &servertest.LogBuffer{}
		prev := slog.Default()
		slog.SetDefault(slog.New(slog.NewTextHandler(logs, nil)))
		addr, stop, done := serving(t)

		const clients, perClient = 16, 5000
		var answered sync.Map // request id → true
		var total atomic.Int64
		var wg sync.WaitGroup
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer c.Close()
				br := bufio.NewReader(c)
				for j := range perClient {
					id := fmt.Sprintf("r%d-c%d-%d", round, i, j)
					if _, err := fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: %s\r\n\r\n", id); err != nil {
						return
					}
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						return
					}
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err != nil {
						return
					}
					answered.Store(id, true)
					total.Add(1)
				}
			}()
		}
		// Stop once the load is running on every connection.
		for i := 0; i < 1000 && total.Load() < 20*clients; i++ {
			time.Sleep(5 * time.Millisecond)
		}
		stop()
		if err := <-done; err != nil {
			t.Errorf("round %d: Serve: %v", round, err)
		}
		wg.Wait()
		slog.SetDefault(prev)

		var executed, lost int
		for line := range strings.Lines(logs.String()) {
			_, rest, ok := strings.Cut(line, "request_id=")
			if !ok || !strings.Contains(line, "msg=request ") {
				continue
			}
			id := strings.Fields(rest)[0]
			executed++
			if _, ok := answered.Load(id); !ok {
				lost++
				t.Errorf("round %d: request %s was executed but never answered", round, id)
			}
		}
		t.Logf("round %d: %d requests executed, %d answered, %d unanswered", round, executed, total.Load(), lost)
		if executed == 0 {
			t.Fatalf("round %d: the access log shows no request", round)
		}
	}
}
