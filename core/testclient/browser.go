package testclient

import (
	"context"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// Browser starts headless Chromium (installed by make test) for the test
// and returns its chromedp context, derived from ctx and closed when the
// test ends. extra adds launch flags.
func Browser(t testing.TB, ctx context.Context, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (apt-get install chromium), or run with -short: %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("headless", true))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(opts, extra...)...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	return browserCtx
}

// GuestApproval is a person at one of Gatehouse's pages in the browser:
// it opens target, checks the login step, signs in as the guest, reads
// the approval step's text (returned for the caller's checks) and
// approves, waiting for the done step.
func GuestApproval(t testing.TB, browserCtx context.Context, target string) (approvalText string) {
	t.Helper()
	if err := chromedp.Do(browserCtx,
		chromedp.Navigate(target),
		chromedp.WaitVisible(chromedp.ID("login-guest")),
	); err != nil {
		t.Fatalf("browser: login step: %v", err)
	}
	title, err := chromedp.Run(browserCtx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if title != "Sign in · Gatehouse" {
		t.Errorf("login step title %q", title)
	}
	if err := chromedp.Do(browserCtx,
		chromedp.Click(chromedp.ID("login-guest")),
		chromedp.WaitVisible(chromedp.ID("approve")),
	); err != nil {
		t.Fatalf("browser: sign in as guest: %v", err)
	}
	approvalText, err = chromedp.Run(browserCtx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(browserCtx,
		chromedp.Click(chromedp.ID("approve")),
		chromedp.WaitVisible(chromedp.ID("done")),
	); err != nil {
		t.Fatalf("browser: approve: %v", err)
	}
	return approvalText
}
