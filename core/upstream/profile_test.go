package upstream_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// TestSignInProfileClaims: a sign_in plugin sets the OIDC Core §5.4
// claims (email, email_verified, name, preferred_username, picture) among
// its extra claims; they become the user's profile, which the identity
// token keeps, and reach the ID token and userinfo for the scopes granted
// only, whether the consent page approves (login session) or the session
// API does (with the identity token).
func TestSignInProfileClaims(t *testing.T) {
	dir := t.TempDir()
	buildWat(t, dir, "profiler")
	e := startWithProvider(t, func(c *config.Config) {
		c.Server.AppURL = "" // the consent page is the server's own
		c.Plugins.Dir = dir
		c.Plugins.Hooks = map[string]any{"sign_in": map[string]any{"corp": "profiler"}}
	})
	e.origin = e.cfg.AppOrigins()[0]
	profile := map[string]any{"name": "Alice Liddell", "preferred_username": "aliddell", "picture": "https://img.example/alice.png"}
	email := map[string]any{"email": "alice@corp.example", "email_verified": true}
	check := func(t *testing.T, what string, claims, want map[string]any) {
		t.Helper()
		for _, c := range []string{"name", "preferred_username", "picture", "email", "email_verified"} {
			if got, there := claims[c]; got != want[c] {
				t.Errorf("%s: %s %v (there: %v), want %v", what, c, got, there, want[c])
			}
		}
	}

	// The popup: the identity token carries the whole profile.
	msg, _ := e.popupSignIn(t, newBrowser(t), "alice@example.com")
	if msg.Response == nil {
		t.Fatalf("refused: %+v", msg.Error)
	}
	identityToken := msg.Response.BackstageIdentity.Token
	check(t, "identity token", jwtClaims(t, identityToken), merged(profile, email))
	if msg.Response.Profile.Email != "alice@corp.example" || msg.Response.Profile.DisplayName != "Alice Liddell" {
		t.Errorf("Backstage profile %+v", msg.Response.Profile)
	}
	id, err := e.srv.Issuer().VerifyIdentityToken(context.Background(), identityToken)
	if err != nil {
		t.Fatal(err)
	}
	if id.Profile.Email != "alice@corp.example" || id.Profile.EmailVerified == nil || !*id.Profile.EmailVerified ||
		id.Profile.Username != "aliddell" || id.Claims["team"] != "platform" || id.Claims["email"] != nil {
		t.Errorf("verified identity: profile %+v, claims %v", id.Profile, id.Claims)
	}

	for _, tc := range []struct {
		scope string
		want  map[string]any
	}{
		{"openid profile email offline_access", merged(profile, email)},
		{"openid email offline_access", email},
		{"openid offline_access", nil},
	} {
		t.Run("page/"+tc.scope, func(t *testing.T) {
			b := newBrowser(t)
			e.idp.signInAt(t, b, "alice@example.com")
			f, a, _ := e.signInOnPage(t, b, map[string]any{
				"grant_types": []string{"authorization_code", "refresh_token"}, "scope": "openid profile email offline_access",
			}, tc.scope)
			tok := f.redeem(t, b, e, a)
			check(t, "ID token", jwtClaims(t, tok["id_token"].(string)), tc.want)
			check(t, "userinfo", userinfo(t, e.issuer, tok["access_token"].(string)), tc.want)
		})
		t.Run("api/"+tc.scope, func(t *testing.T) {
			tok := approveByAPI(t, e, tc.scope, identityToken)
			check(t, "ID token", jwtClaims(t, tok["id_token"].(string)), tc.want)
			check(t, "userinfo", userinfo(t, e.issuer, tok["access_token"].(string)), tc.want)
		})
	}
}

func merged(a, b map[string]any) map[string]any {
	m := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

func userinfo(t *testing.T, issuer, accessToken string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, issuer+"/v1/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	status, body, err := testclient.Do(req)
	if err != nil || status != http.StatusOK {
		t.Fatalf("userinfo: %d %v %v", status, body, err)
	}
	return body
}

// approveByAPI registers a client, authorizes scope, approves through the
// session API with the identity token bearer and redeems the code.
func approveByAPI(t *testing.T, e *providerEnv, scope, bearer string) map[string]any {
	t.Helper()
	const redirectURI = "http://127.0.0.1:9/callback"
	cl := testclient.Must(testclient.Register(e.issuer, map[string]any{
		"redirect_uris": []string{redirectURI}, "scope": "openid profile email offline_access",
	}))(t)
	verifier := testclient.RandomVerifier()
	q := url.Values{"response_type": {"code"}, "client_id": {cl.ID}, "redirect_uri": {redirectURI},
		"scope": {scope}, "code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"}}
	resp, err := testclient.NoRedirect.Get(e.issuer + "/v1/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	session := resp.Header.Get("Location")
	session = session[strings.LastIndex(session, "/")+1:]
	status, body, err := testclient.PostJSON(e.issuer+"/v1/sessions/"+session+"/approve", bearer, nil)
	redirect, _ := body["redirectUrl"].(string)
	if err != nil || status != http.StatusOK || redirect == "" {
		t.Fatalf("approve: %d %v %v", status, body, err)
	}
	code := testclient.Must(url.Parse(redirect))(t).Query().Get("code")
	status, tok, err := testclient.PostForm(e.issuer+"/v1/token", cl.ID, cl.Secret, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}})
	if err != nil || status != http.StatusOK {
		t.Fatalf("token: %d %v %v", status, tok, err)
	}
	return tok
}

// TestLogoutEndsProviderSession: RP-initiated logout (OpenID Connect
// RP-Initiated Logout 1.0) after a sign-in through a provider on the
// consent page ends both the login session and the provider session that
// sign-in started: the provider's refresh answers 401 afterwards, and the
// browser's refresh cookie is cleared.
func TestLogoutEndsProviderSession(t *testing.T) {
	e := startWithProvider(t, func(c *config.Config) { c.Server.AppURL = "" })
	e.origin = e.cfg.AppOrigins()[0]
	b := newBrowser(t)
	e.idp.signInAt(t, b, "alice@example.com")
	f, a, _ := e.signInOnPage(t, b, map[string]any{"post_logout_redirect_uris": []string{"http://127.0.0.1:9/bye"}}, "openid")
	tok := f.redeem(t, b, e, a)
	if r := b.xhr(t, http.MethodGet, e.issuer+"/corp/refresh?env=development"); r.status != http.StatusOK {
		t.Fatalf("refresh before logout: %d %s", r.status, r.body)
	}
	refreshURL, _ := url.Parse(e.issuer + "/corp/refresh")
	var refreshCookie *http.Cookie
	for _, c := range b.Jar.Cookies(refreshURL) {
		if strings.HasSuffix(c.Name, "_refresh") {
			refreshCookie = c
		}
	}
	if refreshCookie == nil {
		t.Fatal("no provider refresh cookie after signing in")
	}
	out := b.do(t, http.MethodGet, e.issuer+"/v1/logout?"+url.Values{
		"id_token_hint": {tok["id_token"].(string)}, "post_logout_redirect_uri": {"http://127.0.0.1:9/bye"}}.Encode(), "", "")
	if out.status != http.StatusFound || out.header.Get("Location") != "http://127.0.0.1:9/bye" {
		t.Fatalf("logout: %d %q %.300s", out.status, out.header.Get("Location"), out.body)
	}
	if r := b.xhr(t, http.MethodGet, e.issuer+"/corp/refresh?env=development"); r.status != http.StatusUnauthorized {
		t.Errorf("refresh after logout: %d %s, want 401", r.status, r.body)
	}
	for _, c := range b.Jar.Cookies(refreshURL) {
		if strings.HasSuffix(c.Name, "_refresh") {
			t.Errorf("refresh cookie %s still in the browser", c.Name)
		}
	}
	// The provider session itself is gone: its old cookie, sent again,
	// refreshes nothing.
	refreshCookie.Path = e.cfg.Server.BasePath + "/corp"
	b.Jar.SetCookies(refreshURL, []*http.Cookie{refreshCookie})
	if r := b.xhr(t, http.MethodGet, e.issuer+"/corp/refresh?env=development"); r.status != http.StatusUnauthorized {
		t.Errorf("refresh with the old cookie after logout: %d %s, want 401", r.status, r.body)
	}
}
