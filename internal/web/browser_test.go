package web_test

// The browser test drives Debian's chromium through chromedp against a real server (the same
// wiring as serve, a SQLite file, the outbox, a clock the test moves and the default argon2id cost),
// with the real peers a person would use: zbarimg reads the QR code off the page and oathtool
// computes the codes. It saves a screenshot of every screen to $TWOFOLD_SCREENS or
// <repo>/tmp/screens (not committed); with TWOFOLD_DOC_SCREENS=1 it also writes the small
// ones that the README shows to docs/screens/.
//
// It is long, so `go test -short` skips it; without chromium, oathtool or zbarimg it is
// skipped too, except in CI (env CI set), where that is a failure.

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/twofold-auth/twofold/internal/account"

	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/password"
)

// need answers the path of a program the test talks to, skipping (or, in CI, failing) without it.
func need(t *testing.T, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is required in CI (Debian: apt-get install -y chromium oathtool zbar-tools)", names[0])
	}
	t.Skipf("%s is not installed", names[0])
	return ""
}

// docScreens are the screenshots committed under docs/screens/ and shown in the README.
var docScreens = map[string]bool{
	"01-signin": true, "03-enroll-manual": true, "10-verification-required": true, "06-backup-codes": true,
	"13-regenerate-dialog": true, "22-options-mfa": true, "23-confirm": true, "27-account": true,
}

// browserWait bounds one browser action. It is generous on purpose: the test waits for
// conditions (a page loaded, an element shown), never for a fixed time, and a loaded 2-core
// machine may be slow, so only a browser that is stuck reaches it.
const browserWait = 2 * time.Minute

// tab is one browser tab with its own cookies.
type tab struct {
	t       *testing.T
	ctx     context.Context
	app     *testApp
	screens string
	// base is the server's address as this tab uses it; empty is the app's own (127.0.0.1).
	base string
}

func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// open loads a page of the server.
func (b *tab) open(path string) {
	b.t.Helper()
	base := b.base
	if base == "" {
		base = b.app.url
	}
	b.do(chromedp.Navigate(base + path))
}

// press clicks what leads to another page and waits for it; it answers the page's status.
func (b *tab) press(sel string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("browser: click %s: %v", sel, err)
	}
	return resp.Status
}

func (b *tab) typeIn(sel, text string) {
	b.t.Helper()
	b.do(chromedp.SendKeys(chromedp.CSS(sel), text))
}

// text answers the text of the first element matching sel ("" when there is none).
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

func (b *tab) visible(sel string) bool {
	b.t.Helper()
	return eval[bool](b, fmt.Sprintf(`(() => { const e = document.querySelector(%q);
		return !!e && e.checkVisibility({visibilityProperty: true}); })()`, sel))
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

// waitFor waits until the JavaScript condition cond holds on the page.
func (b *tab) waitFor(cond string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(0))); err != nil {
		b.t.Fatalf("browser: waiting for %s: %v", cond, err)
	}
}

// code answers the code an authenticator app shows for secret by the server's clock, which the
// test moves: every code is chosen at the start of a step the server is in, so none runs out.
func (b *tab) code(secret string) string {
	b.t.Helper()
	return oathtool(b.t, secret, b.app.clock.Now())
}

// path answers the address of the page shown, without the server.
func (b *tab) path() string {
	b.t.Helper()
	loc := eval[string](b, `document.location.pathname + document.location.search`)
	return loc
}

func (b *tab) expectPath(want string) {
	b.t.Helper()
	if got := b.path(); got != want {
		b.t.Fatalf("on %s, want %s; page says: %s", got, want, b.text("main"))
	}
}

// shot saves a screenshot of the whole page.
func (b *tab) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.screens, name+".png"), img, 0o644); err != nil {
		b.t.Fatal(err)
	}
	if docScreens[name] && os.Getenv("TWOFOLD_DOC_SCREENS") != "" {
		writeDocScreen(b.t, name, img)
	}
}

// writeDocScreen writes a committed screenshot, reduced to a palette of its 256 most common
// colours (a flat page loses nothing that shows) and compressed, to stay small.
func writeDocScreen(t *testing.T, name string, img []byte) {
	t.Helper()
	m, err := png.Decode(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, toPalette(m)); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > 100<<10 {
		t.Errorf("docs/screens/%s.png would be %d KB; keep the committed ones under 100 KB", name, buf.Len()>>10)
		return
	}
	dir := filepath.Join("..", "..", "docs", "screens")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// toPalette maps m onto its 256 most common colours, each pixel to the nearest one.
func toPalette(m image.Image) *image.Paletted {
	b := m.Bounds()
	count := map[color.RGBA]int{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			count[color.RGBAModel.Convert(m.At(x, y)).(color.RGBA)]++
		}
	}
	colors := make([]color.RGBA, 0, len(count))
	for c := range count {
		colors = append(colors, c)
	}
	slices.SortFunc(colors, func(a, b color.RGBA) int {
		if d := count[b] - count[a]; d != 0 {
			return d
		}
		return int(a.R)<<16 + int(a.G)<<8 + int(a.B) - (int(b.R)<<16 + int(b.G)<<8 + int(b.B))
	})
	pal := color.Palette{}
	for _, c := range colors[:min(256, len(colors))] {
		pal = append(pal, c)
	}
	out := image.NewPaletted(b, pal)
	index := map[color.RGBA]uint8{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.RGBAModel.Convert(m.At(x, y)).(color.RGBA)
			i, ok := index[c]
			if !ok {
				i = uint8(pal.Index(c))
				index[c] = i
			}
			out.SetColorIndex(x, y, i)
		}
	}
	return out
}

// qrURI reads the QR code off the page with zbarimg.
func (b *tab) qrURI() string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	img, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS("#qr")))
	if err != nil {
		b.t.Fatalf("QR screenshot: %v", err)
	}
	file := filepath.Join(b.t.TempDir(), "qr.png")
	if err := os.WriteFile(file, img, 0o600); err != nil {
		b.t.Fatal(err)
	}
	out, err := exec.Command("zbarimg", "--raw", "-q", file).Output()
	if err != nil {
		b.t.Fatalf("zbarimg could not read the QR code on the page: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// oathtool answers the code of secret at time at, as an authenticator app computes it.
func oathtool(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	out, err := exec.Command("oathtool", "--totp", "-b", "--now", at.UTC().Format("2006-01-02 15:04:05 UTC"), secret).Output()
	if err != nil {
		t.Fatalf("oathtool: %v", err)
	}
	return strings.TrimSpace(string(out))
}

var groupsOfFour = regexp.MustCompile(`^([A-Z2-7]{4} )*[A-Z2-7]{1,4}$`)

// enrol goes through enrolment on the page: QR code read with zbarimg, checked against "Set up
// manually", Continue, oathtool's code, Verify. It answers the secret and the backup codes.
func (b *tab) enrol(username string, screens bool) (string, []string) {
	b.t.Helper()
	uri, err := url.Parse(b.qrURI())
	if err != nil || uri.Scheme != "otpauth" || uri.Host != "totp" {
		b.t.Fatalf("QR code holds %v (%v)", uri, err)
	}
	if uri.Path != "/Twofold:"+username || uri.Query().Get("issuer") != "Twofold" {
		b.t.Errorf("QR code names %q issuer %q", uri.Path, uri.Query().Get("issuer"))
	}
	secret := uri.Query().Get("secret")
	if b.visible("#key") {
		b.t.Errorf("the key shows before \"Set up manually\"")
	}
	b.do(chromedp.Click(chromedp.CSS("#manual summary")))
	if !b.visible("#key") {
		b.t.Fatalf("\"Set up manually\" does not show the key")
	}
	key := b.text("#key")
	if !groupsOfFour.MatchString(key) || strings.ReplaceAll(key, " ", "") != secret {
		b.t.Errorf("manual key %q, QR secret %q", key, secret)
	}
	if b.text("#key-type") != "Time based" || b.text("#account-name") != username {
		b.t.Errorf("manual set-up: type %q, account %q", b.text("#key-type"), b.text("#account-name"))
	}
	if screens {
		b.shot("03-enroll-manual")
	}
	if b.text("#continue") != "Continue" {
		b.t.Errorf("no Continue")
	}
	b.press("#continue")
	if b.text("h1") != "Verification Required" {
		b.t.Fatalf("after Continue: %s", b.text("main"))
	}
	if screens {
		b.shot("04-verification-required")
		// A wrong code is refused next to its field.
		now := b.app.clock.Now()
		wrong := "000000"
		for _, c := range []string{"000000", "111111", "222222"} {
			if !slices.Contains([]string{oathtool(b.t, secret, now.Add(-30*time.Second)), oathtool(b.t, secret, now),
				oathtool(b.t, secret, now.Add(30*time.Second))}, c) {
				wrong = c
				break
			}
		}
		b.typeIn("#code", wrong)
		if status := b.press(`main form button[type="submit"]`); status != http.StatusUnauthorized {
			b.t.Errorf("wrong code answered %d", status)
		}
		if !strings.Contains(b.text("#code-error"), "wrong") || !strings.Contains(b.text("#code-error"), "works once") {
			b.t.Errorf("wrong code: %s", b.text("main"))
		}
		b.shot("05-verify-error")
	}
	b.typeIn("#code", b.code(secret))
	if status := b.press(`main form button[type="submit"]`); status != http.StatusOK {
		b.t.Fatalf("Verify answered %d: %s", status, b.text("main"))
	}
	b.app.clock.Advance(30 * time.Second) // the code is used: an app shows the next one now
	codes := b.texts("#codes code")
	if len(codes) != 5 {
		b.t.Fatalf("%d backup codes shown: %s", len(codes), b.text("main"))
	}
	if !strings.Contains(b.text("#codes-for"), username) {
		b.t.Errorf("the codes do not name the account: %q", b.text("#codes-for"))
	}
	return secret, codes
}

// done leaves a backup codes page: it ticks "I have saved these codes" when nothing else did,
// and presses Done.
func (b *tab) done() {
	b.t.Helper()
	if eval[bool](b, `!!document.getElementById("saved") && !document.getElementById("saved").checked`) {
		b.do(chromedp.Click(chromedp.CSS("#saved")))
	}
	b.press("#done")
}

// enrolled answers whether an account has MFA set up, as the service sees it.
func (a *testApp) enrolled(name string) bool {
	a.t.Helper()
	v, err := a.svc.User(context.Background(), account.CLI, name)
	if err != nil {
		a.t.Fatal(err)
	}
	return v.MFA.Enrolled
}

// signIn fills in the sign-in page and presses "Sign In".
func (b *tab) signIn(username, pw string) {
	b.t.Helper()
	b.open("/signin")
	b.typeIn("#username", username)
	b.typeIn("#password", pw)
	if b.text(`form[action="/signin"] button`) != "Sign In" {
		b.t.Errorf("no Sign In button")
	}
	b.press(`form[action="/signin"] button`)
}

func (b *tab) newPassword() {
	b.t.Helper()
	b.expectPath("/signin/password")
	b.typeIn("#new_password", chosenPassword)
	b.typeIn("#confirm_password", chosenPassword)
	b.press(`form[action="/signin/password"] button`)
}

func (b *tab) signOut() {
	b.t.Helper()
	b.press("form.signout button")
	b.expectPath("/signin?m=signedout")
}

func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser test is long; CI runs it")
	}
	chromium := need(t, "chromium", "chromium-browser")
	need(t, "oathtool")
	need(t, "zbarimg")
	start := time.Now()

	screens := os.Getenv("TWOFOLD_SCREENS")
	if screens == "" {
		screens = filepath.Join("..", "..", "tmp", "screens")
	}
	if err := os.MkdirAll(screens, 0o755); err != nil {
		t.Fatal(err)
	}
	// The server's clock is the test's (see tab.code); hashing has the default cost.
	a := newApp(t, appConfig{params: password.DefaultParams})

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
		// twofold.test is a host name that is not loopback: over plain http there, a page is
		// not a secure context, and the browser sends no Sec-Fetch-Site with a form.
		chromedp.Flag("host-resolver-rules", "MAP twofold.test 127.0.0.1"),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx); err != nil { // starts the browser, bound to bctx
		t.Fatalf("chromium does not start: %v", err)
	}
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(bctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatal(err)
	}

	// alice uses a phone-sized window: every step must work at 375 px.
	alice := &tab{t: t, ctx: bctx, app: a, screens: screens}
	alice.do(chromedp.EmulateViewport(375, 740, chromedp.EmulateMobile))
	var aliceSecret string
	var codes []string

	t.Run("first sign-in with the emailed temporary password", func(t *testing.T) {
		alice.t = t
		temp := a.addUser("alice", false)
		alice.open("/signin")
		alice.shot("01-signin")
		alice.signIn("alice", temp)
		alice.expectPath("/signin/enroll")
		alice.shot("02-enroll")
		// A phone cannot scan its own screen: the otpauth link and the key come first.
		if !alice.visible("#open-app") || !alice.visible("#phone-key") || !alice.visible("#phone-copy") {
			t.Errorf("at 375 px there is no Open in authenticator app, key or Copy")
		}
		if !strings.HasPrefix(eval[string](alice, `document.getElementById("open-app").href`), "otpauth://totp/Twofold:alice?") {
			t.Errorf("Open in authenticator app leads elsewhere")
		}
		if !strings.Contains(alice.text("#adding"), "alice") {
			t.Errorf("the page does not say which account is added: %q", alice.text("#adding"))
		}
		aliceSecret, codes = alice.enrol("alice", true)
		alice.shot("06-backup-codes")

		// Copy and Print are there with JavaScript, and the script runs under the policy.
		if !alice.visible("[data-copy]") || !alice.visible("[data-print]") {
			t.Errorf("Copy and Print are hidden: app.js did not run")
		}
		// Done waits until the codes are saved; Download counts as saving them.
		if !eval[bool](alice, `document.getElementById("done").disabled`) {
			t.Errorf("Done can be pressed before the codes were saved")
		}
		alice.do(chromedp.Click(chromedp.CSS("[data-copy]")))
		alice.waitFor(`document.getElementById("copy-status").textContent !== ""`)

		// Download: the .txt file arrives and holds the codes.
		alice.do(chromedp.Click(chromedp.CSS("#download")))
		if eval[bool](alice, `document.getElementById("done").disabled || !document.getElementById("saved").checked`) {
			t.Errorf("Done is still held back after Download")
		}
		file := filepath.Join(downloads, "twofold-backup-codes.txt")
		var body []byte
		// The file is written by the browser, outside the page: look for it until it is whole.
		for deadline := time.Now().Add(browserWait); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if b, err := os.ReadFile(file); err == nil && bytes.Contains(b, []byte("Each code works once")) {
				body = b
				break
			}
		}
		if body == nil {
			entries, _ := os.ReadDir(downloads)
			t.Fatalf("no %s downloaded; the folder holds %v", filepath.Base(file), entries)
		}
		for _, c := range codes {
			if !bytes.Contains(body, []byte(c+"\n")) {
				t.Errorf("the downloaded file lacks %s", c)
			}
		}
		if !bytes.Contains(body, []byte("Account: alice\n")) || !bytes.Contains(body, []byte("Issuer: Twofold\n")) {
			t.Errorf("the downloaded file does not name the account and issuer:\n%s", body)
		}

		alice.press("#done")
		alice.expectPath("/signin/password")
		alice.shot("07-new-password")
		alice.newPassword()
		alice.expectPath("/profile?m=signedin")
		alice.shot("08-profile")
		alice.press("#security-tab")
		if alice.text("#codes-left") != "5" || !strings.Contains(alice.text("#mfa-status"), "Set up") {
			t.Errorf("Security tab: %s", alice.text("#mfa"))
		}
		alice.shot("09-security")
		alice.signOut()
	})

	t.Run("sign in with backup codes", func(t *testing.T) {
		alice.t = t
		if len(codes) < 3 {
			t.Skip("no codes from the first sign-in")
		}
		for i := range 3 {
			alice.signIn("alice", chosenPassword)
			alice.expectPath("/signin/verify")
			if i == 0 {
				alice.shot("10-verification-required")
			}
			if alice.text("#use-backup") != "Use a backup code" {
				t.Fatalf("no \"Use a backup code\": %s", alice.text("main"))
			}
			alice.press("#use-backup")
			alice.expectPath("/signin/backup")
			if i == 0 {
				alice.shot("11-backup-code")
			}
			alice.typeIn("#backup_code", codes[i])
			alice.press(`main form button[type="submit"]`)
			if i < 2 {
				alice.expectPath("/profile?m=signedin")
				alice.signOut()
				continue
			}
			// The third leaves 2: the page warns.
			if !strings.Contains(alice.text("#codes-low"), "Only 2 backup codes left") {
				t.Fatalf("no low-codes warning: %s", alice.text("main"))
			}
			alice.shot("12-backup-codes-low")
			if !alice.visible("form.signout") || !alice.visible("#regenerate-link") {
				t.Errorf("after a backup code: no top bar or no link to Regenerate")
			}
			alice.done()
			alice.expectPath("/profile")
		}
	})

	t.Run("regenerate backup codes", func(t *testing.T) {
		alice.t = t
		if aliceSecret == "" {
			t.Skip("alice is not enrolled")
		}
		alice.open("/profile/security")
		if alice.visible("#regenerate") {
			t.Errorf("the dialog shows before it is asked for")
		}
		alice.do(chromedp.Click(chromedp.CSS("#regenerate-open")))
		if !alice.visible("#regenerate") || alice.text("#regen-h") != "Regenerate Backup Codes" {
			t.Fatalf("no Regenerate Backup Codes dialog")
		}
		// The dialog is modal: focus goes to its field, Escape closes it.
		alice.waitFor(`document.activeElement && document.activeElement.id === "code"`)
		alice.do(chromedp.KeyEvent(kb.Escape))
		alice.waitFor(`!document.getElementById("regenerate").checkVisibility()`)
		alice.do(chromedp.Click(chromedp.CSS("#regenerate-open")))
		alice.waitFor(`document.activeElement && document.activeElement.id === "code"`)
		alice.shot("13-regenerate-dialog")
		alice.typeIn("#code", alice.code(aliceSecret))
		if alice.text("#regenerate-verify") != "Verify And Regenerate" {
			t.Errorf("button %q", alice.text("#regenerate-verify"))
		}
		if status := alice.press("#regenerate-verify"); status != http.StatusOK {
			t.Fatalf("regenerate answered %d: %s", status, alice.text("main"))
		}
		fresh := alice.texts("#codes code")
		if len(fresh) != 5 || slices.Contains(fresh, codes[3]) {
			t.Fatalf("new codes %v", fresh)
		}
		alice.shot("14-new-backup-codes")
		// Done waits for the box; ticking it is enough.
		if !eval[bool](alice, `document.getElementById("done").disabled`) {
			t.Errorf("Done can be pressed before the codes were saved")
		}
		alice.do(chromedp.Click(chromedp.CSS("#saved")))
		if eval[bool](alice, `document.getElementById("done").disabled`) {
			t.Errorf("Done is still disabled with the box ticked")
		}
		alice.press("#done")
		if alice.text("#codes-left") != "5" {
			t.Errorf("codes left after regenerating: %q", alice.text("#codes-left"))
		}
	})

	// The admin works in another browser context (its own cookies), at desktop size.
	actx, cancelAdmin := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	defer cancelAdmin()
	if err := chromedp.Do(actx); err != nil { // opens the tab, bound to actx (not to a timeout)
		t.Fatal(err)
	}
	admin := &tab{t: t, ctx: actx, app: a, screens: screens}
	admin.do(chromedp.EmulateViewport(800, 700))

	t.Run("admin changes internalMFA through the confirmation", func(t *testing.T) {
		admin.t = t
		temp, err := a.svc.Bootstrap(context.Background(), "admin@localhost")
		if err != nil || temp == "" {
			t.Fatalf("bootstrap: %q %v", temp, err)
		}
		admin.signIn("admin", temp)
		admin.expectPath("/signin/enroll")
		if admin.visible("#open-app") {
			t.Errorf("a desktop window shows the phone set-up")
		}
		admin.enrol("admin", false)
		admin.done()
		admin.newPassword()

		admin.open("/admin/options")
		all := len(admin.texts("#options-grid tbody tr"))
		admin.shot("20-options")
		admin.typeIn("#search", "MFA")
		admin.press("#search-button")
		keys := eval[[]string](admin, `Array.from(document.querySelectorAll("#options-grid tbody tr"), r => r.dataset.key)`)
		var want []string
		for _, o := range options.Search("MFA") {
			want = append(want, o.Key)
		}
		if !slices.Equal(keys, want) || len(keys) >= all {
			t.Fatalf("searching MFA shows %v of %d, want %v", keys, all, want)
		}
		admin.shot("22-options-mfa")
		admin.do(chromedp.SetValue(chromedp.CSS("#opt-internalMFA"), "optional"))
		admin.press("#save")
		if admin.text("h1") != "Change configuration options" || admin.text("#confirm") != "Confirm" {
			t.Fatalf("no confirmation: %s", admin.text("main"))
		}
		if a.option(options.InternalMFA) != "required" {
			t.Fatalf("Save changed the option before Confirm")
		}
		admin.shot("23-confirm")
		admin.press("#confirm")
		if a.option(options.InternalMFA) != "optional" {
			t.Fatalf("Confirm did not save internalMFA")
		}
		if !strings.Contains(admin.text(".notice"), "within 5 seconds") {
			t.Errorf("no notice of when it takes effect: %s", admin.text("main"))
		}
		admin.shot("24-options-saved")
	})

	t.Run("a cross-origin form post is refused", func(t *testing.T) {
		admin.t = t
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><title>Win a prize</title>
<form method="post" action="%s/admin/options/confirm"><input type="hidden" name="internalMFA" value="off">
<button id="go" type="submit">Claim</button></form>`, a.url)
		}))
		defer evil.Close()
		// localhost is another site than 127.0.0.1, as an attacker's page would be.
		evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)
		admin.do(chromedp.Navigate(evilURL))
		if status := admin.press("#go"); status != http.StatusForbidden {
			t.Errorf("the cross-origin post answered %d", status)
		}
		admin.shot("25-cross-origin-refused")
		if got := a.option(options.InternalMFA); got != "optional" {
			t.Fatalf("a cross-origin post changed internalMFA to %q", got)
		}
	})

	t.Run("admin resets MFA and the user is sent to enrolment", func(t *testing.T) {
		admin.t = t
		alice.t = t
		admin.open("/admin/users")
		admin.shot("26-accounts")
		admin.press(`#users a[href="/admin/users/alice"]`)
		admin.shot("27-account")
		admin.press("#reset-mfa")
		// A destroying action asks first.
		if admin.text("#confirm") != "Reset MFA" || !a.enrolled("alice") {
			t.Fatalf("Reset MFA did not ask to confirm: %s", admin.text("main"))
		}
		admin.shot("28-account-reset-confirm")
		admin.press("#confirm")
		admin.expectPath("/admin/users/alice?m=mfa-reset")
		if !strings.Contains(admin.text("#mfa"), "Not set up") {
			t.Errorf("after reset: %s", admin.text("#mfa"))
		}
		admin.shot("28-account-reset")

		alice.open("/profile")
		alice.expectPath("/signin?m=expired") // the reset ended her session
		alice.signIn("alice", chosenPassword)
		alice.expectPath("/signin/enroll")
		uri := alice.qrURI()
		if aliceSecret != "" && strings.Contains(uri, aliceSecret) {
			t.Errorf("enrolment after a reset shows the old key")
		}
		alice.shot("29-enroll-after-reset")

		admin.open("/admin/audit")
		admin.typeIn("#user", "alice")
		admin.press("#filter")
		for _, who := range admin.texts(`#events td[data-label="Account"]`) {
			if who != "alice" {
				t.Errorf("the filter shows an event of %q", who)
			}
		}
		if !strings.Contains(admin.text("#events"), "mfa.reset") {
			t.Errorf("no mfa.reset in the audit log of alice")
		}
		admin.shot("30-audit")

		admin.open("/admin/users/new")
		admin.shot("31-add-account")
		admin.typeIn("#username", "bob")
		admin.typeIn("#email", "bob@example.org")
		admin.press("#create")
		admin.expectPath("/admin/users/bob?m=created")
		if len(a.mails("bob@example.org", "New Password")) != 1 {
			t.Errorf("no New Password email to bob")
		}

		// The admin pages at phone size, for the record.
		admin.do(chromedp.EmulateViewport(375, 740, chromedp.EmulateMobile))
		admin.open("/admin/options?search=MFA")
		admin.shot("32-options-375")
		admin.open("/admin/users")
		admin.shot("33-accounts-375")
	})
	// hana uses the server by a host name over plain http, as --base-url http://twofold.test
	// would: her forms must go through, and her second factor locks after wrong codes.
	hctx, cancelHana := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	defer cancelHana()
	if err := chromedp.Do(hctx); err != nil {
		t.Fatal(err)
	}
	hana := &tab{t: t, ctx: hctx, app: a, screens: screens,
		base: strings.Replace(a.url, "127.0.0.1", "twofold.test", 1)}
	var hanaSecret string

	t.Run("sign in over plain http on a host name", func(t *testing.T) {
		hana.t = t
		hana.signIn("hana", a.addUser("hana", false))
		hana.expectPath("/signin/enroll")
		hanaSecret, _ = hana.enrol("hana", false)
		hana.done()
		hana.newPassword()
		hana.expectPath("/profile?m=signedin")
		hana.signOut()
	})

	t.Run("a locked second factor shows no form and says when it opens", func(t *testing.T) {
		hana.t = t
		if hanaSecret == "" {
			t.Skip("hana is not enrolled")
		}
		hana.signIn("hana", chosenPassword)
		hana.expectPath("/signin/verify")
		wrong := "000000"
		if wrong == hana.code(hanaSecret) {
			wrong = "111111"
		}
		for i := range 5 {
			hana.typeIn("#code", wrong)
			status := hana.press(`main form button[type="submit"]`)
			if i < 4 && status != http.StatusUnauthorized || i == 4 && status != http.StatusTooManyRequests {
				t.Fatalf("wrong code %d answered %d: %s", i+1, status, hana.text("main"))
			}
		}
		hana.shot("15-locked")
		if n := eval[int](hana, `document.querySelectorAll("main form, main input").length`); n != 0 || hana.visible("#use-backup") {
			t.Errorf("the locked page offers a form: %s", hana.text("main"))
		}
		at := a.clock.Now().Add(15 * time.Minute).UTC().Format("15:04")
		if msg := hana.text("#lock-message"); !strings.Contains(msg, "in 15 minutes, at "+at+" UTC") {
			t.Errorf("the locked page says %q", msg)
		}
	})
	// rosa ticks "Remember this device" (SPEC §10) and signs in again with only the password.
	rctx, cancelRosa := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	defer cancelRosa()
	if err := chromedp.Do(rctx); err != nil {
		t.Fatal(err)
	}
	rosa := &tab{t: t, ctx: rctx, app: a, screens: screens}
	t.Run("remember this device, then forget it", func(t *testing.T) {
		rosa.t = t
		a.setOption(options.MFARememberDevice, "7d")
		defer a.setOption(options.MFARememberDevice, "0")
		rosa.signIn("rosa", a.addUser("rosa", false))
		rosa.expectPath("/signin/enroll")
		secret, _ := rosa.enrol("rosa", false)
		rosa.done()
		rosa.newPassword()
		rosa.signOut()
		a.clock.Advance(30 * time.Second)

		rosa.signIn("rosa", chosenPassword)
		rosa.expectPath("/signin/verify")
		if got := rosa.text(`label:has(#remember-device)`); got != "Remember this device for 7 days" {
			t.Fatalf("the box says %q", got)
		}
		rosa.typeIn("#code", rosa.code(secret))
		rosa.do(chromedp.Click(chromedp.CSS("#remember-device")))
		rosa.press(`main form button[type="submit"]`)
		rosa.expectPath("/profile?m=signedin")
		rosa.signOut()

		rosa.signIn("rosa", chosenPassword)
		rosa.expectPath("/profile?m=signedin")
		rosa.open("/profile/security")
		if rows := rosa.texts("#device-list tbody .device-label"); len(rows) != 1 || !strings.Contains(rows[0], "Chrome") {
			t.Fatalf("remembered devices listed: %q", rows)
		}
		rosa.press("#device-list tbody button")
		rosa.expectPath("/profile/security?m=device-rm")
		if rosa.visible("#device-list") {
			t.Fatal("the forgotten device is still listed")
		}
		rosa.signOut()
		rosa.signIn("rosa", chosenPassword)
		rosa.expectPath("/signin/verify")
	})
	t.Logf("browser test: %v; screenshots in %s", time.Since(start).Round(time.Millisecond), screens)
}
