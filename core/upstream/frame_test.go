package upstream_test

import (
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestFrameHandlerPost: the frame handler takes the upstream's answer as
// a form post (OAuth 2.0 Form Post Response Mode) as well as a query: the
// sign-in, the upstream's error, and the refusals of a bad state all
// behave as for GET.
func TestFrameHandlerPost(t *testing.T) {
	e := startWithProvider(t, nil)
	frame := e.issuer + "/corp/handler/frame"
	const form = "application/x-www-form-urlencoded"

	t.Run("sign-in", func(t *testing.T) {
		b := newBrowser(t)
		e.idp.signInAt(t, b, "alice@example.com")
		_, consent := b.follow(t, e.issuer+"/corp/start?env=development&origin="+url.QueryEscape(e.origin), e.idp.issuer+"/oauth2/authorize/")
		back, err := url.Parse(b.approveAtIdP(t, consent, frame))
		if err != nil {
			t.Fatal(err)
		}
		answer := back.Query() // state, code, iss: posted instead
		if answer.Get("state") == "" || answer.Get("code") == "" {
			t.Fatalf("IdP answer %v", answer)
		}
		a := b.do(t, http.MethodPost, frame, form, answer.Encode())
		msg, origin := parseFrame(t, a)
		if origin != e.origin || msg.Response == nil {
			t.Fatalf("payload to %s: %+v", origin, msg)
		}
		id := msg.Response.BackstageIdentity.Identity
		if id.UserEntityRef != "user:default/alice" || !slices.Contains(id.OwnershipEntityRefs, "user:default/alice") {
			t.Errorf("identity %+v", id)
		}
		if a.header.Get("Cross-Origin-Opener-Policy") != "unsafe-none" {
			t.Errorf("COOP %q", a.header.Get("Cross-Origin-Opener-Policy"))
		}
		// Single use: the same post again is refused.
		if again := b.do(t, http.MethodPost, frame, form, answer.Encode()); again.status != http.StatusBadRequest {
			t.Errorf("replayed post: %d", again.status)
		}
		if a := b.xhr(t, http.MethodGet, e.issuer+"/corp/refresh?env=development"); a.status != http.StatusOK {
			t.Errorf("no provider session after the posted sign-in: %d %s", a.status, a.body)
		}
	})

	t.Run("upstream error", func(t *testing.T) {
		b := newBrowser(t)
		start := b.do(t, http.MethodGet, e.issuer+"/corp/start?env=development&origin="+url.QueryEscape(e.origin), "", "")
		to, err := url.Parse(start.header.Get("Location"))
		if start.status != http.StatusFound || err != nil || to.Query().Get("state") == "" {
			t.Fatalf("start: %d %q", start.status, start.header.Get("Location"))
		}
		a := b.do(t, http.MethodPost, frame, form, url.Values{
			"state": {to.Query().Get("state")}, "error": {"access_denied"}, "error_description": {"the user said no"},
		}.Encode())
		msg, _ := parseFrame(t, a)
		if msg.Response != nil || msg.Error == nil || !strings.Contains(msg.Error.Message, "access_denied the user said no") {
			t.Errorf("upstream error: %+v %+v", msg.Response, msg.Error)
		}
	})

	t.Run("upstream error on a page, in the browser's language", func(t *testing.T) {
		b := newBrowser(t)
		base, err := url.Parse(e.issuer)
		if err != nil {
			t.Fatal(err)
		}
		start := b.do(t, http.MethodGet, e.issuer+"/corp/start?env=development&returnTo="+url.QueryEscape(base.Path+"/oauth2/authorize/x"), "", "")
		to, err := url.Parse(start.header.Get("Location"))
		if start.status != http.StatusFound || err != nil || to.Query().Get("state") == "" {
			t.Fatalf("start: %d %q", start.status, start.header.Get("Location"))
		}
		req, err := http.NewRequest(http.MethodPost, frame, strings.NewReader(url.Values{
			"state": {to.Query().Get("state")}, "error": {"access_denied"}, "error_description": {"<b>nein</b>"},
		}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", form)
		req.Header.Set("Accept-Language", "de-CH, en;q=0.5")
		resp, err := b.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, want := range []string{`<html lang="de">`, "<h1>Anmeldung nicht möglich</h1>",
			"Der Anmeldedienst hat abgelehnt: access_denied &lt;b&gt;nein&lt;/b&gt;"} {
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), want) {
				t.Errorf("%d: the error page lacks %q: %.600s", resp.StatusCode, want, body)
			}
		}
	})

	for _, tt := range []struct{ name, body string }{
		{"no state", "code=abc"},
		{"unknown state", "state=nope&code=abc"},
		{"state too long", "code=abc&state=" + strings.Repeat("s", 300)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newBrowser(t).do(t, http.MethodPost, frame, form, tt.body)
			if a.status != http.StatusBadRequest || strings.Contains(string(a.body), "authResponse") {
				t.Errorf("%d %.300s", a.status, a.body)
			}
		})
	}

	t.Run("state from another browser", func(t *testing.T) {
		start := newBrowser(t).do(t, http.MethodGet, e.issuer+"/corp/start?env=development", "", "")
		to, _ := url.Parse(start.header.Get("Location"))
		a := newBrowser(t).do(t, http.MethodPost, frame, form, url.Values{"state": {to.Query().Get("state")}, "code": {"abc"}}.Encode())
		if a.status != http.StatusBadRequest || !strings.Contains(string(a.body), "another browser") {
			t.Errorf("%d %.300s", a.status, a.body)
		}
	})
}
