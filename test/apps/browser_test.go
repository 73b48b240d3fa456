package apps

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
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

// tab is one browser tab. It keeps the address of every document it loaded, redirects
// included, so that a test can tell which sites a visit went through.
type tab struct {
	t   *testing.T
	ctx context.Context

	mu   sync.Mutex
	docs []string
}

func newTab(t *testing.T, ctx context.Context) *tab {
	t.Helper()
	b := &tab{t: t, ctx: ctx}
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && e.Type == network.ResourceTypeDocument {
			b.mu.Lock()
			b.docs = append(b.docs, e.Request.URL)
			b.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// documents answers the documents loaded since the last call.
func (b *tab) documents() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.docs
	b.docs = nil
	return d
}

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

// shot saves a screenshot of the page to $TWOFOLD_SCREENS when it is set: the pages of an
// application's sign-in, for a person to look at.
func (b *tab) shot(name string) {
	b.t.Helper()
	dir := os.Getenv("TWOFOLD_SCREENS")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), img, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// totp answers the code an authenticator app shows now for secret, computed by oathtool. The
// server runs on the real clock, so the code is given a whole step: when fewer than 5 seconds
// of the current 30-second step remain, it waits for the next one.
func totp(t *testing.T, secret string) string {
	t.Helper()
	const step = 30 * time.Second
	now := time.Now()
	if left := step - time.Duration(now.UnixNano())%step; left < 5*time.Second {
		time.Sleep(left)
		now = time.Now()
	}
	out, err := exec.Command("oathtool", "--totp", "-b", "--now", now.UTC().Format("2006-01-02 15:04:05 UTC"), secret).Output()
	if err != nil {
		t.Fatalf("oathtool: %v", err)
	}
	return strings.TrimSpace(string(out))
}
