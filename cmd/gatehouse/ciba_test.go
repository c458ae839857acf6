package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

// TestCIBAHistory: `gatehouse ciba history` lists decisions newest first,
// filtered, from a stopped server's data directory and from a running
// server's admin endpoint.
func TestCIBAHistory(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	stoppedDataDir(t, func(st *store.Store) {
		for i, r := range []store.ConsentRecord{
			{Subject: "user:default/alice", ClientID: "app1", ClientName: "App One", Scope: "openid", Decision: "approved", Via: "page", BindingMessage: "first"},
			{Subject: "user:default/bob", ClientID: "app1", Scope: "openid", Decision: "denied", Via: "api"},
			{Subject: "user:default/alice", ClientID: "app2", Scope: "openid email", Decision: "denied", Via: "api", BindingMessage: "third"},
		} {
			r.At = base.Add(time.Duration(i) * time.Minute)
			r.ID = r.At.Format("20060102150405")
			if err := st.Consents.Create(context.Background(), r.ID, r); err != nil {
				t.Fatal(err)
			}
		}
	})

	var out bytes.Buffer
	if err := runCIBA(context.Background(), []string{"history", "--sub", "user:default/alice"}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "third") || !strings.Contains(lines[2], "App One") || strings.Contains(out.String(), "bob") {
		t.Fatalf("history:\n%s", out.String())
	}
	out.Reset()
	if err := runCIBA(context.Background(), []string{"history", "--json", "--limit", "1"}, &out); err != nil {
		t.Fatal(err)
	}
	var recs []store.ConsentRecord
	if err := json.Unmarshal(out.Bytes(), &recs); err != nil || len(recs) != 1 || recs[0].BindingMessage != "third" {
		t.Fatalf("json history %s (%v)", out.String(), err)
	}
	if err := runCIBA(context.Background(), []string{"nope"}, &out); err == nil {
		t.Error("unknown subcommand accepted")
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/admin/ciba/history" || r.Header.Get("Authorization") != "Bearer tok" || r.URL.Query().Get("client_id") != "app9" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_token","error_description":"no"}`))
			return
		}
		_, _ = w.Write([]byte(`{"history":[{"sub":"user:default/zed","client_id":"app9","scope":"openid","decision":"approved","via":"page","at":"2026-01-01T00:00:00Z"}]}`))
	}))
	defer srv.Close()
	out.Reset()
	if err := runCIBA(context.Background(), []string{"history", "--server", srv.URL, "--admin-token", "tok", "--client", "app9"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "user:default/zed") {
		t.Fatalf("server history:\n%s", out.String())
	}
	if err := runCIBA(context.Background(), []string{"history", "--server", srv.URL, "--admin-token", "bad"}, &out); err == nil || !strings.Contains(err.Error(), "invalid_token") {
		t.Fatalf("bad token: %v", err)
	}
}
