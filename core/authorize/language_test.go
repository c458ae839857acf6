package authorize_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/locale"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// TestConsentPageLanguage: the consent page speaks the language
// Accept-Language asks for (de here), with the configured texts of a
// custom scope and the shipped ones of the standard scopes, and says so
// in <html lang>, Content-Language and Vary; a header it cannot read or
// whose languages it does not speak gets English, the default. The
// security headers are the same in every language, and the client's name
// stays escaped in the translated sentences.
func TestConsentPageLanguage(t *testing.T) {
	e := start(t, func(c *config.Config) {
		c.Registration.CustomScopes = []string{"catalog.read", "deploy"}
		c.UI.Scopes = []config.ScopeTexts{{Scope: "catalog.read", Texts: map[string]locale.ScopeText{
			"en": {Name: "Read the catalog", Description: "Entities and their relations."},
			"de": {Name: "Den Katalog lesen", Description: "Entitäten und ihre Beziehungen."},
		}}}
	})
	e.client(t, "app", store.ClientMetadata{ClientName: "Catalog <CLI>", Scope: "openid profile catalog.read deploy"})
	b := newBrowser(t)
	p := authParams("app")
	p.Set("scope", "openid profile catalog.read deploy")
	id := e.authorize(t, b, p)
	get := func(lang string) answer {
		t.Helper()
		return b.do(t, http.MethodGet, e.pageURL(id), http.Header{"Accept-Language": {lang}}, "")
	}

	login := get("de-DE,de;q=0.9,en;q=0.5")
	checkPage(t, "login step (de)", login, "de", `<title>Anmelden · Gatehouse</title>`,
		"Melden Sie sich an, um mit Catalog &lt;CLI&gt; fortzufahren", "Als Gast fortfahren", ">Abbrechen</button>")
	a := b.postForm(t, e.issuer+"/guest/start", url.Values{"_csrf": {csrfOf(t, login)}, "returnTo": {e.cfg.Server.BasePath + "/oauth2/authorize/" + id}})
	if a.status != http.StatusSeeOther {
		t.Fatalf("guest start: %d %s", a.status, a.body)
	}

	de := get("en;q=0.4, de")
	checkPage(t, "consent step (de)", de, "de", "Catalog &lt;CLI&gt; möchte auf Ihr Konto zugreifen", "Die Anwendung darf",
		"Ihre Identität bestätigen", "Ihren Namen und Ihr Bild sehen", "Den Katalog lesen", "Entitäten und ihre Beziehungen.",
		"<code>deploy</code> verwenden", ">Zulassen</button>", ">Ablehnen</button>", ">Nicht Sie?</button>")
	for _, header := range []string{"", "!!;q=x,,", "fr-CA, it;q=0.8", "de;q=0"} {
		en := get(header)
		checkPage(t, "consent step ("+header+")", en, "en", "Catalog &lt;CLI&gt; wants to access your account",
			"Confirm who you are", "Read the catalog", "Entities and their relations.", "Use <code>deploy</code>", ">Approve</button>")
		for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "Cache-Control", "Referrer-Policy",
			"Cross-Origin-Opener-Policy", "X-Content-Type-Options"} {
			if en.header.Get(h) != de.header.Get(h) {
				t.Errorf("%s differs by language: en %q, de %q", h, en.header.Get(h), de.header.Get(h))
			}
		}
	}

	// The error pages speak it too: a form without its CSRF token, an
	// unknown session.
	a = b.do(t, http.MethodPost, e.pageURL(id), http.Header{"Accept-Language": {"de"}, "Content-Type": {"application/x-www-form-urlencoded"}},
		url.Values{"decision": {"approve"}}.Encode())
	if a.status != http.StatusForbidden {
		t.Fatalf("post without CSRF token: %d", a.status)
	}
	checkPage(t, "CSRF error page (de)", a, "de", "Dieses Formular ist abgelaufen")
	a = b.do(t, http.MethodGet, e.pageURL("nope"), http.Header{"Accept-Language": {"de-AT"}}, "")
	if a.status != http.StatusNotFound {
		t.Fatalf("unknown session: %d", a.status)
	}
	checkPage(t, "expired page (de)", a, "de", "Diese Anfrage ist abgelaufen", "Kehren Sie zur Anwendung zurück")
}

// checkPage checks that a page is in lang and shows every one of want.
func checkPage(t *testing.T, name string, a answer, lang string, want ...string) {
	t.Helper()
	html := string(a.body)
	if !strings.Contains(html, `<html lang="`+lang+`">`) || a.header.Get("Content-Language") != lang ||
		!strings.Contains(a.header.Get("Vary"), "Accept-Language") {
		t.Errorf("%s: not marked %s: Content-Language %q, Vary %q, %.120s", name, lang,
			a.header.Get("Content-Language"), a.header.Get("Vary"), html)
	}
	for _, w := range want {
		if !strings.Contains(html, w) {
			t.Errorf("%s lacks %q", name, w)
		}
	}
}
