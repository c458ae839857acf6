package upstream_test

import (
	"context"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

// buildWat compiles testdata/<name>.wat into dir/<name>.wasm.
func buildWat(t *testing.T, dir, name string) {
	t.Helper()
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		if testing.Short() {
			t.Skipf("-short needs no toolchain, and wat2wasm (wabt) builds testdata/%s.wat", name)
		}
		t.Fatalf("wat2wasm (wabt) is needed to build testdata/%s.wat: %v", name, err)
	}
	out, err := exec.Command(wat2wasm, filepath.Join("testdata", name+".wat"), "-o", filepath.Join(dir, name+".wasm")).CombinedOutput()
	if err != nil {
		t.Fatalf("wat2wasm %s: %v\n%s", name, err, out)
	}
}

// TestSignInClaims: the sign_in hook's extra claims reach the Backstage
// identity token, and through the consent page (login session → code →
// grant) the ID token and the access tokens, refreshed ones included.
// The registered names the plugin also sets (sub, iss, ent, aud, exp,
// scope, client_id) are never taken from it.
func TestSignInClaims(t *testing.T) {
	dir := t.TempDir()
	buildWat(t, dir, "claimer")
	e := startWithProvider(t, func(c *config.Config) {
		c.Server.AppURL = "" // the consent page is the server's own
		c.Plugins.Dir = dir
		c.Plugins.Hooks = map[string]any{"sign_in": map[string]any{"corp": "claimer"}}
	})
	e.origin = e.cfg.AppOrigins()[0]
	const sub = "user:default/alice"
	wantEnt := []any{"user:default/alice", "group:default/staff"}
	check := func(what string, claims map[string]any, aud string) {
		t.Helper()
		if claims["team"] != "platform" || !slices.Equal(anySlice(claims["groups"]), []any{"platform", "oncall"}) {
			t.Errorf("%s: plugin claims missing: %v", what, claims)
		}
		if claims["sub"] != sub || claims["iss"] != e.issuer || !slices.Equal(anySlice(claims["ent"]), wantEnt) {
			t.Errorf("%s: registered claims taken from the plugin: %v", what, claims)
		}
		if a, _ := claims["aud"].(string); a != aud {
			t.Errorf("%s: aud %v, want %s", what, claims["aud"], aud)
		}
		if exp, _ := claims["exp"].(float64); exp <= 1 {
			t.Errorf("%s: exp %v taken from the plugin", what, claims["exp"])
		}
		if claims["scope"] == "admin" || claims["client_id"] == "other" {
			t.Errorf("%s: scope/client_id taken from the plugin: %v", what, claims)
		}
	}

	// The popup: the identity token.
	msg, _ := e.popupSignIn(t, newBrowser(t), "alice@example.com")
	if msg.Response == nil {
		t.Fatalf("refused: %+v", msg.Error)
	}
	check("identity token", jwtClaims(t, msg.Response.BackstageIdentity.Token), "backstage")
	if msg.Response.BackstageIdentity.Identity.UserEntityRef != sub {
		t.Errorf("userEntityRef %q", msg.Response.BackstageIdentity.Identity.UserEntityRef)
	}

	// The consent page: sign in through corp, approve, redeem, refresh.
	b := newBrowser(t)
	e.idp.signInAt(t, b, "alice@example.com")
	f, a, _ := e.signInOnPage(t, b, map[string]any{
		"client_name": "claims app", "grant_types": []string{"authorization_code", "refresh_token"},
		"scope": "openid profile email offline_access",
	}, "openid email offline_access")
	tok := f.redeem(t, b, e, a)
	cl := f.cl
	check("ID token", jwtClaims(t, tok["id_token"].(string)), cl.ID)
	// The embedded configuration's users' access tokens are Backstage user tokens.
	check("access token", jwtClaims(t, tok["access_token"].(string)), token.BackstageAudience)
	if v, err := e.srv.Issuer().VerifyAccessToken(context.Background(), tok["access_token"].(string)); err != nil || v.Subject != sub {
		t.Errorf("access token does not verify as %s: %+v %v", sub, v, err)
	}
	rt, _ := tok["refresh_token"].(string)
	if rt == "" {
		t.Fatalf("no refresh token: %v", tok)
	}
	status, tok, err := testclient.PostForm(e.issuer+"/v1/token", cl.ID, cl.Secret, url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	if err != nil || status != http.StatusOK {
		t.Fatalf("refresh: %d %v %v", status, tok, err)
	}
	check("refreshed access token", jwtClaims(t, tok["access_token"].(string)), token.BackstageAudience)
}

// TestSignInClaimsBearerApproval: a consent approved through the API with
// a Backstage identity token carries that token's extra claims into the
// grant (what the identity token says is who approved).
func TestSignInClaimsBearerApproval(t *testing.T) {
	dir := t.TempDir()
	buildWat(t, dir, "claimer")
	e := startWithProvider(t, func(c *config.Config) {
		c.Plugins.Dir = dir
		c.Plugins.Hooks = map[string]any{"sign_in": map[string]any{"corp": "claimer"}}
	})
	msg, _ := e.popupSignIn(t, newBrowser(t), "alice@example.com")
	if msg.Response == nil {
		t.Fatalf("refused: %+v", msg.Error)
	}
	id, err := e.srv.Issuer().VerifyIdentityToken(context.Background(), msg.Response.BackstageIdentity.Token)
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != "user:default/alice" || id.Claims["team"] != "platform" {
		t.Errorf("verified identity %+v", id)
	}
	for _, name := range []string{"sub", "iss", "ent", "aud", "exp", "iat"} {
		if _, ok := id.Claims[name]; ok {
			t.Errorf("registered claim %s among the identity's extra claims: %v", name, id.Claims)
		}
	}
}

func anySlice(v any) []any {
	s, _ := v.([]any)
	return s
}
