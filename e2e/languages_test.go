package e2e_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/core/ciba"
	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/locale"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// TestPagesInEachLanguage renders the consent page and the CIBA approval
// page in headless Chromium whose Accept-Language is English, then
// German: the login step and the pages speak the browser's language
// (<html lang>, the shipped texts, a custom scope's configured text), and
// a screenshot of each page in each language is kept in the test's
// artifact directory (go test -artifacts, or the path logged).
func TestPagesInEachLanguage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts headless Chromium")
	}
	l := servertest.Start(t, func(cfg *config.Config) {
		cfg.Log.Level = "error"
		cfg.Plugins.Dir, cfg.Plugins.Watch = "", false
		cfg.Registration.CustomScopes = []string{"catalog.read"}
		cfg.UI.Scopes = []config.ScopeTexts{{Scope: "catalog.read", Texts: map[string]locale.ScopeText{
			"en": {Name: "Read the software catalog", Description: "Entities and their relations."},
			"de": {Name: "Den Softwarekatalog lesen", Description: "Entitäten und ihre Beziehungen."},
		}}}
	})
	web := testclient.Must(testclient.Register(l.Issuer, map[string]any{
		"client_name": "Catalog web", "redirect_uris": []string{"http://127.0.0.1:9/callback"},
		"scope": "openid profile email catalog.read",
	}))(t)
	device := testclient.Must(testclient.Register(l.Issuer, map[string]any{
		"client_name": "Kiosk", "grant_types": []string{"urn:openid:params:grant-type:ciba"},
		"backchannel_token_delivery_mode": "poll", "scope": "openid profile email catalog.read",
	}))(t)
	conf := oauth2.Config{ClientID: web.ID, ClientSecret: web.Secret, RedirectURL: "http://127.0.0.1:9/callback",
		Endpoint: oauth2.Endpoint{AuthURL: l.Issuer + "/v1/authorize", TokenURL: l.Issuer + "/v1/token"},
		Scopes:   []string{"openid", "profile", "email", "catalog.read"}}

	shots := t.ArtifactDir()
	for _, tc := range []struct {
		lang, accept, signIn string
		consent, approval    []string
	}{
		{"en", "en-GB,en;q=0.9", "Sign in · Gatehouse",
			[]string{"Catalog web wants to access your account", "It will be able to", "Confirm who you are",
				"See your email address", "Read the software catalog", "Entities and their relations.", "Approve", "Deny"},
			[]string{"Kiosk asks you to sign in", "Code shown by the application", "K-4821",
				"Approve only if you started this on Kiosk and it shows the same code.", "Read the software catalog"}},
		{"de", "de-DE,de;q=0.9,en;q=0.5", "Anmelden · Gatehouse",
			[]string{"Catalog web möchte auf Ihr Konto zugreifen", "Die Anwendung darf", "Ihre Identität bestätigen",
				"Ihre E-Mail-Adresse sehen", "Den Softwarekatalog lesen", "Entitäten und ihre Beziehungen.", "Zulassen", "Ablehnen"},
			[]string{"Kiosk bittet um Ihre Anmeldung", "Angezeigter Code", "K-4821",
				"dort derselbe Code angezeigt wird", "Den Softwarekatalog lesen"}},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			browser := testclient.Browser(t, ctx, chromedp.Flag("accept-lang", tc.accept), chromedp.WindowSize(900, 1100))

			// The consent page: sign in as the guest on its login step.
			authURL := conf.AuthCodeURL("st-"+tc.lang, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
			if err := chromedp.Do(browser, chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.ID("login-guest"))); err != nil {
				t.Fatalf("login step: %v", err)
			}
			title, err := chromedp.Run(browser, chromedp.Title())
			if err != nil {
				t.Fatal(err)
			}
			if title != tc.signIn {
				t.Errorf("login step title %q, want %q", title, tc.signIn)
			}
			if err := chromedp.Do(browser, chromedp.Click(chromedp.ID("login-guest")), chromedp.WaitVisible(chromedp.ID("approve"))); err != nil {
				t.Fatalf("sign in as guest: %v", err)
			}
			checkVisible(t, browser, "consent page", tc.lang, tc.consent)
			screenshot(t, browser, filepath.Join(shots, "consent-"+tc.lang+".png"))

			// The approval page of a CIBA request for the guest, signed in
			// already.
			status, body, err := testclient.PostForm(l.Issuer+"/v1/backchannel/authorize", device.ID, device.Secret, url.Values{
				"scope": {"openid catalog.read"}, "login_hint": {"guest"}, "binding_message": {"K-4821"},
			})
			id, _ := body["auth_req_id"].(string)
			if err != nil || status != http.StatusOK || id == "" {
				t.Fatalf("backchannel authorize: %d %v %v", status, body, err)
			}
			if err := chromedp.Do(browser, chromedp.Navigate(l.Issuer+ciba.PagePath+id), chromedp.WaitVisible(chromedp.ID("approve"))); err != nil {
				t.Fatalf("approval page: %v", err)
			}
			checkVisible(t, browser, "approval page", tc.lang, tc.approval)
			screenshot(t, browser, filepath.Join(shots, "approval-"+tc.lang+".png"))
		})
	}
}

// checkVisible checks the page's language and that its visible text
// (innerText: what the user reads) has every one of want.
func checkVisible(t *testing.T, browser context.Context, name, lang string, want []string) {
	t.Helper()
	text, err := chromedp.Run(browser, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	attr, err := chromedp.Run(browser, chromedp.AttributeValue(chromedp.CSS("html"), "lang"))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	got := attr.Value
	if got != lang {
		t.Errorf("%s: <html lang=%q>, want %q", name, got, lang)
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s (%s) does not show %q:\n%s", name, lang, w, text)
		}
	}
}

// screenshot saves the whole page as a PNG at path and logs where.
func screenshot(t *testing.T, browser context.Context, path string) {
	t.Helper()
	png, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}
