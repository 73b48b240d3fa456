package apps

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/twofold-auth/twofold/internal/browsertest"
)

// tab is one browser tab. It keeps the address of every document it loaded, redirects
// included, so that a test can tell which sites a visit went through.
type tab struct {
	*browsertest.Tab

	mu   sync.Mutex
	docs []string
}

func newTab(t *testing.T, ctx context.Context) *tab {
	t.Helper()
	b := &tab{Tab: &browsertest.Tab{T: t, Ctx: ctx}}
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

// shot saves a screenshot of the page to $TWOFOLD_SCREENS when it is set: the pages of an
// application's sign-in, for a person to look at.
func (b *tab) shot(name string) {
	b.T.Helper()
	dir := os.Getenv("TWOFOLD_SCREENS")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(b.Ctx, browsertest.Wait)
	defer cancel()
	img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.T.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.T.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), img, 0o644); err != nil {
		b.T.Fatal(err)
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
