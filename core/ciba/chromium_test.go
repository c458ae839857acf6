package ciba_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// TestApprovalPageInChromium drives the approval page in headless
// Chromium, from the link the notify webhook carried: the login step signs
// in as the guest, the page shows the client, scope and binding message,
// Approve is posted with its CSRF token, and the client's poll gets the
// tokens. A second request is denied the same way.
func TestApprovalPageInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts headless Chromium")
	}
	e := start(t, options{})
	cl := e.client(t, "poll", "", nil)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	browserCtx := testclient.Browser(t, ctx)

	id := e.startRequest(t, cl, loginHint("guest", "binding_message", "BX-4821", "scope", "openid email"))
	approval, _ := e.webhook.next(t).Body["approval_url"].(string)
	if !strings.HasSuffix(approval, id) {
		t.Fatalf("notification approval_url %q", approval)
	}
	text := testclient.GuestApproval(t, browserCtx, approval)
	for _, want := range []string{"CIBA test app", "BX-4821", "Guest", "See your email address"} {
		if !strings.Contains(text, want) {
			t.Errorf("approval step lacks %q: %q", want, text)
		}
	}
	var err error
	if text, err = chromedp.Run(browserCtx, chromedp.Text(chromedp.ID("done"))); err != nil || text != "Approved" {
		t.Errorf("done step %q (%v)", text, err)
	}
	if status, body := e.poll(t, cl, id); status != 200 || body["id_token"] == nil {
		t.Fatalf("poll after page approval: %d %v", status, body)
	}

	// Signed in already: the second request goes straight to Approve/Deny.
	id = e.startRequest(t, cl, loginHint("guest"))
	approval, _ = e.webhook.next(t).Body["approval_url"].(string)
	if err := chromedp.Do(browserCtx,
		chromedp.Navigate(approval),
		chromedp.WaitVisible(chromedp.ID("deny")),
		chromedp.Click(chromedp.ID("deny")),
		chromedp.WaitVisible(chromedp.ID("done")),
	); err != nil {
		t.Fatalf("browser: deny: %v", err)
	}
	if text, err = chromedp.Run(browserCtx, chromedp.Text(chromedp.ID("done"))); err != nil || text != "Denied" {
		t.Errorf("done step %q (%v)", text, err)
	}
	if status, body := e.poll(t, cl, id); body["error"] != "access_denied" {
		t.Fatalf("poll after page denial: %d %v", status, body)
	}
	// Both decisions are in the history, as page decisions.
	status, body := e.admin(t, "/admin/ciba/history?client_id="+cl.ID, adminToken)
	hist, _ := body["history"].([]any)
	if status != 200 || len(hist) != 2 {
		t.Fatalf("history: %d %v", status, body)
	}
	newest, _ := hist[0].(map[string]any)
	if newest["decision"] != "denied" || newest["via"] != "page" {
		t.Errorf("newest history entry %v", newest)
	}
}
