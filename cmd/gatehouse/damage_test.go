package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/store/storetest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// servedDataDir runs the server on a new directory, registers clients and
// stops it: SIGTERM, or SIGKILL once the server has had time to record a
// checkpoint of those writes (it does every second). It returns the
// directory the server started in (its data directory is data/ below).
func servedDataDir(t *testing.T, kill bool) string {
	t.Helper()
	dir := t.TempDir()
	p := servertest.StartProcess(t, "", dir)
	for range 30 {
		testclient.Must(testclient.Register(p.Base, map[string]any{"client_name": "golden", "grant_types": []string{"client_credentials"}}))(t)
	}
	sig := syscall.SIGTERM
	if kill {
		time.Sleep(3500 * time.Millisecond) // past a checkpoint, even on a loaded machine; not an assertion
		sig = syscall.SIGKILL
	}
	if err := p.Signal(sig); err != nil {
		t.Fatal(err)
	}
	_ = p.Wait()
	return dir
}

// TestDamagedDataDirRefused damages the data directory of a stopped server
// as a reliability run did: the server refuses to start (it served the
// rest before, or started a new installation on a truncated MANIFEST, or
// panicked), saying which directory, what is wrong and what to do, and
// `gatehouse store verify` exits non-zero; the undamaged directory passes
// verify and starts.
func TestDamagedDataDirRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	for _, tc := range []struct {
		name   string
		kill   bool
		damage func(t *testing.T, data string)
	}{
		{"MANIFEST truncated", false, func(t *testing.T, data string) { storetest.TruncateHalf(t, filepath.Join(data, "MANIFEST")) }},
		{"MANIFEST flipped", false, func(t *testing.T, data string) { storetest.FlipMiddle(t, filepath.Join(data, "MANIFEST")) }},
		{"sst truncated", false, func(t *testing.T, data string) { storetest.TruncateHalf(t, storetest.NewestFile(t, data, ".sst")) }},
		{"sst flipped", false, func(t *testing.T, data string) { storetest.FlipMiddle(t, storetest.NewestFile(t, data, ".sst")) }},
		{"mem truncated after a kill", true, func(t *testing.T, data string) { storetest.TruncateHalf(t, storetest.NewestFile(t, data, ".mem")) }},
		{"mem flipped after a kill", true, func(t *testing.T, data string) { storetest.FlipMiddle(t, storetest.NewestFile(t, data, ".mem")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := servedDataDir(t, tc.kill)
			data := filepath.Join(dir, "data")
			// A copy, as verify closes what it opened (flushing a killed
			// server's memtable log).
			if out, err := exec.Command("cp", "-a", data, data+".copy").CombinedOutput(); err != nil {
				t.Fatalf("cp: %v\n%s", err, out)
			}
			if out, err := exec.Command(servertest.Binary(t), "store", "verify", "--data", data+".copy").CombinedOutput(); err != nil || !strings.Contains(string(out), "healthy") {
				t.Fatalf("store verify of the undamaged directory: %v\n%s", err, out)
			}
			tc.damage(t, data)
			out, err := exec.Command(servertest.Binary(t), "store", "verify", "--data", data).CombinedOutput()
			if err == nil || !strings.Contains(string(out), data) {
				t.Errorf("store verify of the damaged directory: %v, want an exit naming %s:\n%s", err, data, out)
			}
			serve := exec.Command(servertest.Binary(t), "serve")
			serve.Env = append(os.Environ(), "GATEHOUSE_SERVER__ADDR="+servertest.FreeAddr(t), "GATEHOUSE_STORAGE__DIR="+data, "GATEHOUSE_LOG__LEVEL=warn")
			done := make(chan struct{})
			var serveOut []byte
			go func() { serveOut, err = serve.CombinedOutput(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = serve.Process.Kill()
				<-done
				t.Fatalf("the server started on a damaged directory:\n%s", serveOut)
			}
			msg := string(serveOut)
			if err == nil || !strings.Contains(msg, "data directory "+data) || !strings.Contains(msg, "Restore a copy") || strings.Contains(msg, "goroutine ") {
				t.Fatalf("serve on the damaged directory: %v, want a refusal naming %s and what to do, without a panic:\n%s", err, data, msg)
			}
		})
	}
}
