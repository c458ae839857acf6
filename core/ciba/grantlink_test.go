package ciba_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// A grant from a CIBA request keeps its link to the request past the
// request record's life; revoking by auth_req_id (RFC 7009 with
// token_type_hint=auth_req_id, as the owning client) ends that grant's
// access and refresh tokens and no other's; the consent history names
// the grant.
func TestRevokeByAuthReqID(t *testing.T) {
	e := start(t, options{})
	cl := e.client(t, "poll", "", nil)
	other := e.client(t, "poll", "", nil)
	guest := e.guest(t)
	tokens := func(scope string) (string, map[string]any) {
		t.Helper()
		id := e.startRequest(t, cl, loginHint("guest", "scope", scope))
		if status, body := e.complete(t, guest, id, "approve"); status != http.StatusOK {
			t.Fatalf("complete: %d %v", status, body)
		}
		status, body := e.poll(t, cl, id)
		if status != http.StatusOK || body["refresh_token"] == nil {
			t.Fatalf("poll: %d %v", status, body)
		}
		return id, body
	}
	first, firstTokens := tokens("openid offline_access")
	_, secondTokens := tokens("openid profile offline_access")

	// The request record is gone (as after expiry + 10 minutes); the link stays.
	if err := e.st.Backchannel.Delete(t.Context(), store.HashID(first)); err != nil {
		t.Fatal(err)
	}
	link, err := e.st.BackchannelGrants.Get(t.Context(), store.HashID(first))
	if err != nil {
		t.Fatalf("link: %v", err)
	}
	g, err := e.st.Grants.Get(t.Context(), link.GrantID)
	if err != nil || g.BackchannelRequest != store.HashID(first) {
		t.Fatalf("grant %v: %v", g, err)
	}
	status, body := e.admin(t, "/admin/ciba/history?client_id="+cl.ID, adminToken)
	hist, _ := body["history"].([]any)
	if status != http.StatusOK || len(hist) != 2 || hist[1].(map[string]any)["grant_id"] != link.GrantID {
		t.Fatalf("history: %d %v, want the first decision with grant %s", status, body, link.GrantID)
	}

	revoke := func(c testclient.Client, tok, hint string) {
		t.Helper()
		status, body, err := testclient.PostForm(e.issuer+"/v1/revoke", c.ID, c.Secret, url.Values{"token": {tok}, "token_type_hint": {hint}})
		if err != nil || status != http.StatusOK {
			t.Fatalf("revoke: %d %v %v", status, body, err)
		}
	}
	active := func(tok string) bool {
		t.Helper()
		status, body, err := testclient.PostForm(e.issuer+"/v1/introspect", cl.ID, cl.Secret, url.Values{"token": {tok}})
		if err != nil || status != http.StatusOK {
			t.Fatalf("introspect: %d %v %v", status, body, err)
		}
		return body["active"] == true
	}
	// Another client's revocation, and one without the hint, do nothing.
	revoke(other, first, "auth_req_id")
	revoke(cl, first, "refresh_token")
	if !active(firstTokens["access_token"].(string)) {
		t.Fatal("the access token died of a revocation that should change nothing")
	}
	revoke(cl, first, "auth_req_id")
	if active(firstTokens["access_token"].(string)) {
		t.Fatal("the access token of the revoked request's grant is still active")
	}
	if status, body := e.refresh(t, cl.ID, cl.Secret, firstTokens["refresh_token"].(string)); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("refresh of the revoked grant: %d %v", status, body)
	}
	if !active(secondTokens["access_token"].(string)) {
		t.Fatal("another request's access token was revoked too")
	}
	if status, body := e.refresh(t, cl.ID, cl.Secret, secondTokens["refresh_token"].(string)); status != http.StatusOK {
		t.Fatalf("refresh of another request's grant: %d %v", status, body)
	}
}
