package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/store/badger"
	"github.com/gatehouse-auth/gatehouse/core/store/storetest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// answer is a response as the disk-full test checks it.
type answer struct {
	status     int
	retryAfter string
	body       map[string]any
}

func send(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v (did the server die?)", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	_ = json.NewDecoder(resp.Body).Decode(&a.body)
	return a
}

// TestFullDiskAnswers503 runs the server with its data directory on a small
// tmpfs and fills it with a ballast file: writes (a registration, a refresh
// token rotation) answer 503 temporarily_unavailable with Retry-After
// instead of the process dying of SIGBUS in Badger's mapped files, reads are
// served, /readyz and /metrics say so, and once the ballast is removed the
// same process writes again, the refused rotation having changed nothing.
func TestFullDiskAnswers503(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	fs := storetest.Tmpfs(t, 96<<20)
	addr := servertest.FreeAddr(t)
	p := servertest.StartProcess(t, addr, fs)
	const redirectURI = "http://127.0.0.1:9/cb"
	app := testclient.Must(testclient.Register(p.Base, map[string]any{
		"redirect_uris": []string{redirectURI}, "grant_types": []string{"authorization_code", "refresh_token"},
		"scope": "openid offline_access",
	}))(t)
	conf := oauth2.Config{ClientID: app.ID, ClientSecret: app.Secret, RedirectURL: redirectURI,
		Endpoint: oauth2.Endpoint{AuthURL: p.Base + "/v1/authorize", TokenURL: p.Base + "/v1/token", AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"openid", "offline_access"}}
	verifier := oauth2.GenerateVerifier()
	redirect, err := testclient.Approve(p.Base, p.Base, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := conf.Exchange(t.Context(), redirect.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("code exchange: %v %+v", err, tok)
	}

	register := func() *http.Request {
		req, _ := http.NewRequest(http.MethodPost, p.Base+"/v1/register", strings.NewReader(`{"client_name":"late","grant_types":["client_credentials"]}`))
		req.Header.Set("Content-Type", "application/json")
		return req
	}
	refresh := func() *http.Request {
		req, _ := http.NewRequest(http.MethodPost, p.Base+"/v1/token", strings.NewReader(url.Values{
			"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(app.ID), url.QueryEscape(app.Secret))
		return req
	}
	readRegistration := func() *http.Request {
		req, _ := http.NewRequest(http.MethodGet, app.RegistrationURI, nil)
		req.Header.Set("Authorization", "Bearer "+app.RegistrationToken)
		return req
	}
	get := func(u string) *http.Request { req, _ := http.NewRequest(http.MethodGet, u, nil); return req }

	ballast := storetest.Fill(t, fs, badger.DefaultReserve()/2)
	// Free space is measured at most 100 ms apart: poll, bounded.
	var a answer
	for range 100 {
		if a = send(t, register()); a.status != http.StatusCreated {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if a.status != http.StatusServiceUnavailable || a.retryAfter == "" || a.body["error"] != "temporarily_unavailable" {
		t.Fatalf("registration on a full disk = %+v, want 503 temporarily_unavailable with Retry-After", a)
	}
	if a = send(t, refresh()); a.status != http.StatusServiceUnavailable || a.retryAfter == "" || a.body["error"] != "temporarily_unavailable" {
		t.Errorf("refresh on a full disk = %+v, want 503 temporarily_unavailable with Retry-After", a)
	}
	if a = send(t, readRegistration()); a.status != http.StatusOK || a.body["client_id"] != app.ID {
		t.Errorf("reading a registration on a full disk = %+v, want 200", a)
	}
	if a = send(t, get(p.Base+"/.well-known/jwks.json")); a.status != http.StatusOK {
		t.Errorf("JWKS on a full disk = %+v, want 200", a)
	}
	if a = send(t, get(p.Origin+"/readyz")); a.status != http.StatusServiceUnavailable || a.body["status"] != "storage full" {
		t.Errorf("/readyz on a full disk = %+v, want 503 storage full", a)
	}
	if got := gaugeValue(t, p.Origin+"/metrics", "gatehouse_storage_full"); got != 1 {
		t.Errorf("gatehouse_storage_full on a full disk = %v, want 1", got)
	}
	if !strings.Contains(p.Logs(), "storage full") {
		t.Errorf("no log line says the storage is full; logs:\n%s", p.Logs())
	}

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if a = send(t, register()); a.status != http.StatusServiceUnavailable {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if a.status != http.StatusCreated {
		t.Fatalf("registration once space is freed = %+v, want 201", a)
	}
	// The refused rotation wrote nothing: the refresh token still works.
	if a = send(t, refresh()); a.status != http.StatusOK || a.body["refresh_token"] == nil {
		t.Errorf("refresh once space is freed = %+v, want 200", a)
	}
	if a = send(t, get(p.Origin+"/readyz")); a.status != http.StatusOK {
		t.Errorf("/readyz once space is freed = %+v, want 200", a)
	}
	if got := gaugeValue(t, p.Origin+"/metrics", "gatehouse_storage_full"); got != 0 {
		t.Errorf("gatehouse_storage_full once space is freed = %v, want 0", got)
	}
	select {
	case <-p.Exited():
		t.Fatalf("the server exited: %v\n%s", p.Wait(), p.Logs())
	default:
	}
}
