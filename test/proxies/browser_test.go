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

// signIn opens target, which the proxy sends to Twofold's sign-in page, and signs p in there
// with the password; what Twofold asks next is the caller's.
func (tf *twofold) signIn(b *browsertest.Tab, target string, p *person) {
	b.T.Helper()
	b.Open(target)
	b.ExpectAt(tf.base, "/signin")
	b.TypeIn("#username", p.name)
	b.TypeIn("#password", p.password)
	b.Press(`form[action="/signin"] button`)
}
