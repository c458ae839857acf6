package upstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// appServer is a web app on 127.0.0.1 (its allowed origin) and, on the
// same port, reachable as localhost (a foreign origin). Its page opens
// ?open=<url> in a popup and records every message it receives.
func appServer(t *testing.T) (port string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target, _ := json.Marshal(r.URL.Query().Get("open"))
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>app</title><script>
window.got = [];
window.addEventListener('message', function (e) { window.got.push({origin: e.origin, type: e.data && e.data.type, data: e.data}); });
window.popup = window.open(` + string(target) + `, 'login', 'width=400,height=400');
</script><p id="ready">app</p>`))
	})}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("app server: %v", err)
		}
	}()
	t.Cleanup(func() { _ = srv.Close() })
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port
}

// frameURL runs a sign-in up to the upstream's redirect back and returns
// that URL with the browser-binding cookie the start set.
func (e *providerEnv) frameURL(t *testing.T, email string) (string, *http.Cookie) {
	t.Helper()
	b := newBrowser(t)
	e.idp.signInAt(t, b, email)
	_, consent := b.follow(t, e.issuer+"/corp/start?env=development", e.idp.issuer+"/oauth2/authorize/")
	back := b.approveAtIdP(t, consent, e.issuer+"/corp/handler/frame")
	u, _ := url.Parse(e.issuer + "/corp/handler/frame")
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == "gatehouse_corp_nonce" {
			return back, c
		}
	}
	t.Fatal("no nonce cookie")
	return "", nil
}

// TestPostMessageInChromium: the frame handler's page hands the sign-in to
// its opener at the app origin, and a page of another origin that opens
// the same answer receives only the config_info hint, never the identity.
func TestPostMessageInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts headless Chromium")
	}
	port := appServer(t)
	allowed, foreign := "http://127.0.0.1:"+port, "http://localhost:"+port
	e := startWithProvider(t, func(c *config.Config) { c.Server.AppURL = allowed })

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	browserCtx := testclient.Browser(t, ctx, chromedp.Flag("disable-popup-blocking", true))

	type message struct {
		Origin string         `json:"origin"`
		Type   string         `json:"type"`
		Data   map[string]any `json:"data"`
	}
	run := func(t *testing.T, appOrigin string) []message {
		t.Helper()
		back, cookie := e.frameURL(t, "alice@example.com")
		httpOnly := true
		setCookie := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, network.SetCookie, network.SetCookieParams{
				Name: cookie.Name, Value: cookie.Value, URL: e.issuer + "/corp/handler/frame",
				Path: e.cfg.Server.BasePath + "/corp", HTTPOnly: &httpOnly,
			})
			return err
		})
		if err := chromedp.Do(browserCtx,
			setCookie,
			chromedp.Navigate(appOrigin+"/app?open="+url.QueryEscape(back)),
			chromedp.WaitVisible(chromedp.ID("ready")),
		); err != nil {
			t.Fatalf("browser: %v", err)
		}
		// The popup posts config_info then the answer, then closes itself:
		// wait for it to be gone, then for messages still queued.
		if _, err := chromedp.Run(browserCtx, chromedp.Poll[chromedp.Void](`window.popup && window.popup.closed && window.got.length > 0`,
			chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			state, _ := chromedp.Run(browserCtx, chromedp.Evaluate[string](`JSON.stringify({popup: !!window.popup, closed: window.popup && window.popup.closed, got: window.got})`))
			t.Fatalf("browser: popup: %v (page state %s)", err, state)
		}
		got, err := chromedp.Run(browserCtx, chromedp.Evaluate[[]message](
			`new Promise(function (r) { setTimeout(function () { r(window.got); }, 300); })`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("browser: messages: %v", err)
		}
		return got
	}

	t.Run("opener at the app origin", func(t *testing.T) {
		got := run(t, allowed)
		var answer *message
		for i := range got {
			if got[i].Type == "authorization_response" {
				answer = &got[i]
			}
		}
		if answer == nil {
			t.Fatalf("no authorization_response among %+v", got)
		}
		resp, _ := answer.Data["response"].(map[string]any)
		bi, _ := resp["backstageIdentity"].(map[string]any)
		id, _ := bi["identity"].(map[string]any)
		if answer.Origin != e.cfg.Server.PublicURL || id["userEntityRef"] != "user:default/alice" || bi["token"] == "" {
			t.Errorf("answer from %s: %+v", answer.Origin, answer.Data)
		}
	})
	t.Run("opener at a foreign origin", func(t *testing.T) {
		got := run(t, foreign)
		for _, m := range got {
			if m.Type != "config_info" || strings.Contains(mustJSON(t, m.Data), "backstageIdentity") {
				t.Errorf("foreign opener received %+v", m)
			}
		}
		if len(got) == 0 {
			t.Error("the popup posted nothing at all (config_info expected)")
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}
