package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

const backupAdminToken = "backup-test-admin-token"

// installation is what a test put into a server: clients with secrets,
// refresh tokens and an access token of an authorization-code grant.
type installation struct {
	app      testclient.Client
	machines []testclient.Client
	refresh  []string
	access   string
	jwks     string
}

const installRedirect = "http://127.0.0.1:9/cb"

// install registers clients and gets tokens from the server at issuer.
func install(t *testing.T, issuer string, machines, grants int) installation {
	t.Helper()
	var in installation
	in.app = testclient.Must(testclient.Register(issuer, map[string]any{
		"redirect_uris": []string{installRedirect}, "grant_types": []string{"authorization_code", "refresh_token"},
		"scope": "openid offline_access",
	}))(t)
	for range machines {
		in.machines = append(in.machines, testclient.Must(testclient.Register(issuer, map[string]any{
			"client_name": "machine", "grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_basic",
		}))(t))
	}
	conf := codeConfig(issuer, in.app)
	for range grants {
		verifier := oauth2.GenerateVerifier()
		redirect, err := testclient.Approve(issuer, issuer, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := conf.Exchange(context.Background(), redirect.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil || tok.RefreshToken == "" {
			t.Fatalf("code exchange: %v", err)
		}
		in.refresh = append(in.refresh, tok.RefreshToken)
		in.access = tok.AccessToken
	}
	_, jwks, err := testclient.GetJSON(issuer + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	in.jwks = fmt.Sprint(jwks["keys"])
	return in
}

func codeConfig(issuer string, app testclient.Client) oauth2.Config {
	return oauth2.Config{ClientID: app.ID, ClientSecret: app.Secret, RedirectURL: installRedirect,
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/v1/authorize", TokenURL: issuer + "/v1/token", AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"openid", "offline_access"}}
}

// check asserts that the server at issuer (the same URL as the one that
// issued in) serves in: the same signing
// keys, the access token active, every registration readable, every
// client secret accepted, every refresh token redeemed.
func (in installation) check(t *testing.T, issuer string) {
	t.Helper()
	in.checkClients(t, issuer)
	for _, rt := range in.refresh {
		status, body, err := testclient.PostForm(issuer+"/v1/token", in.app.ID, in.app.Secret,
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
		if err != nil || status != http.StatusOK {
			t.Errorf("refresh token: %d %v %v", status, body, err)
		}
	}
}

// checkClients is check without the refresh tokens (spent by a check).
func (in installation) checkClients(t *testing.T, issuer string) {
	t.Helper()
	_, jwks, err := testclient.GetJSON(issuer + "/.well-known/jwks.json")
	if err != nil || fmt.Sprint(jwks["keys"]) != in.jwks {
		t.Errorf("JWKS differs (%v):\n%v\nwant\n%s", err, jwks["keys"], in.jwks)
	}
	status, body, err := testclient.PostForm(issuer+"/v1/introspect", in.app.ID, in.app.Secret, url.Values{"token": {in.access}})
	if err != nil || status != http.StatusOK || body["active"] != true {
		t.Errorf("introspection of an access token issued before: %d %v %v", status, body, err)
	}
	for _, c := range in.machines {
		req, _ := http.NewRequest(http.MethodGet, c.RegistrationURI, nil)
		req.Header.Set("Authorization", "Bearer "+c.RegistrationToken)
		if status, body, err := testclient.Do(req); err != nil || status != http.StatusOK || body["client_id"] != c.ID {
			t.Errorf("registration %s: %d %v %v", c.ID, status, body, err)
		}
		cc := clientcredentials.Config{ClientID: c.ID, ClientSecret: c.Secret, TokenURL: issuer + "/v1/token"}
		if _, err := cc.Token(context.Background()); err != nil {
			t.Errorf("client_credentials of %s: %v", c.ID, err)
		}
	}
}

func runGatehouse(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(servertest.Binary(t), args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestBackupRestore: a backup taken through the admin API of a server
// serving writes, restored into a new directory, starts a server that
// serves every client, grant and signing key acknowledged before the
// backup started; the restore refuses a directory holding a database
// without --force; a stopped server's directory backs up offline, a
// running one's is refused.
func TestBackupRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	admin := "GATEHOUSE_ADMIN__TOKEN=" + backupAdminToken
	// The restored server takes the address (so the issuer) of the first.
	dirA, addr := t.TempDir(), servertest.FreeAddr(t)
	a := servertest.StartProcess(t, addr, dirA, admin)
	in := install(t, a.Base, 20, 10)

	// Registrations go on while the backup is taken.
	var stop atomic.Bool
	var during atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000 && !stop.Load(); i++ {
				if _, err := testclient.Register(a.Base, map[string]any{"client_name": "during", "grant_types": []string{"client_credentials"}}); err == nil {
					during.Add(1)
				}
			}
		}()
	}
	for during.Load() < 5 { // bounded by the writers' own loops
		time.Sleep(5 * time.Millisecond)
	}
	backup := filepath.Join(t.TempDir(), "gatehouse.backup")
	out, err := runGatehouse(t, nil, "backup", "--url", a.Origin, "--token", backupAdminToken, "-o", backup)
	stop.Store(true)
	wg.Wait()
	if err != nil || !strings.Contains(out, "backup of installation") {
		t.Fatalf("backup through the admin API: %v\n%s\nserver logs:\n%s", err, out, a.Logs())
	}
	t.Logf("%s(%d registrations during the backup)", out, during.Load())
	if out, err := runGatehouse(t, nil, "backup", "--url", a.Origin, "--token", "wrong", "-o", backup+".2"); err == nil || !strings.Contains(out, "401") {
		t.Errorf("backup with a wrong token: %v\n%s", err, out)
	}
	if out, err := runGatehouse(t, nil, "backup", "--data-dir", filepath.Join(dirA, "data"), "-o", backup+".2"); err == nil || !strings.Contains(out, "--url") {
		t.Errorf("offline backup of a running server's directory: %v\n%s", err, out)
	}

	a.Stop(t)

	dirB := t.TempDir()
	dataB := filepath.Join(dirB, "data")
	if out, err := runGatehouse(t, nil, "restore", "--data-dir", dataB, "-i", backup); err != nil || !strings.Contains(out, "restored installation") {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if out, err := runGatehouse(t, nil, "restore", "--data-dir", dataB, "-i", backup); err == nil || !strings.Contains(out, "--force") {
		t.Errorf("restore over a database: %v\n%s, want refused naming --force", err, out)
	}
	b := servertest.StartProcess(t, addr, dirB, admin)
	in.check(t, b.Base) // the same JWKS: no new signing key

	// Offline: the restored server stopped, its directory backs up and
	// restores (with --force, over itself) as well.
	b.Stop(t)
	offline := filepath.Join(t.TempDir(), "offline.backup")
	if out, err := runGatehouse(t, nil, "backup", "--data-dir", dataB, "-o", offline); err != nil {
		t.Fatalf("offline backup: %v\n%s", err, out)
	}
	out, err = runGatehouse(t, nil, "restore", "--data-dir", dataB, "-i", offline, "--force")
	if err != nil || !strings.Contains(out, "is now in") {
		t.Fatalf("restore --force: %v\n%s", err, out)
	}
	c := servertest.StartProcess(t, addr, dirB, admin)
	if _, _, err := testclient.GetJSON(c.Base + "/.well-known/jwks.json"); err != nil {
		t.Fatal(err)
	}
}
