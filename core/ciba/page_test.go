package ciba_test

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
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

// browser is an HTTP client with cookies, for the approval page.
type browser struct{ c *http.Client }

func (b *browser) get(tb testing.TB, u string) string {
	tb.Helper()
	resp, err := b.c.Get(u)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return string(raw)
}

var (
	guestForm  = regexp.MustCompile(`(?s)<form method="post" action="([^"]+)">(.*?)<button type="submit" id="login-guest"`)
	hiddenPair = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// signedInBrowser signs in as the guest through the login step of the
// approval page of authReqID, as a person would, and returns the browser
// holding the login session.
func signedInBrowser(tb testing.TB, e *env, authReqID string) *browser {
	tb.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	b := &browser{c: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
	page := b.get(tb, e.issuer+"/oauth2/backchannel/"+authReqID)
	m := guestForm.FindStringSubmatch(page)
	if m == nil {
		tb.Fatalf("no guest login on the approval page: %s", page)
	}
	form := url.Values{}
	for _, f := range hiddenPair.FindAllStringSubmatch(m[2], -1) {
		form.Set(html.UnescapeString(f[1]), html.UnescapeString(f[2]))
	}
	action := html.UnescapeString(m[1])
	if strings.HasPrefix(action, "/") {
		action = e.cfg.Server.PublicURL + action
	}
	resp, err := b.c.PostForm(action, form)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		tb.Fatalf("guest sign-in: %d", resp.StatusCode)
	}
	return b
}
