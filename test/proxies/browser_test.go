package proxies

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/twofold-auth/twofold/internal/browsertest"
)

// startBrowser starts Debian's chromium for the test, every host name mapped to this machine.
func startBrowser(t *testing.T, chromium string) context.Context {
	return browsertest.Start(t, chromium,
		// Every host of the tests is this machine; nothing else is looked up.
		chromedp.Flag("host-resolver-rules", "MAP * 127.0.0.1"),
		// Plain http on these names, as the proxies serve them: no upgrade to https.
		chromedp.Flag("disable-features", "HttpsUpgrades,HttpsFirstBalancedModeAutoEnable"),
	)
}

// tab is the browser's tab.
type tab struct{ *browsertest.Tab }

func newTab(t *testing.T, ctx context.Context) *tab {
	return &tab{&browsertest.Tab{T: t, Ctx: ctx}}
}
