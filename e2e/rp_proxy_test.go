package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// testOAuth2Proxy signs in through oauth2-proxy (provider oidc, PKCE S256)
// to an upstream on loopback: the proxy sends the user agent to Gatehouse,
// the guest approves, the proxy redeems the code, validates the ID token,
// and forwards the request with the user's identity.
func testOAuth2Proxy(t *testing.T, deps rpTools, l *servertest.Live) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"path":  r.URL.Path,
			"user":  r.Header.Get("X-Forwarded-User"),
			"email": r.Header.Get("X-Forwarded-Email"),
		})
	}))
	t.Cleanup(upstream.Close)

	// oauth2-proxy takes its address as a flag, and a port free a moment
	// ago may be taken before it binds: a start that fails is tried again.
	var proxy *process
	var proxyURL string
	for attempt := 1; ; attempt++ {
		proxyURL = "http://" + freeLoopbackAddr(t)
		client := testclient.Must(testclient.Register(l.Issuer, map[string]any{
			"client_name":   "oauth2-proxy",
			"redirect_uris": []string{proxyURL + "/oauth2/callback"},
			"grant_types":   []string{"authorization_code", "refresh_token"},
			"scope":         "openid profile email",
		}))(t)
		proxy = startOAuth2Proxy(t, deps.oauth2Proxy,
			"--http-address="+strings.TrimPrefix(proxyURL, "http://"),
			"--provider=oidc",
			"--oidc-issuer-url="+l.Issuer,
			"--client-id="+client.ID,
			"--client-secret="+client.Secret,
			"--redirect-url="+proxyURL+"/oauth2/callback",
			"--cookie-secret="+randomHex(t, 16),
			"--upstream="+upstream.URL+"/",
			"--email-domain=*",
			// Plain HTTP on loopback: a Secure cookie would never come back.
			"--cookie-secure=false",
			"--code-challenge-method=S256",
		)
		err := waitReady(proxy, proxyURL+"/ping")
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("oauth2-proxy: %v", err)
		}
		t.Logf("oauth2-proxy did not start, trying another port: %v", err)
	}

	// The user agent: cookies, and redirects followed within the proxy.
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	proxyHost := strings.TrimPrefix(proxyURL, "http://")
	ua := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != proxyHost || len(via) > 5 {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := ua.Get(proxyURL + "/oauth2/start?rd=" + url.QueryEscape("/hello"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	authURL := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(authURL, l.Issuer+"/v1/authorize?") {
		t.Fatalf("/oauth2/start: %d to %q, want 302 to the authorization endpoint\n%s", resp.StatusCode, authURL, proxy.log())
	}
	q := testclient.Must(url.Parse(authURL))(t).Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		t.Errorf("authorization request without PKCE S256: %v", q)
	}
	callback := testclient.Must(testclient.Approve(l.Issuer, l.Cfg.AppURL(), authURL))(t)
	if got := callback.Scheme + "://" + callback.Host + callback.Path; got != proxyURL+"/oauth2/callback" {
		t.Fatalf("approval redirected to %q", got)
	}

	// The callback redeems the code and redirects to /hello, which the
	// proxy forwards upstream with the user's email from the ID token.
	who, err := getJSON200(ua, callback.String())
	if err != nil {
		t.Fatalf("callback: %v\n%s", err, proxy.log())
	}
	if who["path"] != "/hello" || who["user"] == "" || who["email"] != l.Cfg.Guest.Email {
		t.Fatalf("upstream saw %v, want /hello with the user and the email %q", who, l.Cfg.Guest.Email)
	}
	// The session cookie alone lets the next request through.
	again, err := getJSON200(ua, proxyURL+"/again")
	if err != nil {
		t.Fatalf("second request: %v", err)
	}
	if again["path"] != "/again" || again["user"] != who["user"] {
		t.Fatalf("second request: upstream saw %v", again)
	}
}

// getJSON200 gets target and decodes a 200 JSON answer of strings.
func getJSON200(ua *http.Client, target string) (map[string]string, error) {
	resp, err := ua.Get(target)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: status %d (location %q)", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, resp.Header.Get("Location"))
	}
	var out map[string]string
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("%s: not the upstream's JSON: %.300s", resp.Request.URL, body)
	}
	return out, nil
}

// process is a program the test started, with its output kept for logs.
type process struct {
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{} // closed when it has exited
	err  error         // its exit, once done is closed
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *process) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// startOAuth2Proxy runs oauth2-proxy with args until the test ends.
func startOAuth2Proxy(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	p := &process{done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
		t.Logf("oauth2-proxy output:\n%s", p.log())
	})
	return p
}

// waitReady polls a readiness URL of p, for at most a minute: a program
// that loses its port exits at once, and one that starts slowly on a
// loaded machine is still starting, not stuck.
func waitReady(p *process, ready string) error {
	c := &http.Client{Timeout: 5 * time.Second}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		select {
		case <-p.done:
			return fmt.Errorf("exited before it was ready: %v\n%s", p.err, p.log())
		default:
		}
		if resp, err := c.Get(ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after a minute\n%s", ready, p.log())
}

// freeLoopbackAddr is a loopback address that was free a moment ago, for
// a program that takes its listening address as a flag.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatal(err)
	}
	return addr
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
