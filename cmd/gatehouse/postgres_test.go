package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-auth/gatehouse/core/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// TestMigrateCommand: gatehouse migrate creates the postgres backend's
// schema once and then finds it up to date; on another backend it
// refuses.
func TestMigrateCommand(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	migrate := func(env ...string) (string, error) {
		cmd := exec.Command(binary, "migrate")
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
	a := startProcess(t, freeAddr(t), t.TempDir(), env...)
	b := startProcess(t, freeAddr(t), t.TempDir(), env...)
	client := testclient.Must(testclient.Register(a.issuer, map[string]any{
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_basic",
	}))(t)
	cc := clientcredentials.Config{ClientID: client.ID, ClientSecret: client.Secret, TokenURL: b.issuer + "/v1/token"}
	tok, err := cc.Token(context.Background())
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("token from the second process for a client registered on the first: %v\nlogs A:\n%s\nlogs B:\n%s", err, a.Logs(), b.Logs())
	}
}
