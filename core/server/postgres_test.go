package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-auth/gatehouse/core/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// TestPostgresUnavailable: with its database gone, the server on the
// postgres backend says so on /readyz and answers requests that need the
// database 503 temporarily_unavailable with Retry-After, never 500.
func TestPostgresUnavailable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL of its own")
	}
	db, dsn := pgtest.Own(t) // its own server, to stop it under the test
	s := startServerDSN(t, "", "postgres", dsn)
	client := s.register(t, map[string]any{
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_basic",
	})
	cc := clientcredentials.Config{ClientID: client.ID, ClientSecret: client.Secret, TokenURL: s.issuer + "/v1/token"}
	if _, err := cc.Token(context.Background()); err != nil {
		t.Fatalf("token with the database up: %v", err)
	}
	if status, body := getJSON(t, s.issuer+"/readyz"); status != http.StatusOK {
		t.Fatalf("/readyz with the database up = %d %v", status, body)
	}

	if err := db.Stop(); err != nil {
		t.Fatal(err)
	}
	if status, body := getJSON(t, s.issuer+"/readyz"); status != http.StatusServiceUnavailable || body["status"] != "storage unavailable" {
		t.Fatalf("/readyz with the database down = %d %v, want 503 storage unavailable", status, body)
	}
	req, err := http.NewRequest(http.MethodPost, s.issuer+"/v1/token", strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client.ID, client.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusServiceUnavailable || body.Error != "temporarily_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("token with the database down = %d %q (Retry-After %q), want 503 temporarily_unavailable with Retry-After",
			resp.StatusCode, body.Error, resp.Header.Get("Retry-After"))
	}
}

// TestRedemptionAcrossReplicas: one authorization code, then one refresh
// token, presented concurrently to two servers on one PostgreSQL database
// (each with its own pool): exactly one presentation wins, the database's
// compare-and-swap decides, and the losers' reuse revokes the family on
// both servers.
func TestRedemptionAcrossReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	dsn := pgtest.NewDatabase(t)
	servers := [2]*liveServer{startServerDSN(t, "", "postgres", dsn), startServerDSN(t, "", "postgres", dsn)}
	const redirectURI = "http://127.0.0.1:9/callback"
	client := servers[0].register(t, map[string]any{
		"redirect_uris": []string{redirectURI}, "grant_types": []string{"authorization_code", "refresh_token"},
		"scope": "openid offline_access",
	})
	race := func(form url.Values) (wins []map[string]any, losers []string) {
		const n = 8
		type answer struct {
			status int
			body   map[string]any
		}
		answers := make([]answer, n)
		var wg sync.WaitGroup
		startLine := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-startLine
				status, body, err := testclient.PostForm(servers[i%2].issuer+"/v1/token", client.ID, client.Secret, form)
				if err != nil {
					status = -1
				}
				answers[i] = answer{status, body}
			}()
		}
		close(startLine)
		wg.Wait()
		for i, a := range answers {
			switch {
			case a.status == http.StatusOK:
				wins = append(wins, a.body)
			case a.status == http.StatusBadRequest && a.body["error"] == "invalid_grant":
				losers = append(losers, fmt.Sprint(a.body["error_description"]))
			default:
				t.Errorf("answer %d: %d %v, want 200 or invalid_grant", i, a.status, a.body)
			}
		}
		return wins, losers
	}

	conf := oauth2.Config{ClientID: client.ID, RedirectURL: redirectURI, Scopes: []string{"openid", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: servers[0].issuer + "/v1/authorize"}}
	verifier := oauth2.GenerateVerifier()
	code := servers[0].approve(t, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))).Query().Get("code")
	wins, losers := race(url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}})
	if len(wins) != 1 {
		t.Fatalf("code redeemed %d times across two replicas, want once (losers: %q)", len(wins), losers)
	}
	// The losers' replay revoked the grant the winner got.
	refresh, _ := wins[0]["refresh_token"].(string)
	for _, s := range servers {
		status, body, _ := testclient.PostForm(s.issuer+"/v1/token", client.ID, client.Secret,
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
		if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Errorf("refresh of a replayed code's grant on %s: %d %v, want invalid_grant", s.issuer, status, body)
		}
	}

	// A fresh grant, then one refresh token presented to both at once.
	verifier = oauth2.GenerateVerifier()
	conf.Endpoint.AuthURL = servers[1].issuer + "/v1/authorize"
	code = servers[1].approve(t, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))).Query().Get("code")
	status, tok, err := testclient.PostForm(servers[1].issuer+"/v1/token", client.ID, client.Secret, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}})
	if err != nil || status != http.StatusOK {
		t.Fatalf("exchange: %d %v %v", status, tok, err)
	}
	wins, losers = race(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}})
	if len(wins) != 1 {
		t.Fatalf("refresh token rotated %d times across two replicas, want once (losers: %q)", len(wins), losers)
	}
	for _, s := range servers {
		status, body, _ := testclient.PostForm(s.issuer+"/v1/token", client.ID, client.Secret,
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {wins[0]["refresh_token"].(string)}})
		if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Errorf("the winner's refresh token after reuse, on %s: %d %v, want invalid_grant (family revoked)", s.issuer, status, body)
		}
	}
}
