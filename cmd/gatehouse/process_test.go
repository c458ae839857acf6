package main

import (
	"bufio"
	"context"
	"fmt"
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

	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Cleanup()
	servertest.RemoveBinary()
	os.Exit(code)
}

// TestKilledServerKeepsAcknowledgedWrites kills the server with SIGKILL in
// the middle of a load of registrations and token requests, restarts it on
// the same data directory, and checks that every registration and every
// refresh token the server acknowledged is still there.
func TestKilledServerKeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	dir, addr := t.TempDir(), servertest.FreeAddr(t)
	p := servertest.StartProcess(t, addr, dir)
	const redirectURI = "http://127.0.0.1:9/cb"
	app := testclient.Must(testclient.Register(p.Base, map[string]any{
		"redirect_uris": []string{redirectURI}, "grant_types": []string{"authorization_code", "refresh_token"},
		"scope": "openid offline_access",
	}))(t)
	conf := oauth2.Config{ClientID: app.ID, ClientSecret: app.Secret, RedirectURL: redirectURI,
		Endpoint: oauth2.Endpoint{AuthURL: p.Base + "/v1/authorize", TokenURL: p.Base + "/v1/token", AuthStyle: oauth2.AuthStyleInHeader},
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
					c, err := testclient.Register(p.Base, map[string]any{"client_name": "durable", "grant_types": []string{"client_credentials"}})
					if err == nil {
						mu.Lock()
						clients = append(clients, c)
						mu.Unlock()
					}
					continue
				}
				verifier := oauth2.GenerateVerifier()
				redirect, err := testclient.Approve(p.Base, p.Base, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
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
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.Wait()
	stop()
	wg.Wait()
	if len(clients) == 0 || len(refreshs) == 0 {
		t.Fatalf("nothing acknowledged before the kill (%d clients, %d refresh tokens); logs:\n%s", len(clients), len(refreshs), p.Logs())
	}
	t.Logf("acknowledged before SIGKILL: %d registrations, %d refresh tokens", len(clients), len(refreshs))

	p = servertest.StartProcess(t, addr, dir)
	for _, c := range clients {
		req, _ := http.NewRequest(http.MethodGet, c.RegistrationURI, nil)
		req.Header.Set("Authorization", "Bearer "+c.RegistrationToken)
		status, body, err := testclient.Do(req)
		if err != nil || status != http.StatusOK || body["client_id"] != c.ID {
			t.Errorf("registration %s lost after SIGKILL: %d %v %v", c.ID, status, body, err)
		}
	}
	for _, rt := range refreshs {
		status, body, err := testclient.PostForm(p.Base+"/v1/token", app.ID, app.Secret,
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
	dir, addr := t.TempDir(), servertest.FreeAddr(t)
	p := servertest.StartProcess(t, addr, dir)
	_, jwks, err := testclient.GetJSON(p.Base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err != nil {
		t.Fatalf("data directory not created: %v", err)
	}
	p.Stop(t) // a graceful shutdown
	p = servertest.StartProcess(t, addr, dir)
	_, again, err := testclient.GetJSON(p.Base + "/.well-known/jwks.json")
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
			p := servertest.StartProcess(t, "", "", tc.env...)
			if got := gaugeValue(t, p.Origin+"/metrics", "go_gc_gomemlimit_bytes"); got != tc.want {
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
	cmd := exec.Command(servertest.Binary(t), "serve")
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
