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
	"github.com/twofold-auth/twofold/internal/app/apptest"
	"github.com/twofold-auth/twofold/internal/browsertest"

	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/password"
)

// docScreens are the screenshots committed under docs/screens/ and shown in the README.
var docScreens = map[string]bool{
	"01-signin": true, "03-enroll-manual": true, "10-verification-required": true, "06-backup-codes": true,
	"13-regenerate-dialog": true, "22-options-mfa": true, "23-confirm": true, "27-account": true,
}

// startBrowser starts chromium, with the extra options, for a browser test and answers its
// context; the test's end stops it. Without chromium, or the oathtool and zbarimg the tests
// use beside it, the test skips, or fails in CI.
func startBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	chromium := apptest.Need(t, "chromium", "chromium-browser")
	apptest.Need(t, "oathtool")
	apptest.Need(t, "zbarimg")
	return browsertest.Start(t, chromium, extra...)
}

// screensDir answers the folder of the screenshots, $TWOFOLD_SCREENS or <repo>/tmp/screens,
// made when missing.
func screensDir(t *testing.T) string {
	t.Helper()
	screens := os.Getenv("TWOFOLD_SCREENS")
	if screens == "" {
		screens = filepath.Join("..", "..", "tmp", "screens")
	}
	if err := os.MkdirAll(screens, 0o755); err != nil {
		t.Fatal(err)
	}
	return screens
}

// tab is one browser tab with its own cookies.
type tab struct {
	browsertest.Tab
	app     *testApp
	screens string
	// base is the server's address as this tab uses it; empty is the app's own (127.0.0.1).
	base string
}

// open loads a page of the server.
func (b *tab) open(path string) {
	b.T.Helper()
	base := b.base
	if base == "" {
		base = b.app.url
	}
	b.Open(base + path)
}

func (b *tab) visible(sel string) bool {
	b.T.Helper()
	return browsertest.Eval[bool](&b.Tab, fmt.Sprintf(`(() => { const e = document.querySelector(%q);
		return !!e && e.checkVisibility({visibilityProperty: true}); })()`, sel))
}

// code answers the code an authenticator app shows for secret by the server's clock, which the
// test moves: every code is chosen at the start of a step the server is in, so none runs out.
func (b *tab) code(secret string) string {
	b.T.Helper()
	return oathtool(b.T, secret, b.app.clock.Now())
}

// path answers the address of the page shown, without the server.
func (b *tab) path() string {
	b.T.Helper()
	return browsertest.Eval[string](&b.Tab, `document.location.pathname + document.location.search`)
}

func (b *tab) expectPath(want string) {
	b.T.Helper()
	if got := b.path(); got != want {
		b.T.Fatalf("on %s, want %s; page says: %s", got, want, b.Text("main"))
	}
}

// shot saves a screenshot of the whole page.
func (b *tab) shot(name string) {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, browsertest.Wait)
	defer cancel()
	img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.T.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.screens, name+".png"), img, 0o644); err != nil {
		b.T.Fatal(err)
	}
	if docScreens[name] && os.Getenv("TWOFOLD_DOC_SCREENS") != "" {
		writeDocScreen(b.T, name, img)
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
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, browsertest.Wait)
	defer cancel()
	img, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS("#qr")))
	if err != nil {
		b.T.Fatalf("QR screenshot: %v", err)
	}
	file := filepath.Join(b.T.TempDir(), "qr.png")
	if err := os.WriteFile(file, img, 0o600); err != nil {
		b.T.Fatal(err)
	}
	out, err := exec.Command("zbarimg", "--raw", "-q", file).Output()
	if err != nil {
		b.T.Fatalf("zbarimg could not read the QR code on the page: %v", err)
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
	b.T.Helper()
	uri, err := url.Parse(b.qrURI())
	if err != nil || uri.Scheme != "otpauth" || uri.Host != "totp" {
		b.T.Fatalf("QR code holds %v (%v)", uri, err)
	}
	if uri.Path != "/Twofold:"+username || uri.Query().Get("issuer") != "Twofold" {
		b.T.Errorf("QR code names %q issuer %q", uri.Path, uri.Query().Get("issuer"))
	}
	secret := uri.Query().Get("secret")
	if b.visible("#key") {
		b.T.Errorf("the key shows before \"Set up manually\"")
	}
	b.Do(chromedp.Click(chromedp.CSS("#manual summary")))
	if !b.visible("#key") {
		b.T.Fatalf("\"Set up manually\" does not show the key")
	}
	key := b.Text("#key")
	if !groupsOfFour.MatchString(key) || strings.ReplaceAll(key, " ", "") != secret {
		b.T.Errorf("manual key %q, QR secret %q", key, secret)
	}
	if b.Text("#key-type") != "Time based" || b.Text("#account-name") != username {
		b.T.Errorf("manual set-up: type %q, account %q", b.Text("#key-type"), b.Text("#account-name"))
	}
	if screens {
		b.shot("03-enroll-manual")
	}
	if b.Text("#continue") != "Continue" {
		b.T.Errorf("no Continue")
	}
	b.Press("#continue")
	if b.Text("h1") != "Verification Required" {
		b.T.Fatalf("after Continue: %s", b.Text("main"))
	}
	if screens {
		b.shot("04-verification-required")
		// A wrong code is refused next to its field.
		now := b.app.clock.Now()
		wrong := "000000"
		for _, c := range []string{"000000", "111111", "222222"} {
			if !slices.Contains([]string{oathtool(b.T, secret, now.Add(-30*time.Second)), oathtool(b.T, secret, now),
				oathtool(b.T, secret, now.Add(30*time.Second))}, c) {
				wrong = c
				break
			}
		}
		b.TypeIn("#code", wrong)
		if status := b.Press(`main form button[type="submit"]`); status != http.StatusUnauthorized {
			b.T.Errorf("wrong code answered %d", status)
		}
		if !strings.Contains(b.Text("#code-error"), "wrong") || !strings.Contains(b.Text("#code-error"), "works once") {
			b.T.Errorf("wrong code: %s", b.Text("main"))
		}
		b.shot("05-verify-error")
	}
	b.TypeIn("#code", b.code(secret))
	if status := b.Press(`main form button[type="submit"]`); status != http.StatusOK {
		b.T.Fatalf("Verify answered %d: %s", status, b.Text("main"))
	}
	b.app.clock.Advance(30 * time.Second) // the code is used: an app shows the next one now
	codes := b.Texts("#codes code")
	if len(codes) != 5 {
		b.T.Fatalf("%d backup codes shown: %s", len(codes), b.Text("main"))
	}
	if !strings.Contains(b.Text("#codes-for"), username) {
		b.T.Errorf("the codes do not name the account: %q", b.Text("#codes-for"))
	}
	return secret, codes
}

// done leaves a backup codes page: it ticks "I have saved these codes" when nothing else did,
// and presses Done.
func (b *tab) done() {
	b.T.Helper()
	if browsertest.Eval[bool](&b.Tab, `!!document.getElementById("saved") && !document.getElementById("saved").checked`) {
		b.Do(chromedp.Click(chromedp.CSS("#saved")))
	}
	b.Press("#done")
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
	b.T.Helper()
	b.open("/signin")
	b.TypeIn("#username", username)
	b.TypeIn("#password", pw)
	if b.Text(`form[action="/signin"] button`) != "Sign In" {
		b.T.Errorf("no Sign In button")
	}
	b.Press(`form[action="/signin"] button`)
}

func (b *tab) newPassword() {
	b.T.Helper()
	b.expectPath("/signin/password")
	b.TypeIn("#new_password", chosenPassword)
	b.TypeIn("#confirm_password", chosenPassword)
	b.Press(`form[action="/signin/password"] button`)
}

func (b *tab) signOut() {
	b.T.Helper()
	b.Press("form.signout button")
	b.expectPath("/signin?m=signedout")
}

func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser test is long; CI runs it")
	}
	start := time.Now()
	// twofold.test is a host name that is not loopback: over plain http there, a page is not a
	// secure context, and the browser sends no Sec-Fetch-Site with a form.
	bctx := startBrowser(t, chromedp.Flag("host-resolver-rules", "MAP twofold.test 127.0.0.1"))
	screens := screensDir(t)
	// The server's clock is the test's (see tab.code); hashing has the default cost.
	a := newApp(t, appConfig{params: password.DefaultParams})

	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(bctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatal(err)
	}

	// alice uses a phone-sized window: every step must work at 375 px.
	alice := &tab{Tab: browsertest.Tab{T: t, Ctx: bctx}, app: a, screens: screens}
	alice.Do(chromedp.EmulateViewport(375, 740, chromedp.EmulateMobile))
	var aliceSecret string
	var codes []string

	t.Run("first sign-in with the emailed temporary password", func(t *testing.T) {
		alice.T = t
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
		if !strings.HasPrefix(browsertest.Eval[string](&alice.Tab, `document.getElementById("open-app").href`), "otpauth://totp/Twofold:alice?") {
			t.Errorf("Open in authenticator app leads elsewhere")
		}
		if !strings.Contains(alice.Text("#adding"), "alice") {
			t.Errorf("the page does not say which account is added: %q", alice.Text("#adding"))
		}
		aliceSecret, codes = alice.enrol("alice", true)
		alice.shot("06-backup-codes")

		// Copy and Print are there with JavaScript, and the script runs under the policy.
		if !alice.visible("[data-copy]") || !alice.visible("[data-print]") {
			t.Errorf("Copy and Print are hidden: app.js did not run")
		}
		// Done waits until the codes are saved; Download counts as saving them.
		if !browsertest.Eval[bool](&alice.Tab, `document.getElementById("done").disabled`) {
			t.Errorf("Done can be pressed before the codes were saved")
		}
		alice.Do(chromedp.Click(chromedp.CSS("[data-copy]")))
		alice.WaitFor(`document.getElementById("copy-status").textContent !== ""`)

		// Download: the .txt file arrives and holds the codes.
		alice.Do(chromedp.Click(chromedp.CSS("#download")))
		if browsertest.Eval[bool](&alice.Tab, `document.getElementById("done").disabled || !document.getElementById("saved").checked`) {
			t.Errorf("Done is still held back after Download")
		}
		file := filepath.Join(downloads, "twofold-backup-codes.txt")
		var body []byte
		// The file is written by the browser, outside the page: look for it until it is whole.
		for deadline := time.Now().Add(browsertest.Wait); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
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

		alice.Press("#done")
		alice.expectPath("/signin/password")
		alice.shot("07-new-password")
		alice.newPassword()
		alice.expectPath("/profile?m=signedin")
		alice.shot("08-profile")
		alice.Press("#security-tab")
		if alice.Text("#codes-left") != "5" || !strings.Contains(alice.Text("#mfa-status"), "Set up") {
			t.Errorf("Security tab: %s", alice.Text("#mfa"))
		}
		alice.shot("09-security")
		alice.signOut()
	})

	t.Run("sign in with backup codes", func(t *testing.T) {
		alice.T = t
		if len(codes) < 3 {
			t.Skip("no codes from the first sign-in")
		}
		for i := range 3 {
			alice.signIn("alice", chosenPassword)
			alice.expectPath("/signin/verify")
			if i == 0 {
				alice.shot("10-verification-required")
			}
			if alice.Text("#use-backup") != "Use a backup code" {
				t.Fatalf("no \"Use a backup code\": %s", alice.Text("main"))
			}
			alice.Press("#use-backup")
			alice.expectPath("/signin/backup")
			if i == 0 {
				alice.shot("11-backup-code")
			}
			alice.TypeIn("#backup_code", codes[i])
			alice.Press(`main form button[type="submit"]`)
			if i < 2 {
				alice.expectPath("/profile?m=signedin")
				alice.signOut()
				continue
			}
			// The third leaves 2: the page warns.
			if !strings.Contains(alice.Text("#codes-low"), "Only 2 backup codes left") {
				t.Fatalf("no low-codes warning: %s", alice.Text("main"))
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
		alice.T = t
		if aliceSecret == "" {
			t.Skip("alice is not enrolled")
		}
		alice.open("/profile/security")
		if alice.visible("#regenerate") {
			t.Errorf("the dialog shows before it is asked for")
		}
		alice.Do(chromedp.Click(chromedp.CSS("#regenerate-open")))
		if !alice.visible("#regenerate") || alice.Text("#regen-h") != "Regenerate Backup Codes" {
			t.Fatalf("no Regenerate Backup Codes dialog")
		}
		// The dialog is modal: focus goes to its field, Escape closes it.
		alice.WaitFor(`document.activeElement && document.activeElement.id === "code"`)
		alice.Do(chromedp.KeyEvent(kb.Escape))
		alice.WaitFor(`!document.getElementById("regenerate").checkVisibility()`)
		alice.Do(chromedp.Click(chromedp.CSS("#regenerate-open")))
		alice.WaitFor(`document.activeElement && document.activeElement.id === "code"`)
		alice.shot("13-regenerate-dialog")
		alice.TypeIn("#code", alice.code(aliceSecret))
		if alice.Text("#regenerate-verify") != "Verify And Regenerate" {
			t.Errorf("button %q", alice.Text("#regenerate-verify"))
		}
		if status := alice.Press("#regenerate-verify"); status != http.StatusOK {
			t.Fatalf("regenerate answered %d: %s", status, alice.Text("main"))
		}
		fresh := alice.Texts("#codes code")
		if len(fresh) != 5 || slices.Contains(fresh, codes[3]) {
			t.Fatalf("new codes %v", fresh)
		}
		alice.shot("14-new-backup-codes")
		// Done waits for the box; ticking it is enough.
		if !browsertest.Eval[bool](&alice.Tab, `document.getElementById("done").disabled`) {
			t.Errorf("Done can be pressed before the codes were saved")
		}
		alice.Do(chromedp.Click(chromedp.CSS("#saved")))
		if browsertest.Eval[bool](&alice.Tab, `document.getElementById("done").disabled`) {
			t.Errorf("Done is still disabled with the box ticked")
		}
		alice.Press("#done")
		if alice.Text("#codes-left") != "5" {
			t.Errorf("codes left after regenerating: %q", alice.Text("#codes-left"))
		}
	})

	// The admin works in another browser context (its own cookies), at desktop size.
	admin := &tab{Tab: browsertest.Tab{T: t, Ctx: browsertest.Isolated(t, bctx)}, app: a, screens: screens}
	admin.Do(chromedp.EmulateViewport(800, 700))

	t.Run("admin changes internalMFA through the confirmation", func(t *testing.T) {
		admin.T = t
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
		all := len(admin.Texts("#options-grid tbody tr"))
		admin.shot("20-options")
		admin.TypeIn("#search", "MFA")
		admin.Press("#search-button")
		keys := browsertest.Eval[[]string](&admin.Tab, `Array.from(document.querySelectorAll("#options-grid tbody tr"), r => r.dataset.key)`)
		var want []string
		for _, o := range options.Search("MFA") {
			want = append(want, o.Key)
		}
		if !slices.Equal(keys, want) || len(keys) >= all {
			t.Fatalf("searching MFA shows %v of %d, want %v", keys, all, want)
		}
		admin.shot("22-options-mfa")
		admin.Do(chromedp.SetValue(chromedp.CSS("#opt-internalMFA"), "optional"))
		admin.Press("#save")
		if admin.Text("h1") != "Change configuration options" || admin.Text("#confirm") != "Confirm" {
			t.Fatalf("no confirmation: %s", admin.Text("main"))
		}
		if a.option(options.InternalMFA) != "required" {
			t.Fatalf("Save changed the option before Confirm")
		}
		admin.shot("23-confirm")
		admin.Press("#confirm")
		if a.option(options.InternalMFA) != "optional" {
			t.Fatalf("Confirm did not save internalMFA")
		}
		if !strings.Contains(admin.Text(".notice"), "within 5 seconds") {
			t.Errorf("no notice of when it takes effect: %s", admin.Text("main"))
		}
		admin.shot("24-options-saved")
	})

	t.Run("a cross-origin form post is refused", func(t *testing.T) {
		admin.T = t
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><title>Win a prize</title>
<form method="post" action="%s/admin/options/confirm"><input type="hidden" name="internalMFA" value="off">
<button id="go" type="submit">Claim</button></form>`, a.url)
		}))
		defer evil.Close()
		// localhost is another site than 127.0.0.1, as an attacker's page would be.
		evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)
		admin.Do(chromedp.Navigate(evilURL))
		if status := admin.Press("#go"); status != http.StatusForbidden {
			t.Errorf("the cross-origin post answered %d", status)
		}
		admin.shot("25-cross-origin-refused")
		if got := a.option(options.InternalMFA); got != "optional" {
			t.Fatalf("a cross-origin post changed internalMFA to %q", got)
		}
	})

	t.Run("admin resets MFA and the user is sent to enrolment", func(t *testing.T) {
		admin.T = t
		alice.T = t
		admin.open("/admin/users")
		admin.shot("26-accounts")
		admin.Press(`#users a[href="/admin/users/alice"]`)
		admin.shot("27-account")
		admin.Press("#reset-mfa")
		// A destroying action asks first.
		if admin.Text("#confirm") != "Reset MFA" || !a.enrolled("alice") {
			t.Fatalf("Reset MFA did not ask to confirm: %s", admin.Text("main"))
		}
		admin.shot("28-account-reset-confirm")
		admin.Press("#confirm")
		admin.expectPath("/admin/users/alice?m=mfa-reset")
		if !strings.Contains(admin.Text("#mfa"), "Not set up") {
			t.Errorf("after reset: %s", admin.Text("#mfa"))
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
		admin.TypeIn("#user", "alice")
		admin.Press("#filter")
		for _, who := range admin.Texts(`#events td[data-label="Account"]`) {
			if who != "alice" {
				t.Errorf("the filter shows an event of %q", who)
			}
		}
		if !strings.Contains(admin.Text("#events"), "mfa.reset") {
			t.Errorf("no mfa.reset in the audit log of alice")
		}
		admin.shot("30-audit")

		admin.open("/admin/users/new")
		admin.shot("31-add-account")
		admin.TypeIn("#username", "bob")
		admin.TypeIn("#email", "bob@example.org")
		admin.Press("#create")
		admin.expectPath("/admin/users/bob?m=created")
		if len(a.mails("bob@example.org", "New Password")) != 1 {
			t.Errorf("no New Password email to bob")
		}

		// The admin pages at phone size, for the record.
		admin.Do(chromedp.EmulateViewport(375, 740, chromedp.EmulateMobile))
		admin.open("/admin/options?search=MFA")
		admin.shot("32-options-375")
		admin.open("/admin/users")
		admin.shot("33-accounts-375")
	})
	// hana uses the server by a host name over plain http, as --base-url http://twofold.test
	// would: her forms must go through, and her second factor locks after wrong codes.
	hana := &tab{Tab: browsertest.Tab{T: t, Ctx: browsertest.Isolated(t, bctx)}, app: a, screens: screens,
		base: strings.Replace(a.url, "127.0.0.1", "twofold.test", 1)}
	var hanaSecret string

	t.Run("sign in over plain http on a host name", func(t *testing.T) {
		hana.T = t
		hana.signIn("hana", a.addUser("hana", false))
		hana.expectPath("/signin/enroll")
		hanaSecret, _ = hana.enrol("hana", false)
		hana.done()
		hana.newPassword()
		hana.expectPath("/profile?m=signedin")
		hana.signOut()
	})

	t.Run("a locked second factor shows no form and says when it opens", func(t *testing.T) {
		hana.T = t
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
			hana.TypeIn("#code", wrong)
			status := hana.Press(`main form button[type="submit"]`)
			if i < 4 && status != http.StatusUnauthorized || i == 4 && status != http.StatusTooManyRequests {
				t.Fatalf("wrong code %d answered %d: %s", i+1, status, hana.Text("main"))
			}
		}
		hana.shot("15-locked")
		if n := browsertest.Eval[int](&hana.Tab, `document.querySelectorAll("main form, main input").length`); n != 0 || hana.visible("#use-backup") {
			t.Errorf("the locked page offers a form: %s", hana.Text("main"))
		}
		at := a.clock.Now().Add(15 * time.Minute).UTC().Format("15:04")
		if msg := hana.Text("#lock-message"); !strings.Contains(msg, "in 15 minutes, at "+at+" UTC") {
			t.Errorf("the locked page says %q", msg)
		}
	})
	// rosa ticks "Remember this device" (SPEC §10) and signs in again with only the password.
	rosa := &tab{Tab: browsertest.Tab{T: t, Ctx: browsertest.Isolated(t, bctx)}, app: a, screens: screens}
	t.Run("remember this device, then forget it", func(t *testing.T) {
		rosa.T = t
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
		if got := rosa.Text(`label:has(#remember-device)`); got != "Remember this device for 7 days" {
			t.Fatalf("the box says %q", got)
		}
		rosa.TypeIn("#code", rosa.code(secret))
		rosa.Do(chromedp.Click(chromedp.CSS("#remember-device")))
		rosa.Press(`main form button[type="submit"]`)
		rosa.expectPath("/profile?m=signedin")
		rosa.signOut()

		rosa.signIn("rosa", chosenPassword)
		rosa.expectPath("/profile?m=signedin")
		rosa.open("/profile/security")
		if rows := rosa.Texts("#device-list tbody .device-label"); len(rows) != 1 || !strings.Contains(rows[0], "Chrome") {
			t.Fatalf("remembered devices listed: %q", rows)
		}
		rosa.Press("#device-list tbody button")
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
