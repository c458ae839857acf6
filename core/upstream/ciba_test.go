package upstream_test

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// copyPlugin installs the embedded first-party plugin name into dir.
func copyPlugin(t *testing.T, dir, name string) {
	t.Helper()
	raw, ok := gatehouse.Plugins()[name]
	if !ok {
		t.Fatalf("no first-party plugin %s", name)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".wasm"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCIBAPageProviderLogin: the CIBA approval page's login step offers
// the configured provider as the consent page does; signing in there
// (upstream round trip, sign_in hook) makes the person the page's user,
// who can then approve the request the client polls for; the sign_in
// hook's claims reach the tokens.
func TestCIBAPageProviderLogin(t *testing.T) {
	dir := t.TempDir()
	buildWat(t, dir, "claimer") // everyone signing in through corp is user:default/alice
	copyPlugin(t, dir, "directory-static")
	copyPlugin(t, dir, "notify-default")
	e := startWithProvider(t, func(c *config.Config) {
		c.Server.AppURL = ""
		c.Plugins.Dir = dir
		c.Plugins.Hooks = map[string]any{
			"sign_in": map[string]any{"corp": "claimer"}, "resolve_user": "directory-static", "notify": "notify-default",
		}
		c.Plugins.Settings = map[string]config.PluginSettings{
			"directory-static": {Config: map[string]any{"users": []any{
				map[string]any{"sub": "user:default/alice", "username": "alice", "email": "alice@example.com", "displayName": "Alice"},
			}}},
			"notify-default": {Config: map[string]any{}},
		}
	})
	cl := testclient.Must(testclient.Register(e.issuer, map[string]any{
		"client_name": "CIBA app", "grant_types": []string{"urn:openid:params:grant-type:ciba"},
		"backchannel_token_delivery_mode": "poll", "scope": "openid profile",
	}))(t)
	status, body, err := testclient.PostForm(e.issuer+"/v1/backchannel/authorize", cl.ID, cl.Secret,
		url.Values{"scope": {"openid profile"}, "login_hint": {"alice"}})
	id, _ := body["auth_req_id"].(string)
	if err != nil || status != http.StatusOK || id == "" {
		t.Fatalf("backchannel authorize: %d %v %v", status, body, err)
	}
	poll := func() (int, map[string]any) {
		status, body, err := testclient.PostForm(e.issuer+"/v1/token", cl.ID, cl.Secret, url.Values{
			"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {id}})
		if err != nil {
			t.Fatal(err)
		}
		return status, body
	}

	b := newBrowser(t)
	e.idp.signInAt(t, b, "alice@example.com")
	page := e.issuer + "/oauth2/backchannel/" + id
	a := b.do(t, http.MethodGet, page, "", "")
	link := regexp.MustCompile(`id="login-corp" href="([^"]+)"`).FindSubmatch(a.body)
	if a.status != http.StatusOK || link == nil || strings.Contains(string(a.body), `id="approve"`) {
		t.Fatalf("approval page offers no corp login: %d %.800s", a.status, a.body)
	}
	_, consent := b.follow(t, e.cfg.Server.PublicURL+strings.ReplaceAll(string(link[1]), "&amp;", "&"), e.idp.issuer+"/oauth2/authorize/")
	back := b.approveAtIdP(t, consent, e.issuer+"/corp/handler/frame")
	a, landed := b.follow(t, back, "")
	m := csrfValue.FindSubmatch(a.body)
	if landed != page || m == nil || !strings.Contains(string(a.body), `id="approve"`) {
		t.Fatalf("after sign-in landed on %s (want %s): %.800s", landed, page, a.body)
	}
	if status, body := poll(); body["error"] != "authorization_pending" {
		t.Fatalf("before approval: %d %v", status, body)
	}
	if res := b.postForm(t, page, url.Values{"_csrf": {string(m[1])}, "decision": {"approve"}}); res.status/100 >= 4 {
		t.Fatalf("approve: %d %.300s", res.status, res.body)
	}
	status, body = poll()
	idt, _ := body["id_token"].(string)
	if status != http.StatusOK || idt == "" {
		t.Fatalf("token after approval: %d %v", status, body)
	}
	if sub := jwtClaims(t, idt)["sub"]; sub != "user:default/alice" {
		t.Errorf("ID token sub %v", sub)
	}
	// The page's user signed in through the sign_in hook: its claims
	// reach the CIBA grant's tokens as they reach the code flow's.
	for what, raw := range map[string]string{"ID token": idt, "access token": body["access_token"].(string)} {
		if c := jwtClaims(t, raw); c["team"] != "platform" || c["sub"] != "user:default/alice" {
			t.Errorf("CIBA %s lacks the sign-in claims: %v", what, c)
		}
	}
}
