package web_test

import (
	"encoding/base64"
	"net/url"

	"github.com/twofold-auth/twofold/internal/options"
	"strings"
	"testing"
	"time"
)

// doneForm answers the form of "Done" on a backup codes page, failing when Done can be used
// without saying the codes are saved.
func doneForm(t *testing.T, p *page) *node {
	t.Helper()
	form := p.byID("done-form")
	box := p.byID("saved")
	if box.attr("type") != "checkbox" || !box.hasAttr("required") || form.find(func(n *node) bool { return n.attr("id") == "saved" }) == nil {
		t.Fatalf("Done is not held back by a required \"I have saved these codes\" box:\n%s", p.body)
	}
	if !strings.Contains(p.byID("saved-label").content(), "I have saved these codes") {
		t.Errorf("the box says %q", p.byID("saved-label").content())
	}
	if done := p.byID("done"); strings.Contains(done.attr("class"), "primary") {
		t.Errorf("Done is the primary button before the codes were saved")
	}
	return form
}

// doneTarget answers where Done leads: the form's action with its hidden fields as the query.
func doneTarget(t *testing.T, p *page) string {
	t.Helper()
	form := p.byID("done-form")
	q := url.Values{}
	for _, in := range form.all(tag("input")) {
		if in.attr("type") == "hidden" {
			q.Add(in.attr("name"), in.attr("value"))
		}
	}
	if len(q) == 0 {
		return form.attr("action")
	}
	return form.attr("action") + "?" + q.Encode()
}

// TestBackupCodesSheet checks that the download names the account, the issuer and the date,
// the printout too, and that Done waits for the codes to be saved.
func TestBackupCodesSheet(t *testing.T) {
	a := newApp(t, appConfig{})
	c := a.client()
	c.post("/signin", url.Values{"username": {"ada"}, "password": {a.addUser("ada", false)}}).expect(303, "/signin/enroll")
	secret := strings.ReplaceAll(c.get("/signin/enroll").byID("key").content(), " ", "")
	p := c.post("/signin/enroll/verify", url.Values{"code": {a.totp(secret)}}).expect(200, "")
	href := p.byID("download").attr("href")
	b64, ok := strings.CutPrefix(href, "data:text/plain;charset=utf-8;base64,")
	if !ok {
		t.Fatalf("download %q", href)
	}
	body, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	date := a.clock.Now().UTC().Format("2006-01-02")
	for _, want := range []string{"Account: ada", "Issuer: Twofold", date} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the download lacks %q:\n%s", want, body)
		}
	}
	sheet := p.byID("codes-for").content()
	for _, want := range []string{"ada", "Twofold", date} {
		if !strings.Contains(sheet, want) {
			t.Errorf("the printed sheet lacks %q: %q", want, sheet)
		}
	}
	doneForm(t, p)
	if got := doneTarget(t, p); got != "/signin/password" {
		t.Errorf("Done leads to %q", got)
	}
}

// TestEnrollNamesTheAccount checks that enrolment says which account and issuer are added,
// and offers the key, Copy and the otpauth link for a phone.
func TestEnrollNamesTheAccount(t *testing.T) {
	a := newApp(t, appConfig{})
	c := a.client()
	c.post("/signin", url.Values{"username": {"eve"}, "password": {a.addUser("eve", false)}}).expect(303, "/signin/enroll")
	p := c.get("/signin/enroll").expect(200, "")
	adding := p.byID("adding").content()
	if !strings.Contains(adding, "eve") || !strings.Contains(adding, "Twofold") {
		t.Errorf("the page does not say what is added: %q", adding)
	}
	link := p.byID("open-app").attr("href")
	u, err := url.Parse(link)
	if err != nil || u.Scheme != "otpauth" || u.Query().Get("issuer") != "Twofold" {
		t.Errorf("Open in authenticator app leads to %q", link)
	}
	key := strings.ReplaceAll(p.byID("phone-key").content(), " ", "")
	if key == "" || u.Query().Get("secret") != key {
		t.Errorf("phone key %q, link secret %q", key, u.Query().Get("secret"))
	}
	if p.byID("phone-copy").attr("data-copy") != "phone-key" {
		t.Errorf("no Copy for the key")
	}
	if !p.has("manual") || !strings.Contains(p.byID("manual").content(), "Set up manually") {
		t.Errorf("\"Set up manually\" is gone")
	}
}

// TestSignedInWithABackupCode checks that the page after a backup code has the top bar of a
// session and leads to Regenerate.
func TestSignedInWithABackupCode(t *testing.T) {
	a := newApp(t, appConfig{})
	c := a.client()
	_, codes := c.signInFully("bea", a.addUser("bea", false))
	a.setOption(options.MFARotateBackupCodes, "yes")
	c.post("/signout", nil)
	c.post("/signin", url.Values{"username": {"bea"}, "password": {chosenPassword}}).expect(303, "/signin/verify")
	p := c.post("/signin/backup", url.Values{"backup_code": {codes[0]}}).expect(200, "")
	if p.doc.find(func(n *node) bool { return n.attr("class") == "mainnav" }) == nil {
		t.Errorf("no top bar after signing in with a backup code:\n%s", p.body)
	}
	if p.byID("regenerate-link").attr("href") != "/profile/security#regenerate" {
		t.Errorf("no link to Regenerate Backup Codes")
	}
	doneForm(t, p)
}

// TestRegenerateDialogIsModal checks the dialog's semantics and that the page loads the script
// that moves focus into it and closes it with Escape (the browser test presses the keys).
func TestRegenerateDialogIsModal(t *testing.T) {
	a := newApp(t, appConfig{})
	c := a.client()
	secret, _ := c.signInFully("dee", a.addUser("dee", false))
	sec := c.get("/profile/security").expect(200, "")
	dialog := sec.byID("regen-h").parent
	if dialog.attr("role") != "dialog" || dialog.attr("aria-modal") != "true" {
		t.Errorf("the dialog is %v", dialog.attrs)
	}
	if sec.doc.find(tag("script")) == nil {
		t.Errorf("the Security tab loads no app.js for the dialog")
	}
	if sec.byID("code").hasAttr("autofocus") {
		t.Errorf("the closed dialog's field takes the focus")
	}
	wrong := c.post("/profile/security/backup-codes", url.Values{"code": {a.wrongCode(secret)}}).expect(401, "")
	if !wrong.byID("code").hasAttr("autofocus") {
		t.Errorf("the dialog open after a refused code does not focus its field")
	}
}

// TestExpiredTemporaryPasswordSaysWhen: the sign-in page says when a temporary password
// expired as every page says a time, not with the API's machine time.
func TestExpiredTemporaryPasswordSaysWhen(t *testing.T) {
	a := newApp(t, appConfig{})
	temp := a.addUser("ida", false)
	issued := a.clock.Now()
	a.clock.Advance(25 * time.Hour) // temporaryPasswordLifetime is 1d
	p := a.client().post("/signin", url.Values{"username": {"ida"}, "password": {temp}}).expect(403, "")
	want := "expired on " + issued.Add(24*time.Hour).UTC().Format("2006-01-02 15:04 UTC")
	if !strings.Contains(p.body, want) || strings.Contains(p.body, issued.Add(24*time.Hour).UTC().Format(time.RFC3339)) {
		t.Fatalf("the page does not say %q in words:\n%s", want, p.body)
	}
}
