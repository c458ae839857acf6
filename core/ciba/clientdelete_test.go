package ciba_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// TestClientDeleteEndsEverything: after an RFC 7592 DELETE, nothing the
// client held works any more: its access tokens (client_credentials and a
// user's) are inactive to a resource server and refused by userinfo, its
// refresh token and an unredeemed code are refused, and its CIBA requests
// (pending, and approved but not yet fetched) can be neither polled nor
// answered nor seen by the user.
func TestClientDeleteEndsEverything(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	ctx := context.Background()
	const redirectURI = "http://127.0.0.1:9/cb"
	cl := e.client(t, "poll", "", map[string]any{
		"grant_types":   []string{"urn:openid:params:grant-type:ciba", "authorization_code", "refresh_token", "client_credentials"},
		"redirect_uris": []string{redirectURI},
	})
	rs := testclient.Must(testclient.RegisterWith(e.issuer, adminToken, map[string]any{
		"client_name": "RS", "grant_types": []string{"client_credentials"}, "resource_server": true}))(t)

	machine, err := (&clientcredentials.Config{ClientID: cl.ID, ClientSecret: cl.Secret, TokenURL: e.issuer + "/v1/token"}).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{ClientID: cl.ID, ClientSecret: cl.Secret, RedirectURL: redirectURI,
		Endpoint: oauth2.Endpoint{AuthURL: e.issuer + "/v1/authorize", TokenURL: e.issuer + "/v1/token"},
		Scopes:   []string{"openid", "offline_access"}}
	verifier := oauth2.GenerateVerifier()
	approve := func() string {
		t.Helper()
		redirect := testclient.Must(testclient.Approve(e.issuer, e.cfg.AppURL(), conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier))))(t)
		return redirect.Query().Get("code")
	}
	user, err := conf.Exchange(ctx, approve(), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	code := approve() // issued, never redeemed
	pending := e.startRequest(t, cl, loginHint("guest"))
	approved := e.startRequest(t, cl, loginHint("guest"))
	guest := e.guest(t)
	if status, body := e.complete(t, guest, approved, "approve"); status != http.StatusOK {
		t.Fatalf("approve: %d %v", status, body)
	}

	active := func(tok string) bool {
		t.Helper()
		status, body, err := testclient.PostForm(e.issuer+"/v1/introspect", rs.ID, rs.Secret, url.Values{"token": {tok}})
		if err != nil || status != http.StatusOK {
			t.Fatalf("introspect: %d %v %v", status, body, err)
		}
		a, _ := body["active"].(bool)
		return a
	}
	userinfo := func() int {
		t.Helper()
		status, _ := e.get(t, "/v1/userinfo", user.AccessToken)
		return status
	}
	if !active(machine.AccessToken) || !active(user.AccessToken) || userinfo() != http.StatusOK {
		t.Fatal("tokens not active before the delete")
	}
	if status, body := e.get(t, "/v1/backchannel/authinfo?auth_req_id="+url.QueryEscape(pending), guest); status != http.StatusOK {
		t.Fatalf("authinfo before the delete: %d %v", status, body)
	}

	req := testclient.Must(http.NewRequest(http.MethodDelete, cl.RegistrationURI, nil))(t)
	req.Header.Set("Authorization", "Bearer "+cl.RegistrationToken)
	if status, body, err := testclient.Do(req); err != nil || status != http.StatusNoContent {
		t.Fatalf("delete: %d %v %v", status, body, err)
	}

	if active(machine.AccessToken) {
		t.Error("client_credentials access token still active after the delete")
	}
	if active(user.AccessToken) {
		t.Error("user's access token still active after the delete")
	}
	if status := userinfo(); status != http.StatusUnauthorized {
		t.Errorf("userinfo after the delete: %d, want 401", status)
	}
	// The client cannot authenticate any more: every token request is
	// invalid_client (RFC 6749 §5.2), whatever grant it presents.
	for name, form := range map[string]url.Values{
		"refresh":       {"grant_type": {"refresh_token"}, "refresh_token": {user.RefreshToken}},
		"code":          {"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}},
		"ciba pending":  {"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {pending}},
		"ciba approved": {"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {approved}},
	} {
		status, body, err := testclient.PostForm(e.issuer+"/v1/token", cl.ID, cl.Secret, form)
		if err != nil || status != http.StatusUnauthorized || body["error"] != "invalid_client" {
			t.Errorf("%s after the delete: %d %v %v, want 401 invalid_client", name, status, body, err)
		}
	}
	// The user no longer sees the pending request nor can answer it.
	if status, body := e.get(t, "/v1/backchannel/authinfo?auth_req_id="+url.QueryEscape(pending), guest); status != http.StatusNotFound {
		t.Errorf("authinfo after the delete: %d %v, want 404", status, body)
	}
	if status, body := e.complete(t, guest, pending, "approve"); status != http.StatusNotFound {
		t.Errorf("approve after the delete: %d %v, want 404", status, body)
	}
}
