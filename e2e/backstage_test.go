package e2e_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// backstageDir holds a Backstage backend built from Backstage's own
// packages (pinned by package-lock.json, installed by make deps-backstage,
// which make test runs).
const backstageDir = "testdata/backstage"

// TestBackstageBackendAcceptsTokens starts a real Backstage backend whose
// discovery sends "auth" to Gatehouse (the embedded configuration), so
// that Backstage's own code verifies Gatehouse's tokens against its JWKS:
// a guest's identity token and a DCR client's access token (the default
// audience, backstage) are a user's credentials, and the backend can
// forward them to another plugin on the user's behalf, which needs the
// user identity proof (uip). An RFC 9068 token for another resource, a
// client's own token and no token are refused.
func TestBackstageBackendAcceptsTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a Backstage backend in Node (make deps-backstage)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed: %v; run make deps-backstage (make test runs it)", err)
	}
	if _, err := os.Stat(filepath.Join(backstageDir, "node_modules", ".gatehouse-installed")); err != nil {
		t.Fatalf("the npm packages of %s are not installed: %v; run make deps-backstage (make test runs it)", backstageDir, err)
	}
	l := servertest.Start(t, func(cfg *config.Config) {
		cfg.Log.Level = "warn"
		cfg.Plugins.Dir, cfg.Plugins.Watch = filepath.Join(t.TempDir(), "no-plugins"), false
		// A resource server beside Backstage, whose tokens Backstage must
		// refuse (tokens.resources admits only loopback ones locally).
		cfg.Tokens.Resources = append(cfg.Tokens.Resources, "https://api.example.com/")
	})
	backstage := startBackstage(t, node, l.Issuer)

	// A DCR client's tokens for the user (the guest approves).
	const redirect = "http://127.0.0.1:9/callback"
	app := testclient.Must(testclient.Register(l.Issuer, map[string]any{
		"client_name": "backstage test", "redirect_uris": []string{redirect},
		"grant_types": []string{"authorization_code", "client_credentials"}, "scope": "openid profile",
	}))(t)
	userToken := func(resource string) string {
		t.Helper()
		verifier := testclient.RandomVerifier()
		sum := sha256.Sum256([]byte(verifier))
		q := url.Values{"response_type": {"code"}, "client_id": {app.ID}, "redirect_uri": {redirect},
			"scope": {"openid profile"}, "state": {"s"}, "code_challenge_method": {"S256"},
			"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}}
		if resource != "" {
			q.Set("resource", resource)
		}
		back := testclient.Must(testclient.Approve(l.Issuer, l.Cfg.AppURL(), l.Issuer+"/v1/authorize?"+q.Encode()))(t)
		status, body, err := testclient.PostForm(l.Issuer+"/v1/token", app.ID, app.Secret, url.Values{
			"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")},
			"redirect_uri": {redirect}, "code_verifier": {verifier}})
		if err != nil || status != http.StatusOK {
			t.Fatalf("token: %d %v %v", status, body, err)
		}
		return body["access_token"].(string)
	}
	_, cc, err := testclient.PostForm(l.Issuer+"/v1/token", app.ID, app.Secret, url.Values{"grant_type": {"client_credentials"}})
	if err != nil || cc["access_token"] == nil {
		t.Fatalf("client_credentials: %v %v", cc, err)
	}
	guest := testclient.Must(testclient.GuestToken(l.Issuer))(t)
	guestRef := l.Cfg.Guest.UserEntityRef

	for _, tc := range []struct {
		name, token string
		user        string // "" expects 401
	}{
		{"guest identity token", guest, guestRef},
		{"DCR access token for backstage", userToken(""), guestRef},
		{"RFC 9068 access token for another resource", userToken("https://api.example.com/"), ""},
		{"client_credentials access token", cc["access_token"].(string), ""},
		{"no token", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/api/caller/whoami", "/api/caller/on-behalf"} {
				status, body := backstage.get(t, path, tc.token)
				if tc.user == "" {
					if status != http.StatusUnauthorized {
						t.Errorf("%s: %d %v, want 401", path, status, body)
					}
					continue
				}
				if status != http.StatusOK || body["user"] != tc.user {
					t.Errorf("%s: %d %v, want 200 for %s", path, status, body, tc.user)
				}
			}
		})
	}
}

// backstageBackend is a running Backstage backend.
type backstageBackend struct {
	base string
}

func (b *backstageBackend) get(t *testing.T, path, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	status, body, err := testclient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return status, body
}

// startBackstage runs testdata/backstage/backend.cjs with discovery
// sending "auth" to authBase and static plugin keys (so no database is
// needed), and waits (bounded) until it is ready.
func startBackstage(t *testing.T, node, authBase string) *backstageBackend {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	privFile, pubFile := filepath.Join(dir, "plugin-key.pem"), filepath.Join(dir, "plugin-key.pub.pem")
	for file, block := range map[string]*pem.Block{privFile: {Type: "PRIVATE KEY", Bytes: priv}, pubFile: {Type: "PUBLIC KEY", Bytes: pub}} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	// JSON is YAML: the configuration as Backstage reads it.
	appConfig, _ := json.Marshal(map[string]any{
		"backend": map[string]any{
			"baseUrl": base,
			"listen":  map[string]any{"host": "127.0.0.1", "port": port},
			"auth": map[string]any{"pluginKeyStore": map[string]any{"type": "static", "static": map[string]any{
				"keys": []any{map[string]any{"publicKeyFile": pubFile, "privateKeyFile": privFile, "keyId": "backstage-test"}},
			}}},
		},
		"discovery": map[string]any{"endpoints": []any{map[string]any{"target": authBase, "plugins": []string{"auth"}}}},
	})
	configFile := filepath.Join(dir, "app-config.yaml")
	if err := os.WriteFile(configFile, appConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join(backstageDir, "backend.cjs"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, script, "--config", configFile)
	cmd.Dir = filepath.Dir(script) // Backstage looks for its package.json upwards
	cmd.Env = append(os.Environ(), "NODE_ENV=development", "NODE_OPTIONS=")
	logs := &servertest.LogBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("Backstage backend output:\n%s", logs.String())
		}
	})
	ready := base + "/.backstage/health/v1/readiness"
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); {
		select {
		case <-exited:
			t.Fatalf("the Backstage backend exited during start:\n%s", logs.String())
		default:
		}
		if resp, err := http.Get(ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return &backstageBackend{base: base}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the Backstage backend was not ready within 90 s:\n%s", logs.String())
	return nil
}
