package upstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// clientApp is an OAuth client's web app on 127.0.0.1: its page opens
// ?open=<url> in a popup and records the messages it gets; /callback (the
// redirect URI) hands its URL to window.opener, as popup sign-ins do.
func clientApp(t *testing.T) (origin string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/callback", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>callback</title><script>
if (window.opener) { window.opener.postMessage({type: 'callback', href: location.href}, location.origin); }
document.title = window.opener ? 'posted' : 'no opener';
</script>`))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		open, _ := json.Marshal(r.URL.Query().Get("open"))
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>app</title><script>
window.got = [];
window.addEventListener('message', function (e) { window.got.push({origin: e.origin, type: e.data && e.data.type, href: e.data && e.data.href}); });
window.popup = window.open(` + string(open) + `, 'login', 'width=400,height=400');
</script><p id="ready">app</p>`))
	})
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: mux}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("client app: %v", err)
		}
	}()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// TestPopupKeepsOpener: a client app opens Gatehouse's authorization
// request in a popup; the popup goes through the consent page's login step
// (guest), the consent page and back to the app's callback, which still
// has window.opener and hands it the code. The server's COOP same-origin
// on any of those pages would have severed it.
func TestPopupKeepsOpener(t *testing.T) {
	if testing.Short() {
		t.Skip("starts headless Chromium")
	}
	app := clientApp(t)
	e := start(t, nil)
	if !e.cfg.Guest.Enabled {
		t.Fatal("the embedded configuration's guest is off")
	}
	redirectURI := app + "/callback"
	cl := testclient.Must(testclient.Register(e.issuer, map[string]any{
		"client_name": "popup app", "redirect_uris": []string{redirectURI}, "scope": "openid profile",
	}))(t)
	q := url.Values{"response_type": {"code"}, "client_id": {cl.ID}, "redirect_uri": {redirectURI}, "scope": {"openid"},
		"state": {"st1"}, "code_challenge": {s256(testclient.RandomVerifier())}, "code_challenge_method": {"S256"}}
	authorize := e.issuer + "/v1/authorize?" + q.Encode()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	browserCtx := testclient.Browser(t, ctx, chromedp.Flag("disable-popup-blocking", true))
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("browser: %v", err)
	}
	popupID := chromedp.WaitNewTarget(browserCtx, func(*target.Info) bool { return true })
	if err := chromedp.Do(browserCtx,
		chromedp.Navigate(app+"/?open="+url.QueryEscape(authorize)),
		chromedp.WaitVisible(chromedp.ID("ready")),
	); err != nil {
		t.Fatalf("browser: app page: %v", err)
	}
	var id target.ID
	select {
	case id = <-popupID:
	case <-ctx.Done():
		t.Fatal("no popup opened")
	}
	popup, cancelPopup := chromedp.NewContext(browserCtx, chromedp.WithTargetID(id))
	defer cancelPopup()
	if err := chromedp.Do(popup,
		chromedp.WaitVisible(chromedp.ID("login-guest")),
		chromedp.Click(chromedp.ID("login-guest")),
		chromedp.WaitVisible(chromedp.ID("approve")),
	); err != nil {
		t.Fatalf("browser: consent page in the popup: %v", err)
	}
	if closed, err := chromedp.Run(browserCtx, chromedp.Evaluate[bool](`window.popup.closed`)); err != nil || closed {
		t.Fatalf("the app lost its popup at the consent page (closed %v, %v)", closed, err)
	}
	if err := chromedp.Do(popup, chromedp.Click(chromedp.ID("approve"))); err != nil {
		t.Fatalf("browser: approve: %v", err)
	}
	if _, err := chromedp.Run(browserCtx, chromedp.Poll[chromedp.Void](`window.got.length > 0`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		title, _ := chromedp.Run(popup, chromedp.Title())
		t.Fatalf("the callback never reached the opener (popup title %q): %v", title, err)
	}
	got, err := chromedp.Run(browserCtx, chromedp.Evaluate[[]struct{ Origin, Type, Href string }](`window.got`))
	if err != nil {
		t.Fatal(err)
	}
	cb, err := url.Parse(got[0].Href)
	if err != nil || got[0].Type != "callback" || got[0].Origin != app || cb.Query().Get("code") == "" || cb.Query().Get("state") != "st1" {
		t.Errorf("opener got %+v", got)
	}
}

// TestPopupPagesHeaders: every response a popup flow passes through (the
// authorization request's redirect, the consent page, the login forms'
// targets, the provider's start and frame handler) allows the opener,
// while the API keeps COOP same-origin.
func TestPopupPagesHeaders(t *testing.T) {
	e := startWithProvider(t, func(c *config.Config) { c.Server.AppURL = "" })
	cl := testclient.Must(testclient.Register(e.issuer, map[string]any{
		"client_name": "popup app", "redirect_uris": []string{"http://127.0.0.1:9/cb"}, "scope": "openid",
	}))(t)
	q := url.Values{"response_type": {"code"}, "client_id": {cl.ID}, "redirect_uri": {"http://127.0.0.1:9/cb"}, "scope": {"openid"},
		"code_challenge": {s256(testclient.RandomVerifier())}, "code_challenge_method": {"S256"}}
	b := newBrowser(t)
	redirect := b.do(t, http.MethodGet, e.issuer+"/v1/authorize?"+q.Encode(), "", "")
	consent := b.do(t, http.MethodGet, redirect.header.Get("Location"), "", "")
	cases := []struct {
		name   string
		a      answer
		status int
		coop   string
	}{
		{"authorization request", redirect, http.StatusFound, "unsafe-none"},
		{"consent page", consent, http.StatusOK, "unsafe-none"},
		{"provider start", b.do(t, http.MethodGet, e.issuer+"/corp/start?env=development&returnTo=/api/auth/x", "", ""), http.StatusFound, "unsafe-none"},
		{"frame handler error", b.do(t, http.MethodGet, e.issuer+"/corp/handler/frame?state=nope", "", ""), http.StatusBadRequest, "unsafe-none"},
		{"frame handler POST error", b.do(t, http.MethodPost, e.issuer+"/corp/handler/frame", "application/x-www-form-urlencoded", "state=nope"), http.StatusBadRequest, "unsafe-none"},
		{"guest start", b.do(t, http.MethodPost, e.issuer+"/guest/start", "application/x-www-form-urlencoded", "returnTo=/api/auth/x"), http.StatusForbidden, "unsafe-none"},
		{"discovery (API)", b.do(t, http.MethodGet, e.issuer+"/.well-known/openid-configuration", "", ""), http.StatusOK, "same-origin"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			if tt.a.status != tt.status || tt.a.header.Get("Cross-Origin-Opener-Policy") != tt.coop {
				t.Errorf("%d COOP %q, want %d %q", tt.a.status, tt.a.header.Get("Cross-Origin-Opener-Policy"), tt.status, tt.coop)
			}
		})
	}
}
