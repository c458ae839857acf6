package ciba_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestApprovalPageRefusals: a post without the CSRF token is refused and
// changes nothing; unknown requests get an error page, not a 500.
func TestApprovalPageRefusals(t *testing.T) {
	e := start(t, options{})
	cl := e.client(t, "poll", "", nil)
	id := e.startRequest(t, cl, loginHint("guest"))

	resp, err := http.PostForm(e.issuer+"/oauth2/backchannel/"+id, url.Values{"decision": {"approve"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("post without CSRF: %d", resp.StatusCode)
	}
	if status, body := e.poll(t, cl, id); body["error"] != "authorization_pending" {
		t.Errorf("request after a refused post: %d %v", status, body)
	}

	for _, path := range []string{"/oauth2/backchannel/unknown", "/oauth2/backchannel/" + strings.Repeat("x", 200)} {
		resp, err := http.Get(e.issuer + path)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(page), "expired") {
			t.Errorf("GET %s: %d %s", path[:30], resp.StatusCode, page)
		}
	}
	// Signed out, the page asks to sign in and shows no decision buttons.
	resp, err = http.Get(e.issuer + "/oauth2/backchannel/" + id)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `id="login-guest"`) || strings.Contains(string(page), `id="approve"`) {
		t.Errorf("signed-out page: %d %s", resp.StatusCode, page)
	}
}
