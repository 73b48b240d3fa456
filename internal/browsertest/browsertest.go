// Package browsertest drives Debian's chromium for the tests that walk a person's way through
// Twofold's pages and the applications in front of it (internal/web, test/apps, test/proxies):
// start the browser, open more tabs with cookies of their own (Isolated) when a test needs
// several people, then act and look through a tab, each action bounded by Wait. It is imported
// by tests only.
package browsertest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Wait bounds one browser action. It is generous on purpose: the tests wait for conditions (a
// page loaded, an element shown), never for a fixed time, and a loaded 2-core machine may be
// slow, so only a browser that is stuck reaches it.
const Wait = 2 * time.Minute

// Start starts Debian's chromium for t, with a profile of its own and the extra options, and
// answers a context bound to its first tab.
func Start(t *testing.T, chromium string, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(1000, 800),
	)
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // starts the browser, bound to ctx
		t.Fatalf("chromium does not start: %v", err)
	}
	return ctx
}

// Isolated opens another tab of the browser that ctx belongs to, in a browser context of its own
// (its own cookies, as another person's browser), and answers a context bound to it until
// the test ends.
func Isolated(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	tctx, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(tctx); err != nil { // opens the tab, bound to tctx (not to a timeout)
		t.Fatalf("chromium does not open a tab: %v", err)
	}
	return tctx
}

// Tab is one tab of the browser, Ctx from Start or Isolated; T is the (sub)test that drives it.
type Tab struct {
	T   *testing.T
	Ctx context.Context
}

// Do runs chromedp steps within Wait, failing the test on an error.
func (b *Tab) Do(steps ...chromedp.Action[chromedp.Void]) {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, Wait)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.T.Fatalf("browser: %v", err)
	}
}

// Open loads url and waits until the page at the end of its redirects has loaded.
func (b *Tab) Open(url string) {
	b.T.Helper()
	b.Do(chromedp.Navigate(url))
}

// Press clicks what leads to another page and waits for it; it answers the page's status.
func (b *Tab) Press(sel string) int64 {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, Wait)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.T.Fatalf("browser: click %s on %s: %v", sel, b.Location(), err)
	}
	return resp.Status
}

// TypeIn types text into the element matching sel.
func (b *Tab) TypeIn(sel, text string) {
	b.T.Helper()
	b.Do(chromedp.SendKeys(chromedp.CSS(sel), text))
}

// Eval answers the value of the JavaScript expression expr on the page shown.
func Eval[T any](b *Tab, expr string) T {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, Wait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.T.Fatalf("browser: %s: %v", expr, err)
	}
	return v
}

// Text answers the text of the first element matching sel ("" when there is none), its
// white space folded.
func (b *Tab) Text(sel string) string {
	b.T.Helper()
	return strings.Join(strings.Fields(Eval[string](b, fmt.Sprintf(
		`(document.querySelector(%q) || {textContent: ""}).textContent`, sel))), " ")
}

// Texts answers the trimmed text of every element matching sel.
func (b *Tab) Texts(sel string) []string {
	b.T.Helper()
	return Eval[[]string](b, fmt.Sprintf(
		`Array.from(document.querySelectorAll(%q), e => e.textContent.trim())`, sel))
}

// WaitFor waits until the JavaScript condition cond holds on the page shown, through the
// navigations that may come first: a page that goes on by itself (a redirect, a refresh) ends
// the context a poll runs in, so each try is a new evaluation.
func (b *Tab) WaitFor(cond string) {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, Wait)
	defer cancel()
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return
		}
		select {
		case <-ctx.Done():
			b.T.Fatalf("browser: waiting for %s on %s: %v; page says: %s", cond, b.Location(), err, b.Text("body"))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Settle waits until the page shown has loaded and is not Twofold's "Continuing" page, which
// a finished sign-in or an answer on the consent page shows before it moves on by itself.
func (b *Tab) Settle() {
	b.T.Helper()
	b.WaitFor(`document.readyState === "complete" && !document.getElementById("onward")`)
}

// Location answers the address of the page shown.
func (b *Tab) Location() string {
	b.T.Helper()
	return Eval[string](b, `document.location.href`)
}

// ExpectAt fails the test unless the page shown is at origin+path (the query aside).
func (b *Tab) ExpectAt(origin, path string) {
	b.T.Helper()
	loc := Eval[string](b, `document.location.origin + " " + document.location.pathname`)
	if loc != origin+" "+path {
		b.T.Fatalf("on %s, want %s%s; page says: %s", b.Location(), origin, path, b.Text("body"))
	}
}

// Status opens url and answers the HTTP status of the document it ends at.
func (b *Tab) Status(url string) int64 {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, Wait)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(url))
	if err != nil {
		b.T.Fatalf("browser: open %s: %v", url, err)
	}
	return resp.Status
}
