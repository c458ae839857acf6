package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// TestMigrateCommand: gatehouse migrate creates the postgres backend's
// schema once and then finds it up to date; on another backend it
// refuses.
func TestMigrateCommand(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	migrate := func(env ...string) (string, error) {
		cmd := exec.Command(servertest.Binary(t), "migrate")
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	pg := []string{"GATEHOUSE_STORAGE__BACKEND=postgres", "GATEHOUSE_STORAGE__POSTGRES__DSN=" + dsn}
	if out, err := migrate(pg...); err != nil || !strings.Contains(out, "applied migration 0001") {
		t.Fatalf("first migrate: %v\n%s", err, out)
	}
	if out, err := migrate(pg...); err != nil || !strings.Contains(out, "schema up to date") {
		t.Fatalf("second migrate: %v\n%s", err, out)
	}
	if out, err := migrate(); err == nil || !strings.Contains(out, "migrate works on the postgres backend") {
		t.Fatalf("migrate on badger: %v\n%s, want refused", err, out)
	}
	if out, err := migrate("GATEHOUSE_STORAGE__BACKEND=postgres"); err == nil || !strings.Contains(out, "storage.postgres.dsn") {
		t.Fatalf("migrate without a dsn: %v\n%s, want storage.postgres.dsn refused", err, out)
	}
}

// TestServeOnPostgres: two gatehouse processes on one database serve
// the same state: a client registered on one gets tokens from the other.
func TestServeOnPostgres(t *testing.T) {
	env := []string{"GATEHOUSE_STORAGE__BACKEND=postgres", "GATEHOUSE_STORAGE__POSTGRES__DSN=" + pgtest.NewDatabase(t)}
	a := servertest.StartProcess(t, "", "", env...)
	b := servertest.StartProcess(t, "", "", env...)
	client := testclient.Must(testclient.Register(a.Base, map[string]any{
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_basic",
	}))(t)
	cc := clientcredentials.Config{ClientID: client.ID, ClientSecret: client.Secret, TokenURL: b.Base + "/v1/token"}
	tok, err := cc.Token(context.Background())
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("token from the second process for a client registered on the first: %v\nlogs A:\n%s\nlogs B:\n%s", err, a.Logs(), b.Logs())
	}
}

// TestStoreCopy: gatehouse store copy moves an installation from Badger
// to PostgreSQL and back: a server on the copy serves the same signing
// keys, clients (their secrets accepted) and refresh tokens issued by the
// server on the original; a destination holding records is refused
// without --force.
func TestStoreCopy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes and a PostgreSQL")
	}
	dsn := pgtest.NewDatabase(t)
	pg := []string{"GATEHOUSE_STORAGE__BACKEND=postgres", "GATEHOUSE_STORAGE__POSTGRES__DSN=" + dsn}
	dirA, addr := t.TempDir(), servertest.FreeAddr(t)
	a := servertest.StartProcess(t, addr, dirA)
	in := install(t, a.Base, 10, 5)
	a.Stop(t)

	out, err := runGatehouse(t, nil, "store", "copy", "--from", "badger", "--from-data-dir", filepath.Join(dirA, "data"), "--to", "postgres", "--to-dsn", dsn)
	if err != nil || !strings.Contains(out, "copied ") || !strings.Contains(out, "client 11") || !strings.Contains(out, "refresh 5") {
		t.Fatalf("copy to postgres: %v\n%s", err, out)
	}
	t.Log(out)
	if strings.Contains(out, dsn) {
		t.Errorf("the report shows the DSN:\n%s", out)
	}
	out, err = runGatehouse(t, nil, "store", "copy", "--from", "badger", "--from-data-dir", filepath.Join(dirA, "data"), "--to", "postgres", "--to-dsn", dsn)
	if err == nil || !strings.Contains(out, "--force") {
		t.Errorf("copy into a database holding records: %v\n%s, want refused naming --force", err, out)
	}

	b := servertest.StartProcess(t, addr, t.TempDir(), pg...)
	in.check(t, b.Base)
	b.Stop(t)

	dirC := t.TempDir()
	out, err = runGatehouse(t, nil, "store", "copy", "--from", "postgres", "--from-dsn", dsn, "--to", "badger", "--to-data-dir", filepath.Join(dirC, "data"))
	if err != nil || !strings.Contains(out, "copied ") {
		t.Fatalf("copy back to badger: %v\n%s", err, out)
	}
	c := servertest.StartProcess(t, addr, dirC)
	in.checkClients(t, c.Base) // the same JWKS: no new signing key
}

// TestPostgresOutage: while its database stops answering (every process
// of it paused with SIGSTOP), a server on the postgres backend serves
// discovery and the JWKS from memory, says so on /readyz (503) and answers
// requests that need the database 503 temporarily_unavailable, never 500
// nor a hang; it recovers by itself. A server started while the database
// does not answer starts, serves discovery and the JWKS of its last run
// (cached in storage.dir), and serves everything once the database
// answers: the clients, secrets and refresh tokens issued before.
func TestPostgresOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes and a PostgreSQL of its own")
	}
	db, dsn := pgtest.Own(t) // its own, to pause it
	pg := []string{"GATEHOUSE_STORAGE__BACKEND=postgres", "GATEHOUSE_STORAGE__POSTGRES__DSN=" + dsn}
	dir, addr := t.TempDir(), servertest.FreeAddr(t)
	a := servertest.StartProcess(t, addr, dir, pg...)
	in := install(t, a.Base, 1, 1)
	machine := in.machines[0]

	status := func(method, url string, form url.Values) (int, string) {
		t.Helper()
		var req *http.Request
		if form == nil {
			req, _ = http.NewRequest(method, url, nil)
		} else {
			req, _ = http.NewRequest(method, url, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(machine.ID, machine.Secret)
		}
		resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v (a hang?)", method, url, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	down := func(p *servertest.Process, when string) {
		t.Helper()
		for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/jwks.json"} {
			if code, body := status(http.MethodGet, p.Base+path, nil); code != http.StatusOK {
				t.Errorf("%s: %s = %d %s, want 200", when, path, code, body)
			}
		}
		if _, jwks, _ := testclient.GetJSON(p.Base + "/.well-known/jwks.json"); fmt.Sprint(jwks["keys"]) != in.jwks {
			t.Errorf("%s: JWKS %v, want the keys from before %s", when, jwks["keys"], in.jwks)
		}
		if code, body := status(http.MethodGet, p.Origin+"/readyz", nil); code != http.StatusServiceUnavailable {
			t.Errorf("%s: /readyz = %d %s, want 503", when, code, body)
		}
		if code, body := status(http.MethodPost, p.Base+"/v1/token", cc); code != http.StatusServiceUnavailable || !strings.Contains(body, "temporarily_unavailable") {
			t.Errorf("%s: token = %d %s, want 503 temporarily_unavailable", when, code, body)
		}
	}
	backUp := func(p *servertest.Process, when string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, _ := status(http.MethodGet, p.Origin+"/readyz", nil)
			if code == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: /readyz = %d 30s after the database came back; logs:\n%s", when, code, p.Logs())
			}
			time.Sleep(100 * time.Millisecond)
		}
		if code, body := status(http.MethodPost, p.Base+"/v1/token", cc); code != http.StatusOK {
			t.Errorf("%s: token = %d %s once the database is back", when, code, body)
		}
	}

	// At run time.
	if err := db.Pause(); err != nil {
		t.Fatal(err)
	}
	down(a, "paused at run time")
	if err := db.Resume(); err != nil {
		t.Fatal(err)
	}
	backUp(a, "resumed at run time")
	a.Stop(t)

	// At start.
	if err := db.Pause(); err != nil {
		t.Fatal(err)
	}
	b := servertest.StartProcessWith(t, servertest.ProcessOptions{Addr: addr, Dir: dir, Env: pg, Live: true})
	down(b, "paused at start")
	if err := db.Resume(); err != nil {
		t.Fatal(err)
	}
	backUp(b, "resumed after start")
	in.check(t, b.Base)
	if logs := b.Logs(); strings.Contains(logs, "panic") || strings.Contains(logs, "status=500") {
		t.Errorf("logs:\n%s", logs)
	}
}
