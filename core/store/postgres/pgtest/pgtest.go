// Package pgtest runs a throw-away PostgreSQL server for tests: initdb into
// a temporary directory, postgres listening on a unix socket there only,
// one database per test, and everything stopped and removed afterwards.
//
// A test package shares one server, started by the first test that asks
// for a database and stopped by TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// and each test takes a database of its own with NewDatabase. Without the
// PostgreSQL binaries the tests fail, or skip under -short.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a running throw-away PostgreSQL.
type Server struct {
	dir  string // the cluster's data, its socket and its log
	cmd  *exec.Cmd
	exit chan struct{} // closed when the process has exited
	seq  atomic.Int64
}

// shared is the package's server, started by the first NewDatabase (so a
// package whose tests at hand need none starts none); startErr says why
// there is none.
var (
	once     sync.Once
	shared   *Server
	startErr error
)

// Main runs the package's tests and stops the shared server if one was
// started.
func Main(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// Cleanup stops the shared server if one was started, for a TestMain
// that does more than Main.
func Cleanup() {
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
}

// NewDatabase creates an empty database on the shared server for t,
// dropped when t ends, and returns its DSN. The package's TestMain must
// call Main, which stops the server.
func NewDatabase(t testing.TB) string {
	t.Helper()
	once.Do(func() { shared, startErr = Start() })
	if startErr != nil {
		if testing.Short() {
			t.Skipf("PostgreSQL: %v", startErr)
		}
		t.Fatalf("PostgreSQL: %v (make deps-test installs it; -short skips)", startErr)
	}
	dsn, err := shared.NewDatabase(t)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// binDir finds initdb and postgres: on the PATH, else in Debian's
// /usr/lib/postgresql/VERSION/bin (the newest), where the postgresql
// package puts them.
func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if p, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("initdb and postgres not found on the PATH or in /usr/lib/postgresql/*/bin (apt-get install postgresql)")
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Own starts a server for t alone (one it may pause or stop), stopped
// when t ends, and returns it with the DSN of a new database on it.
func Own(t testing.TB) (*Server, string) {
	t.Helper()
	db, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Stop() })
	dsn, err := db.NewDatabase(t)
	if err != nil {
		t.Fatal(err)
	}
	return db, dsn
}

// Start initialises a cluster in a new temporary directory and starts
// postgres on a unix socket in it. initdb refuses to run as root, so as
// root both run as the user nobody.
func Start() (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, exit: make(chan struct{})}
	cred, err := unprivileged()
	if err == nil && cred != nil {
		err = os.Chown(dir, int(cred.Uid), int(cred.Gid))
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	var out bytes.Buffer
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "gatehouse",
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.Stdout, initdb.Stderr = &out, &out
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if err := initdb.Run(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out.Bytes())
	}
	logFile, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	defer logFile.Close()
	// Unix socket only (no TCP port to collide with); fsync off because
	// the data is thrown away, except under benchmarks, which measure
	// durable commits; enough connections for parallel tests that each
	// open a pool.
	fsync := "off"
	if benchmarking() {
		fsync = "on"
	}
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", dir,
		"-c", "listen_addresses=", "-c", "fsync="+fsync, "-c", "full_page_writes="+fsync,
		"-c", "max_connections=300", "-c", "shared_buffers=32MB")
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	s.cmd.SysProcAttr = sysProcAttr(cred)
	if err := s.cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("postgres: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.exit) }()
	if err := s.waitReady(30 * time.Second); err != nil {
		log, _ := os.ReadFile(logFile.Name())
		_ = s.Stop()
		return nil, fmt.Errorf("%w\n%s", err, log)
	}
	return s, nil
}

// benchmarking tells whether the test binary runs benchmarks (-test.bench).
func benchmarking() bool {
	f := flag.Lookup("test.bench")
	return f != nil && f.Value.String() != ""
}

// unprivileged returns the credential of the user nobody when running as
// root, and nil otherwise.
func unprivileged() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("running as root, initdb needs an unprivileged user: %w", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// DSN is the connection string of database name.
func (s *Server) DSN(name string) string {
	return fmt.Sprintf("host=%s port=5432 user=gatehouse dbname=%s sslmode=disable", s.dir, name)
}

// waitReady polls until the server accepts connections, it exits, or
// limit passes.
func (s *Server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, s.DSN("postgres"))
		cancel()
		if err == nil {
			return conn.Close(context.Background())
		}
		select {
		case <-s.exit:
			return fmt.Errorf("postgres exited before accepting connections: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready after %s: %w", limit, err)
		}
	}
}

// NewDatabase creates an empty database, dropped when t ends (after the
// cleanups t registers later, such as closing a pool on it).
func (s *Server) NewDatabase(t testing.TB) (string, error) {
	name := fmt.Sprintf("t%d", s.seq.Add(1))
	if err := s.admin(fmt.Sprintf("CREATE DATABASE %s STRATEGY FILE_COPY", name)); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	t.Cleanup(func() {
		select {
		case <-s.exit: // stopped: the database went with it
			return
		default:
		}
		if err := s.admin(fmt.Sprintf("DROP DATABASE %s WITH (FORCE)", name)); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return s.DSN(name), nil
}

func (s *Server) admin(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// Pause stops every process of the server, postmaster first, with
// SIGSTOP: connections and queries hang without an answer, as with a
// database host that stopped answering. Resume continues them.
func (s *Server) Pause() error { return s.signalAll(syscall.SIGSTOP) }

// Resume continues a paused server.
func (s *Server) Resume() error { return s.signalAll(syscall.SIGCONT) }

// signalAll signals the postmaster and its children (each backend is a
// session of its own, so a process group does not reach them).
func (s *Server) signalAll(sig syscall.Signal) error {
	pid := s.cmd.Process.Pid
	if err := syscall.Kill(pid, sig); err != nil {
		return err
	}
	var errs []error
	for _, child := range children(pid) {
		if err := syscall.Kill(child, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Stop shuts the server down (fast shutdown, then SIGKILL if it has not
// exited within 10 seconds) and removes its directory.
func (s *Server) Stop() error {
	var err error
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.Resume()
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.exit:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exit
			err = errors.New("postgres did not stop within 10s: killed")
		}
	}
	return errors.Join(err, os.RemoveAll(s.dir))
}
