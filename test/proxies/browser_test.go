package proxies

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserWait bounds one browser action. It is generous on purpose: the test waits for
// conditions (a page loaded, an element shown), never for a fixed time, and a loaded 2-core
// machine may be slow, so only a browser that is stuck reaches it.
const browserWait = 2 * time.Minute

// startBrowser starts Debian's chromium for the test, with a profile of its own, and answers
// a context bound to its first tab.
func startBrowser(t *testing.T, chromium string) context.Context {
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
		// Every host of the tests is this machine; nothing else is looked up.
		chromedp.Flag("host-resolver-rules", "MAP * 127.0.0.1"),
		// Plain http on these names, as the proxies serve them: no upgrade to https.
		chromedp.Flag("disable-features", "HttpsUpgrades,HttpsFirstBalancedModeAutoEnable"),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // starts the browser, bound to ctx
		t.Fatalf("chromium does not start: %v", err)
	}
	return ctx
}

// tab is the browser's tab; t is the (sub)test that drives it now.
type tab struct {
	t   *testing.T
	ctx context.Context
}

func newTab(t *testing.T, ctx context.Context) *tab { return &tab{t: t, ctx: ctx} }

func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// open loads url and waits until the page at the end of its redirects has loaded.
func (b *tab) open(url string) {
	b.t.Helper()
	b.do(chromedp.Navigate(url))
}

// press clicks what leads to another page and waits for it; it answers the page's status.
func (b *tab) press(sel string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("browser: click %s on %s: %v", sel, b.location(), err)
	}
	return resp.Status
}

func (b *tab) typeIn(sel, text string) {
	b.t.Helper()
	b.do(chromedp.SendKeys(chromedp.CSS(sel), text))
}

func eval[T any](b *tab, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("browser: %s: %v", expr, err)
	}
	return v
}

// text answers the text of the first element matching sel ("" when there is none), its
// white space folded.
func (b *tab) text(sel string) string {
	b.t.Helper()
	return strings.Join(strings.Fields(eval[string](b, fmt.Sprintf(
		`(document.querySelector(%q) || {textContent: ""}).textContent`, sel))), " ")
}

func (b *tab) texts(sel string) []string {
	b.t.Helper()
	return eval[[]string](b, fmt.Sprintf(
		`Array.from(document.querySelectorAll(%q), e => e.textContent.trim())`, sel))
}

// waitFor waits until the JavaScript condition cond holds on the page shown, through the
// navigations that may come first: a page that goes on by itself (a redirect, a refresh) ends
// the context a poll runs in, so each try is a new evaluation.
func (b *tab) waitFor(cond string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return
		}
		select {
		case <-ctx.Done():
			b.t.Fatalf("browser: waiting for %s on %s: %v; page says: %s", cond, b.location(), err, b.text("body"))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// settle waits until the page shown has loaded and is not Twofold's "Continuing" page, which
// a finished sign-in or an answer on the consent page shows before it moves on by itself.
func (b *tab) settle() {
	b.t.Helper()
	b.waitFor(`document.readyState === "complete" && !document.getElementById("onward")`)
}

// location answers the address of the page shown.
func (b *tab) location() string {
	b.t.Helper()
	return eval[string](b, `document.location.href`)
}

// expectAt fails the test unless the page shown is at origin+path (the query aside).
func (b *tab) expectAt(origin, path string) {
	b.t.Helper()
	loc := eval[string](b, `document.location.origin + " " + document.location.pathname`)
	if loc != origin+" "+path {
		b.t.Fatalf("on %s, want %s%s; page says: %s", b.location(), origin, path, b.text("body"))
	}
}

// status opens url and answers the HTTP status of the document it ends at.
func (b *tab) status(url string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(url))
	if err != nil {
		b.t.Fatalf("browser: open %s: %v", url, err)
	}
	return resp.Status
}
