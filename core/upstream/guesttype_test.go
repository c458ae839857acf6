package upstream_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// TestGuestTypeProvider: a providers entry of type guest signs in the
// guest section's user through the provider routes: start (popup, and
// the pages' login step), handler/frame with the Backstage payload,
// refresh, logout; the guest section's own /guest/refresh keeps working.
func TestGuestTypeProvider(t *testing.T) {
	e := start(t, func(c *config.Config) {
		c.Server.BasePath = "/api/auth"
		c.Server.AppURL = appOrigin
		c.Guest.UserEntityRef = "user:default/visitor"
		c.Guest.OwnershipEntityRefs = []string{"user:default/visitor", "group:default/visitors"}
		c.Providers = map[string]map[string]config.Provider{"local": {"development": {
			Type: config.ProviderGuest, DisplayName: "Continue as guest (local)",
		}}}
	})
	wantEnt := []string{"user:default/visitor", "group:default/visitors"}
	b := newBrowser(t)

	// Popup: start → frame handler at once → postMessage to the app.
	a, frame := b.follow(t, e.issuer+"/local/start?env=development&origin="+url.QueryEscape(appOrigin), "")
	if !strings.HasPrefix(frame, e.issuer+"/local/handler/frame?") {
		t.Fatalf("start went to %s", frame)
	}
	msg, origin := parseFrame(t, a)
	if origin != appOrigin || msg.Response == nil {
		t.Fatalf("payload to %s: %+v", origin, msg)
	}
	bi := msg.Response.BackstageIdentity
	if bi.Identity.Type != "user" || bi.Identity.UserEntityRef != "user:default/visitor" ||
		!slices.Equal(bi.Identity.OwnershipEntityRefs, wantEnt) || msg.Response.Profile.DisplayName != "Guest" {
		t.Errorf("identity %+v profile %+v", bi.Identity, msg.Response.Profile)
	}
	id, err := e.srv.Issuer().VerifyIdentityToken(context.Background(), bi.Token)
	if err != nil || id.Subject != "user:default/visitor" || !slices.Equal(id.Ownership, wantEnt) {
		t.Fatalf("identity token %+v %v", id, err)
	}
	// The state is single use: replaying the frame URL signs nobody in.
	if again := b.do(t, http.MethodGet, frame, "", ""); again.status != http.StatusBadRequest {
		t.Errorf("replayed frame URL: %d %.200s", again.status, again.body)
	}
	// A made-up state with the guest code is refused too.
	if forged := newBrowser(t).do(t, http.MethodGet, e.issuer+"/local/handler/frame?state=x&code=guest", "", ""); forged.status != http.StatusBadRequest {
		t.Errorf("forged frame answer: %d", forged.status)
	}

	refresh := func(b browser) (int, string) {
		t.Helper()
		a := b.xhr(t, http.MethodGet, e.issuer+"/local/refresh?env=development")
		var got struct {
			BackstageIdentity struct {
				Token    string `json:"token"`
				Identity struct {
					UserEntityRef string `json:"userEntityRef"`
				} `json:"identity"`
			} `json:"backstageIdentity"`
		}
		_ = json.Unmarshal(a.body, &got)
		return a.status, got.BackstageIdentity.Identity.UserEntityRef
	}
	if status, sub := refresh(b); status != http.StatusOK || sub != "user:default/visitor" {
		t.Errorf("refresh: %d %q", status, sub)
	}
	if status, _ := refresh(newBrowser(t)); status != http.StatusUnauthorized {
		t.Errorf("refresh without a session: %d", status)
	}
	if a := b.xhr(t, http.MethodPost, e.issuer+"/local/logout"); a.status != http.StatusOK {
		t.Fatalf("logout: %d %s", a.status, a.body)
	}
	if status, _ := refresh(b); status != http.StatusUnauthorized {
		t.Errorf("refresh after logout: %d", status)
	}

	// The guest section's routes are untouched.
	if a := newBrowser(t).do(t, http.MethodGet, e.issuer+"/guest/refresh", "", ""); a.status != http.StatusOK ||
		!strings.Contains(string(a.body), `"userEntityRef":"user:default/visitor"`) {
		t.Errorf("/guest/refresh: %d %s", a.status, a.body)
	}
}

// TestGuestTypePageLogin: the consent page's login step offers the guest
// type provider, and signing in through it makes the guest the user of
// the consent session.
func TestGuestTypePageLogin(t *testing.T) {
	e := start(t, func(c *config.Config) {
		c.Guest.Enabled = false // only the provider offers the guest
		c.Providers = map[string]map[string]config.Provider{"local": {"development": {Type: config.ProviderGuest}}}
	})
	b := newBrowser(t)
	redirectURI := "http://127.0.0.1:9/callback"
	cl := testclient.Must(testclient.Register(e.issuer, map[string]any{
		"client_name": "page app", "redirect_uris": []string{redirectURI}, "scope": "openid",
	}))(t)
	q := url.Values{"response_type": {"code"}, "client_id": {cl.ID}, "redirect_uri": {redirectURI}, "scope": {"openid"},
		"state": {"s"}, "code_challenge": {s256(testclient.RandomVerifier())}, "code_challenge_method": {"S256"}}
	a, page := b.follow(t, e.issuer+"/v1/authorize?"+q.Encode(), "")
	link := regexp.MustCompile(`id="login-local" href="([^"]+)"`).FindSubmatch(a.body)
	if a.status != http.StatusOK || link == nil || strings.Contains(string(a.body), `id="login-guest"`) {
		t.Fatalf("consent page login step: %d %.800s", a.status, a.body)
	}
	a, landed := b.follow(t, e.cfg.Server.PublicURL+strings.ReplaceAll(string(link[1]), "&amp;", "&"), "")
	if landed != page || !strings.Contains(string(a.body), `id="approve"`) || !strings.Contains(string(a.body), "Guest") {
		t.Fatalf("after the guest sign-in landed on %s (want %s): %.600s", landed, page, a.body)
	}
}
