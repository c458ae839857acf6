package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/servertest"
)

// TestShutdownEndsWithinGrace: a server whose data directory was removed
// while it ran cannot close its store (Badger retries the memtable flush
// forever). SIGTERM must still end the process within server.shutdown_grace,
// non-zero and saying why, rather than hang.
func TestShutdownEndsWithinGrace(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	const grace = 3 * time.Second
	dir, addr := t.TempDir(), servertest.FreeAddr(t)
	p := servertest.StartProcess(t, addr, dir, "GATEHOUSE_SERVER__SHUTDOWN_GRACE="+grace.String())
	// Writes in the memtable, so that closing has something to flush.
	for i := range 20 {
		body := fmt.Sprintf(`{"client_name":"c%d","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`, i)
		resp, err := http.Post(p.Base+"/v1/register", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("register: %d", resp.StatusCode)
		}
	}
	if err := os.RemoveAll(filepath.Join(dir, "data")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- p.Wait() }()
	select {
	case err := <-exited:
		took := time.Since(start)
		t.Logf("exited after %s: %v", took.Round(time.Millisecond), err)
		if took > grace+2*time.Second {
			t.Errorf("shutdown took %s, server.shutdown_grace is %s", took, grace)
		}
		if err == nil {
			t.Errorf("exit status 0 with a store that could not flush; logs:\n%s", p.Logs())
		} else if !strings.Contains(p.Logs(), "did not close within server.shutdown_grace") {
			t.Errorf("non-zero exit without saying why:\n%s", p.Logs())
		}
	case <-time.After(grace + 30*time.Second):
		_ = p.Kill()
		<-exited
		t.Fatalf("still running %s after SIGTERM; logs:\n%s", grace+30*time.Second, p.Logs())
	}
}
