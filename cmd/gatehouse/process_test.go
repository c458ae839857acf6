package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// binary is the gatehouse binary built once for the process tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building gatehouse:", err)
		os.Exit(1)
	}
	code := m.Run()
	pgtest.Cleanup()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is a gatehouse serve started by a test.
type process struct {
	cmd *exec.Cmd
	// origin is where the server listens (health, metrics, admin); issuer
	// adds the embedded configuration's base path (every OAuth route).
	origin string
	issuer string
	logs   *strings.Builder
	mu     *sync.Mutex
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProcess runs `gatehouse serve` on addr with the data directory dir
// and waits (bounded) until it is ready.
func startProcess(t *testing.T, addr, dir string, env ...string) *process {
	t.Helper()
	return startServe(t, addr, dir, nil, env...)
}

// startServe is startProcess with more arguments to serve (--config FILE).
func startServe(t *testing.T, addr, dir string, args []string, env ...string) *process {
	t.Helper()
	return launch(t, addr, dir, args, "/readyz", env...)
}

// startLive is startProcess that waits only until the server answers
// /healthz (it may not be ready: its database does not answer).
func startLive(t *testing.T, addr, dir string, env ...string) *process {
	t.Helper()
	return launch(t, addr, dir, nil, "/healthz", env...)
}

// launch runs gatehouse serve and waits (bounded) until probe answers 200.
func launch(t *testing.T, addr, dir string, args []string, probe string, env ...string) *process {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GATEHOUSE_SERVER__ADDR="+addr,
		"GATEHOUSE_SERVER__PUBLIC_URL=http://"+addr,
		"GATEHOUSE_STORAGE__DIR="+filepath.Join(dir, "data"),
		"GATEHOUSE_RATE_LIMIT__ENABLED=false",
		"GATEHOUSE_LOG__LEVEL=warn",
	)
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, origin: "http://" + addr, issuer: "http://" + addr + embeddedBasePath(t), logs: &strings.Builder{}, mu: &sync.Mutex{}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(p.origin + probe); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("gatehouse did not become ready; logs:\n%s", p.Logs())
	return nil
}

// embeddedBasePath is server.base_path of the embedded configuration.
func embeddedBasePath(t *testing.T) string {
	t.Helper()
	cfg, err := config.Load(gatehouse.DefaultConfig, "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Server.BasePath
}

func (p *process) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// TestKilledServerKeepsAcknowledgedWrites kills the server with SIGKILL in
// the middle of a load of registrations and token requests, restarts it on
// the same data directory, and checks that every registration and every
// refresh token the server acknowledged is still there.
func TestKilledServerKeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	dir, addr := t.TempDir(), freeAddr(t)
	p := startProcess(t, addr, dir)
	const redirectURI = "http://127.0.0.1:9/cb"
	app := testclient.Must(testclient.Register(p.issuer, map[string]any{
		"redirect_uris": []string{redirectURI}, "grant_types": []string{"authorization_code", "refresh_token"},
		"scope": "openid offline_access",
	}))(t)
	conf := oauth2.Config{ClientID: app.ID, ClientSecret: app.Secret, RedirectURL: redirectURI,
		Endpoint: oauth2.Endpoint{AuthURL: p.issuer + "/v1/authorize", TokenURL: p.issuer + "/v1/token", AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"openid", "offline_access"}}

	var (
		mu       sync.Mutex
		clients  []testclient.Client
		refreshs []string
	)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10_000 && ctx.Err() == nil; i++ {
				if (w+i)%2 == 0 {
					c, err := testclient.Register(p.issuer, map[string]any{"client_name": "durable", "grant_types": []string{"client_credentials"}})
					if err == nil {
						mu.Lock()
						clients = append(clients, c)
						mu.Unlock()
					}
					continue
				}
				verifier := oauth2.GenerateVerifier()
				redirect, err := testclient.Approve(p.issuer, p.issuer, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
				if err != nil {
					continue
				}
				exchangeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
				tok, err := conf.Exchange(exchangeCtx, redirect.Query().Get("code"), oauth2.VerifierOption(verifier))
				cancel()
				if err == nil && tok.RefreshToken != "" {
					mu.Lock()
					refreshs = append(refreshs, tok.RefreshToken)
					mu.Unlock()
				}
			}
		}()
	}
	// Kill once enough has been acknowledged (bounded wait), while the load goes on.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		enough := len(clients) >= 50 && len(refreshs) >= 20
		mu.Unlock()
		if enough {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	stop()
	wg.Wait()
	if len(clients) == 0 || len(refreshs) == 0 {
		t.Fatalf("nothing acknowledged before the kill (%d clients, %d refresh tokens); logs:\n%s", len(clients), len(refreshs), p.Logs())
	}
	t.Logf("acknowledged before SIGKILL: %d registrations, %d refresh tokens", len(clients), len(refreshs))

	p = startProcess(t, addr, dir)
	for _, c := range clients {
		req, _ := http.NewRequest(http.MethodGet, c.RegistrationURI, nil)
		req.Header.Set("Authorization", "Bearer "+c.RegistrationToken)
		status, body, err := testclient.Do(req)
		if err != nil || status != http.StatusOK || body["client_id"] != c.ID {
			t.Errorf("registration %s lost after SIGKILL: %d %v %v", c.ID, status, body, err)
		}
	}
	for _, rt := range refreshs {
		status, body, err := testclient.PostForm(p.issuer+"/v1/token", app.ID, app.Secret,
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
		if err != nil || status != http.StatusOK {
			t.Errorf("refresh token lost after SIGKILL: %d %v %v", status, body, err)
		}
	}
}

// TestServeEmbeddedConfig starts the binary with nothing but the embedded
// configuration (and a port), checks it creates its data directory and
// keeps its signing key across a restart.
func TestServeEmbeddedConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	dir, addr := t.TempDir(), freeAddr(t)
	p := startProcess(t, addr, dir)
	_, jwks, err := testclient.GetJSON(p.issuer + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err != nil {
		t.Fatalf("data directory not created: %v", err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("graceful shutdown: %v\n%s", err, p.Logs())
	}
	p = startProcess(t, addr, dir)
	_, again, err := testclient.GetJSON(p.issuer + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(jwks["keys"]) != fmt.Sprint(again["keys"]) {
		t.Fatalf("signing keys changed across a restart:\n%v\n%v", jwks, again)
	}
}

// TestMemoryLimit: the server applies server.memory_limit_mib as the
// runtime's soft memory limit (as /metrics reports it), and GOMEMLIMIT in
// the environment overrides it.
func TestMemoryLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	for _, tc := range []struct {
		name string
		env  []string
		want float64
	}{
		{"embedded default", nil, 48 << 20},
		{"configured", []string{"GATEHOUSE_SERVER__MEMORY_LIMIT_MIB=200"}, 200 << 20},
		{"GOMEMLIMIT wins", []string{"GATEHOUSE_SERVER__MEMORY_LIMIT_MIB=200", "GOMEMLIMIT=100MiB"}, 100 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startProcess(t, freeAddr(t), t.TempDir(), tc.env...)
			if got := gaugeValue(t, p.origin+"/metrics", "go_gc_gomemlimit_bytes"); got != tc.want {
				t.Errorf("go_gc_gomemlimit_bytes = %.0f, want %.0f", got, tc.want)
			}
		})
	}
}

// gaugeValue reads one unlabelled sample from a Prometheus text page.
func gaugeValue(t *testing.T, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("%s not found at %s", name, url)
	return 0
}

// TestInvalidConfigListsEveryProblem: a bad configuration is refused at
// start, naming every mistake at once.
func TestInvalidConfigListsEveryProblem(t *testing.T) {
	cmd := exec.Command(binary, "serve")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(),
		"GATEHOUSE_SERVER__PUBLIC_URL=not a url",
		"GATEHOUSE_KEYS__ALGORITHM=HS256",
		"GATEHOUSE_TOKENS__CODE_TTL=1h",
		"GATEHOUSE_LOG__LEVEL=loud",
		"GATEHOUSE_SERVER__MEMORY_LIMIT_MIB=-1",
	)
	out, err := cmd.CombinedOutput()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 {
		t.Fatalf("want exit status 1, got %v\n%s", err, out)
	}
	for _, key := range []string{"server.public_url", "keys.algorithm", "tokens.code_ttl", "log.level", "server.memory_limit_mib"} {
		if !strings.Contains(string(out), key) {
			t.Errorf("error output does not mention %s:\n%s", key, out)
		}
	}
}
