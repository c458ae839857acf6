package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/servertest"
)

// TestBinaryRunsAlone is the README's promise on a fresh machine: `go build`
// with nothing but Go on PATH (no rustc, no clang) makes a binary that,
// started from an empty directory, serves discovery with the three
// first-party plugins it embeds loaded.
func TestBinaryRunsAlone(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts a server process")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command builds the binary: %v", err)
	}
	goroot, err := exec.Command(goTool, "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	// PATH holds the go command and the C compiler cgo uses, if there is
	// one, with the linker it runs (without them the build would differ
	// from every other one and rebuild the standard library; the cgo of
	// core/internal/libcrypto links externally), and nothing else: no
	// rustc, no clang.
	pathDir := t.TempDir()
	tools := map[string]string{"go": filepath.Join(strings.TrimSpace(string(goroot)), "bin", "go")}
	if cc, err := exec.Command(goTool, "env", "CC").Output(); err == nil {
		name := strings.TrimSpace(string(cc))
		if path, err := exec.LookPath(name); err == nil && !strings.Contains(name, "clang") {
			tools[name] = path
			if ld, err := exec.LookPath("ld"); err == nil {
				tools["ld"] = ld
			}
		}
	}
	for name, target := range tools {
		if err := os.Symlink(target, filepath.Join(pathDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	env := withEnv(os.Environ(), "PATH="+pathDir, "GOTOOLCHAIN=local")
	bin := filepath.Join(t.TempDir(), "gatehouse")
	build := exec.Command(filepath.Join(pathDir, "go"), "build", "-o", bin, "./cmd/gatehouse")
	build.Dir, build.Env = filepath.Join("..", ".."), env
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/gatehouse with only go on PATH: %v\n%s", err, out)
	}

	addr := servertest.FreeAddr(t)
	cmd := exec.Command(bin, "serve")
	cmd.Dir = t.TempDir()
	// The embedded configuration, but for the address (the default port may
	// be taken by another test or server).
	cmd.Env = withEnv(env, "GATEHOUSE_SERVER__ADDR="+addr, "GATEHOUSE_SERVER__PUBLIC_URL=http://"+addr)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var logs strings.Builder
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			mu.Lock()
			logs.WriteString(sc.Text() + "\n")
			mu.Unlock()
		}
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-scanned
		_ = cmd.Wait()
	}
	defer stop()

	base := servertest.Config(t, addr).Server.BasePath
	var issuer string
	for deadline := time.Now().Add(15 * time.Second); issuer == "" && time.Now().Before(deadline); {
		resp, err := http.Get("http://" + addr + base + "/.well-known/openid-configuration")
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		var doc struct{ Issuer string }
		if resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&doc) == nil {
			issuer = doc.Issuer
		}
		resp.Body.Close()
	}
	took := time.Since(start)
	stop()
	if issuer != "http://"+addr+base {
		t.Fatalf("discovery answered issuer %q, want http://%s%s; logs:\n%s", issuer, addr, base, logs.String())
	}
	t.Logf("discovery answered %s after the start", took.Round(time.Millisecond))
	var loaded []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `msg="plugin loaded"`) {
			loaded = append(loaded, line)
		}
	}
	for _, name := range []string{"signin-default", "directory-static", "notify-default"} {
		n := 0
		for _, line := range loaded {
			if strings.Contains(line, "plugin="+name+" ") && strings.Contains(line, "embedded=true") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: %d embedded \"plugin loaded\" lines, want 1", name, n)
		}
	}
	if len(loaded) != 3 || t.Failed() {
		t.Errorf("%d \"plugin loaded\" lines, want 3; logs:\n%s", len(loaded), logs.String())
	}
}

// withEnv is env with each KEY=value of set replacing any earlier KEY.
func withEnv(env []string, set ...string) []string {
	key := func(kv string) string { k, _, _ := strings.Cut(kv, "="); return k }
	out := slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		return slices.ContainsFunc(set, func(s string) bool { return key(s) == key(kv) })
	})
	return append(out, set...)
}
