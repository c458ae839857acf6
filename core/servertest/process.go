package servertest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The gatehouse binary, built once per test binary by Binary.
var (
	binaryOnce sync.Once
	binaryDir  string
	binaryPath string
	binaryErr  error
)

// Binary builds cmd/gatehouse once for the test binary and returns its
// path. A TestMain that uses it calls RemoveBinary after the tests.
func Binary(tb testing.TB) string {
	tb.Helper()
	binaryOnce.Do(func() {
		if binaryDir, binaryErr = os.MkdirTemp("", "gatehouse-bin"); binaryErr != nil {
			return
		}
		binaryPath = filepath.Join(binaryDir, "gatehouse")
		out, err := exec.Command("go", "build", "-o", binaryPath, "github.com/gatehouse-auth/gatehouse/cmd/gatehouse").CombinedOutput()
		if err != nil {
			binaryErr = fmt.Errorf("building gatehouse: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		tb.Fatal(binaryErr)
	}
	return binaryPath
}

// RemoveBinary removes the binary Binary built, if it built one.
func RemoveBinary() {
	if binaryDir != "" {
		_ = os.RemoveAll(binaryDir)
	}
}

// FreeAddr is a loopback host:port that was free a moment ago.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Process is a `gatehouse serve` started by a test. The test ends it
// (SIGKILL, by its PID) when it ends, unless it has exited.
type Process struct {
	cmd    *exec.Cmd
	Addr   string     // host:port it listens on
	Origin string     // http://Addr: health, metrics, admin
	Base   string     // Origin and the embedded configuration's base path: every OAuth route
	Log    *LogBuffer // its standard error
	exited chan struct{}
	err    error // what Wait returned, once exited is closed
}

// ProcessOptions choose how StartProcessWith runs the binary.
type ProcessOptions struct {
	Addr string   // where to listen; "" picks a free loopback port
	Dir  string   // working directory, the store in Dir/data; "" is a new temporary one
	Args []string // more arguments to serve (--config FILE)
	Env  []string // variables over the test defaults (rate limits off, log level warn)
	// Live waits only until /healthz answers (the server may not be ready:
	// its database does not answer), rather than /readyz.
	Live bool
}

// StartProcess runs `gatehouse serve` on addr in dir with the variables
// env, and waits (bounded) until it is ready; see ProcessOptions for "".
func StartProcess(tb testing.TB, addr, dir string, env ...string) *Process {
	tb.Helper()
	return StartProcessWith(tb, ProcessOptions{Addr: addr, Dir: dir, Env: env})
}

// StartProcessWith is StartProcess with arguments or another probe.
//
// A port FreeAddr found free can be taken by another test's server before
// the child binds it. The child then exits, and until it does that other
// server answers the probe: so the probe counts only once the child itself
// holds the listening socket, and a child that lost the race for a port
// StartProcessWith picked is started again on another.
func StartProcessWith(tb testing.TB, o ProcessOptions) *Process {
	tb.Helper()
	pick := o.Addr == ""
	if o.Dir == "" {
		o.Dir = tb.TempDir()
	}
	for attempt := 1; ; attempt++ {
		if pick {
			o.Addr = FreeAddr(tb)
		}
		p, err := startProcess(tb, o)
		if err == nil {
			return p
		}
		if !pick || !errors.Is(err, errPortTaken) || attempt == 5 {
			tb.Fatal(err)
		}
		tb.Logf("%v; trying another port", err)
	}
}

// errPortTaken: the child could not bind its port.
var errPortTaken = errors.New("port taken")

func startProcess(tb testing.TB, o ProcessOptions) (*Process, error) {
	tb.Helper()
	cmd := exec.Command(Binary(tb), append([]string{"serve"}, o.Args...)...)
	cmd.Dir = o.Dir
	cmd.Env = append(os.Environ(),
		"GATEHOUSE_SERVER__ADDR="+o.Addr,
		"GATEHOUSE_SERVER__PUBLIC_URL=http://"+o.Addr,
		"GATEHOUSE_STORAGE__DIR="+filepath.Join(o.Dir, "data"),
		"GATEHOUSE_RATE_LIMIT__ENABLED=false",
		"GATEHOUSE_LOG__LEVEL=warn",
	)
	cmd.Env = append(cmd.Env, o.Env...)
	p := &Process{cmd: cmd, Addr: o.Addr, Origin: "http://" + o.Addr, Log: &LogBuffer{}, exited: make(chan struct{})}
	p.Base = p.Origin + Config(tb, o.Addr).Server.BasePath
	cmd.Stderr = p.Log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(func() {
		_ = p.Kill()
		<-p.exited
	})
	probe := "/readyz"
	if o.Live {
		probe = "/healthz"
	}
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(p.Origin + probe); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && listens(p.PID(), o.Addr) {
				return p, nil
			}
		}
		select {
		case <-p.exited:
			if strings.Contains(p.Logs(), "address already in use") {
				return nil, fmt.Errorf("gatehouse serve on %s: %w", o.Addr, errPortTaken)
			}
			return nil, fmt.Errorf("gatehouse serve on %s exited: %v; logs:\n%s", o.Addr, p.err, p.Logs())
		default:
		}
	}
	return nil, fmt.Errorf("gatehouse serve on %s did not become %s; logs:\n%s", o.Addr, probe, p.Logs())
}

// PID is the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill ends the process with SIGKILL.
func (p *Process) Kill() error { return p.cmd.Process.Kill() }

// Stop ends the process with SIGTERM and waits for it to exit, failing the
// test unless it exits with status 0.
func (p *Process) Stop(tb testing.TB) {
	tb.Helper()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		tb.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		tb.Fatalf("gatehouse serve on %s stopped: %v; logs:\n%s", p.Addr, err, p.Logs())
	}
}

// Wait waits until the process has exited and returns its exit error.
func (p *Process) Wait() error {
	<-p.exited
	return p.err
}

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Logs is what the process wrote to its standard error so far.
func (p *Process) Logs() string { return p.Log.String() }
