package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/servertest"
)

// TestClientCommand registers, shows and deletes a client on a running
// server through the CLI, and checks the CLI's refusals.
func TestClientCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	p := servertest.StartProcess(t, "", "")
	ctx := context.Background()
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := runClient(ctx, args, &out)
		return out.String(), err
	}

	out, err := run("register", "--server", p.Base, "--name", "cli test",
		"--redirect-uri", "http://127.0.0.1:9/cb", "--grant-type", "authorization_code",
		"--scope", "openid profile")
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	var reg struct {
		ID    string `json:"client_id"`
		Name  string `json:"client_name"`
		Token string `json:"registration_access_token"`
		Auth  string `json:"token_endpoint_auth_method"`
	}
	if err := json.Unmarshal([]byte(out), &reg); err != nil || reg.ID == "" || reg.Token == "" {
		t.Fatalf("register printed %q (%v)", out, err)
	}
	if reg.Name != "cli test" || reg.Auth != "client_secret_basic" {
		t.Errorf("registered %+v", reg)
	}

	if out, err = run("show", "--server", p.Base, "--client-id", reg.ID, "--token", reg.Token); err != nil || !strings.Contains(out, reg.ID) {
		t.Fatalf("show: %q, %v", out, err)
	}
	if _, err = run("show", "--server", p.Base, "--client-id", reg.ID, "--token", "wrong"); err == nil || !strings.Contains(err.Error(), "invalid_token") {
		t.Errorf("show with a wrong token: %v, want invalid_token", err)
	}
	if out, err = run("delete", "--server", p.Base, "--client-id", reg.ID, "--token", reg.Token); err != nil || strings.TrimSpace(out) != "deleted" {
		t.Fatalf("delete: %q, %v", out, err)
	}
	if _, err = run("show", "--server", p.Base, "--client-id", reg.ID, "--token", reg.Token); err == nil {
		t.Error("show after delete succeeded")
	}

	public, err := run("register", "--server", p.Base, "--name", "spa", "--public", "--redirect-uri", "http://127.0.0.1:9/cb")
	if err != nil || !strings.Contains(public, `"token_endpoint_auth_method": "none"`) || strings.Contains(public, "client_secret\"") {
		t.Errorf("public register: %q, %v", public, err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "usage"},
		{[]string{"frobnicate"}, "usage"},
		{[]string{"register", "--server", p.Base}, "--name is required"},
		{[]string{"show", "--server", p.Base, "--client-id", "x"}, "are required"},
		{[]string{"register", "--server", p.Base, "--name", "bad", "--redirect-uri", "not a uri"}, "invalid_redirect_uri"},
	} {
		if _, err := run(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("client %v: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}
