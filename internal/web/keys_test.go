package web_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/web"
)

// fakeKeys stands for the service's security keys in the tests of the pages alone: what a page
// shows and sends, not the ceremony (the browser test does that with chromium's authenticator).
type fakeKeys struct {
	offered bool
	list    []web.SecurityKey
	// refuse is every finish's answer; codes are FinishRegister's backup codes.
	refuse error
	codes  []string
	// removed records RemoveKey's arguments (the credential last); removeErr is its answer.
	removed   [][]string
	removeErr error
	got       [][]byte
	// device is FinishSignIn's last device request ("Remember this device").
	device account.DeviceRequest
	// regenerated records Regenerate's credentials; it answers regenCodes and regenErr.
	regenerated [][]byte
	regenCodes  []string
	regenErr    error
}

func (f *fakeKeys) Offered(context.Context, string) (bool, error) { return f.offered, nil }
func (f *fakeKeys) CanRegister(context.Context, *account.Principal) (bool, error) {
	return f.offered, nil
}
func (f *fakeKeys) FinishSignIn(_ context.Context, _ string, c []byte, dev account.DeviceRequest) (account.Step, error) {
	f.got = append(f.got, c)
	f.device = dev
	return account.Step{}, f.refuse
}
func (f *fakeKeys) FinishEnroll(_ context.Context, _ string, c []byte) (account.Step, error) {
	f.got = append(f.got, c)
	return account.Step{}, f.refuse
}
func (f *fakeKeys) FinishRegister(_ context.Context, _ *account.Principal, c []byte) ([]string, error) {
	f.got = append(f.got, c)
	return f.codes, f.refuse
}
func (f *fakeKeys) Keys(context.Context, *account.Principal) ([]web.SecurityKey, error) {
	return f.list, nil
}
func (f *fakeKeys) RemoveKey(_ context.Context, _ *account.Principal, id, code, backup string, credential []byte) error {
	f.removed = append(f.removed, []string{id, code, backup, string(credential)})
	return f.removeErr
}
func (f *fakeKeys) Regenerate(_ context.Context, _ *account.Principal, credential []byte) ([]string, error) {
	f.regenerated = append(f.regenerated, credential)
	return f.regenCodes, f.regenErr
}

var _ web.SecurityKeys = (*fakeKeys)(nil)

// scripts answers the static scripts a page loads, without their version.
func scripts(p *page) []string {
	var out []string
	for _, s := range p.doc.all(tag("script")) {
		src, _, _ := strings.Cut(s.attr("src"), "?")
		out = append(out, src)
	}
	return out
}

// before answers whether the element a comes before b in the page.
func before(p *page, a, b string) bool {
	ia, ib := -1, -1
	for i, n := range p.doc.all(func(*node) bool { return true }) {
		switch n.attr("id") {
		case a:
			ia = i
		case b:
			ib = i
		}
	}
	return ia >= 0 && ib >= 0 && ia < ib
}

// TestSecurityKeysNotOffered: without security keys (a server reached by an IP address, or
// the service offering none) no page shows a key's button or loads webauthn.js, and the key's forms are not there.
func TestSecurityKeysNotOffered(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys web.SecurityKeys
	}{
		// The app's own, at http://127.0.0.1:PORT: an IP address cannot be a relying party id.
		{"an IP address", nil},
		{"none offered", &fakeKeys{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, appConfig{keys: tc.keys})
			c := a.client()
			temp := a.addUser("ada", false)
			c.post("/signin", url.Values{"username": {"ada"}, "password": {temp}}).expect(303, "/signin/enroll")
			enroll := c.get("/signin/enroll").expect(200, "")
			if enroll.has("use-key") || slices.Contains(scripts(enroll), "/static/webauthn.js") {
				t.Errorf("enrolment offers a security key:\n%s", enroll.body)
			}
			secret := strings.ReplaceAll(enroll.byID("key").content(), " ", "")
			c.post("/signin/enroll/verify", url.Values{"code": {a.totp(secret)}}).expect(200, "")
			c.post("/signin/password", url.Values{"new_password": {chosenPassword}, "confirm_password": {chosenPassword}}).
				expect(303, "/profile")
			sec := c.get("/profile/security").expect(200, "")
			if sec.has("keys") || slices.Contains(scripts(sec), "/static/webauthn.js") {
				t.Errorf("the Security tab shows security keys:\n%s", sec.body)
			}
			c.post("/signout", nil).expect(303, "/signin")
			c.post("/signin", url.Values{"username": {"ada"}, "password": {chosenPassword}}).expect(303, "/signin/verify")
			v := c.get("/signin/verify").expect(200, "")
			if v.has("use-key") || v.has("key-form") || slices.Contains(scripts(v), "/static/webauthn.js") {
				t.Errorf("Verification Required offers a security key:\n%s", v.body)
			}
			if p := c.post("/signin/verify/key", url.Values{"credential": {"{}"}}); tc.keys == nil && p.status < 400 {
				t.Errorf("a key's form answered %d", p.status)
			}
		})
	}
}

// TestSecurityKeyPages checks the pages that offer a security key (SPEC §9): "Use your security
// key" above the code field, "Use a security key instead" at enrolment, the Security tab's list,
// "Add a security key" and removal with a second factor. Without JavaScript each button stays
// hidden and a sentence says a key needs it, while the code forms work as before; a refused
// key is said in the page's alert.
func TestSecurityKeyPages(t *testing.T) {
	used := time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)
	keys := &fakeKeys{offered: true, list: []web.SecurityKey{
		{ID: "k1", Name: "Blue key", CreatedAt: time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC), LastUsedAt: &used},
		{ID: "k2", Name: "Laptop", CreatedAt: time.Date(2026, 10, 5, 8, 0, 0, 0, time.UTC)},
		{ID: "k3", Name: "Old key", CreatedAt: time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC), Disabled: true},
	}}
	a := newApp(t, appConfig{keys: keys})
	c := a.client()
	temp := a.addUser("ada", false)

	// keyButton checks a key's button: its words, hidden until webauthn.js shows it, the
	// sentence for a browser without JavaScript, and the script loaded.
	keyButton := func(p *page, id, words, begin string) {
		t.Helper()
		b := p.byID(id)
		if b.content() != words || !b.hasAttr("hidden") || b.attr("data-begin") != begin || b.attr("type") != "button" {
			t.Errorf("#%s: %q hidden=%v begin %q type %q", id, b.content(), b.hasAttr("hidden"), b.attr("data-begin"), b.attr("type"))
		}
		if needs := p.byID("key-needs-js"); !strings.Contains(needs.content(), "needs JavaScript") || needs.hasAttr("hidden") {
			t.Errorf("without JavaScript the page says %q", needs.content())
		}
		if !slices.Contains(scripts(p), "/static/webauthn.js") {
			t.Errorf("webauthn.js is not loaded: %v", scripts(p))
		}
		checkHeaders(t, id, p.header)
		if !strings.Contains(p.header.Get("Content-Security-Policy"), "connect-src 'self'") {
			t.Errorf("webauthn.js may not ask the API: %q", p.header.Get("Content-Security-Policy"))
		}
	}

	c.post("/signin", url.Values{"username": {"ada"}, "password": {temp}}).expect(303, "/signin/enroll")
	enroll := c.get("/signin/enroll").expect(200, "")
	keyButton(enroll, "use-key", "Use a security key instead", "/api/v1/signin/mfa/enroll/webauthn/begin")
	if enroll.byID("key-form").attr("action") != "/signin/enroll/key" || !enroll.has("qr") {
		t.Errorf("enrolment: key form to %q, QR code shown %v", enroll.byID("key-form").attr("action"), enroll.has("qr"))
	}
	// A key the service refuses: the enrolment page again, saying why, the QR code still there.
	keys.refuse = errs.E(errs.InvalidCode, "The security key was refused.")
	p := c.post("/signin/enroll/key", url.Values{"credential": {`{"id":"x"}`}}).expect(401, "")
	if !strings.Contains(p.byID("form-alert").content(), "The security key was refused.") || !p.has("qr") {
		t.Errorf("a refused key at enrolment:\n%s", p.body)
	}
	if string(keys.got[len(keys.got)-1]) != `{"id":"x"}` {
		t.Errorf("the service got %q", keys.got)
	}
	// No credential at all is malformed, and the service is not asked.
	n := len(keys.got)
	c.post("/signin/enroll/key", url.Values{}).expect(400, "")
	if len(keys.got) != n {
		t.Errorf("an empty form reached the service")
	}
	secret := strings.ReplaceAll(c.get("/signin/enroll").byID("key").content(), " ", "")
	c.post("/signin/enroll/verify", url.Values{"code": {a.totp(secret)}}).expect(200, "")
	c.post("/signin/password", url.Values{"new_password": {chosenPassword}, "confirm_password": {chosenPassword}}).
		expect(303, "/profile")
	a.clock.Advance(30 * time.Second)

	t.Run("Security tab", func(t *testing.T) {
		sec := c.get("/profile/security").expect(200, "")
		rows := sec.byID("key-list").all(tag("tr"))
		if len(rows) != 4 {
			t.Fatalf("%d rows in the list of keys", len(rows))
		}
		for i, want := range []string{
			"Blue key | 2026-10-01 08:00 UTC | 2026-11-02 09:30 UTC | Usable",
			"Laptop | 2026-10-05 08:00 UTC | Never | Usable",
			"Old key | 2026-09-01 08:00 UTC | Never | Disabled: possible cloned key",
		} {
			var cells []string
			for _, td := range rows[i+1].all(tag("td")) {
				cells = append(cells, td.content())
			}
			if got := strings.Join(cells, " | "); got != want {
				t.Errorf("row %d: %q, want %q", i+1, got, want)
			}
		}
		keyButton(sec, "add-key", "Add a security key", "/api/v1/me/webauthn/register/begin")
		add := sec.byID("add-key-form")
		if add.attr("action") != "/profile/security/keys" || sec.byID("key_password").attr("type") != "password" ||
			!sec.byID("key_name").hasAttr("required") {
			t.Errorf("Add a security key form:\n%s", sec.body)
		}
		if got := sec.byID("add-key").attr("data-fields"); got != "name:key_name current_password:key_password" {
			t.Errorf("begin is sent %q", got)
		}
		// Several keys: one removal form that chooses among them.
		if opts := sec.byID("key").all(tag("option")); len(opts) != 3 {
			t.Errorf("%d keys to choose for removal", len(opts))
		}
	})

	t.Run("removal asks for a second factor", func(t *testing.T) {
		keys.removeErr = errs.E(errs.InvalidCode, "That code is wrong, expired or was used already: each code works once.")
		p := c.post("/profile/security/keys/remove", url.Values{"key": {"k2"}, "key_code": {"000000"}}).expect(401, "")
		if !strings.Contains(p.byID("key_code-error").content(), "wrong") {
			t.Errorf("a wrong code is not said beside its field:\n%s", p.body)
		}
		if sel := p.byID("key").find(func(n *node) bool { return n.hasAttr("selected") }); sel == nil || sel.attr("value") != "k2" {
			t.Errorf("the chosen key is not kept")
		}
		keys.removeErr = nil
		c.post("/profile/security/keys/remove", url.Values{"key": {"k3"}, "key_backup_code": {"abcd-efgh-jkmn-pqrs"}}).
			expect(303, "/profile/security?m=key-rm")
		// "Use your security key": the key's answer alone, a code typed beside it left out.
		sec := c.get("/profile/security").expect(200, "")
		b := sec.byID("remove-key-with-key")
		if b.content() != "Use your security key" || !b.hasAttr("hidden") || b.attr("data-webauthn") != "get" ||
			b.attr("data-begin") != "/api/v1/me/webauthn/remove/begin" || b.attr("type") != "button" {
			t.Errorf("removal's key button: %q begin %q", b.content(), b.attr("data-begin"))
		}
		if !strings.Contains(sec.byID("remove-key-hint").content(), "security keys") {
			t.Errorf("the removal hint does not name a key: %q", sec.byID("remove-key-hint").content())
		}
		c.post("/profile/security/keys/remove", url.Values{"key": {"k1"}, "key_code": {"123456"}, "credential": {`{"id":"k"}`}}).
			expect(303, "/profile/security?m=key-rm")
		keys.removeErr = errs.E(errs.InvalidCode, "The security key was refused.")
		p = c.post("/profile/security/keys/remove", url.Values{"key": {"k1"}, "credential": {`{"id":"k"}`}}).expect(401, "")
		if !strings.Contains(p.byID("form-alert").content(), "The security key was refused.") {
			t.Errorf("a refused key at removal is not said:\n%s", p.body)
		}
		keys.removeErr = nil
		want := [][]string{{"k2", "000000", "", ""}, {"k3", "", "abcd-efgh-jkmn-pqrs", ""},
			{"k1", "", "", `{"id":"k"}`}, {"k1", "", "", `{"id":"k"}`}}
		if !slices.EqualFunc(keys.removed, want, slices.Equal[[]string]) {
			t.Errorf("removed %q, want %q", keys.removed, want)
		}
	})

	t.Run("Regenerate Backup Codes with a key", func(t *testing.T) {
		sec := c.get("/profile/security").expect(200, "")
		b := sec.byID("regenerate-key")
		if b.content() != "Use your security key" || !b.hasAttr("hidden") || b.attr("data-webauthn") != "get" ||
			b.attr("data-begin") != "/api/v1/me/mfa/backup-codes/webauthn/begin" || b.attr("type") != "button" {
			t.Errorf("the Regenerate dialog's key button: %q begin %q", b.content(), b.attr("data-begin"))
		}
		if sec.byID("regenerate-key-form").attr("action") != "/profile/security/backup-codes/key" {
			t.Errorf("the key's form posts to %q", sec.byID("regenerate-key-form").attr("action"))
		}
		if !before(sec, "regenerate-key", "code") || !sec.has("regenerate-verify") {
			t.Errorf("the key is not offered above the code field, or the code is gone:\n%s", sec.body)
		}
		// A refusal opens the dialog again, saying why.
		keys.regenErr = errs.E(errs.InvalidCode, "The security key was refused.")
		p := c.post("/profile/security/backup-codes/key", url.Values{"credential": {`{"id":"r"}`}}).expect(401, "")
		if !strings.Contains(p.byID("regenerate").attr("class"), "open") ||
			!strings.Contains(p.byID("regenerate").content(), "The security key was refused.") {
			t.Errorf("a refused key does not reopen the dialog with the reason:\n%s", p.body)
		}
		c.post("/profile/security/backup-codes/key", url.Values{}).expect(400, "")
		keys.regenErr, keys.regenCodes = nil, []string{"aaaa-bbbb-cccc-dddd", "eeee-ffff-gggg-hhhh"}
		defer func() { keys.regenCodes = nil }()
		p = c.post("/profile/security/backup-codes/key", url.Values{"credential": {`{"id":"r"}`}}).expect(200, "")
		var shown []string
		for _, li := range p.byID("codes").all(tag("code")) {
			shown = append(shown, li.content())
		}
		if !slices.Equal(shown, keys.regenCodes) || doneTarget(t, p) != "/profile/security" {
			t.Errorf("codes %q, Done leads to %q", shown, doneTarget(t, p))
		}
		if len(keys.regenerated) != 2 || string(keys.regenerated[1]) != `{"id":"r"}` {
			t.Errorf("the service got %q", keys.regenerated)
		}
	})

	t.Run("a refused registration", func(t *testing.T) {
		keys.refuse = errs.E(errs.InvalidCode, "The security key was refused.")
		p := c.post("/profile/security/keys", url.Values{"credential": {`{"id":"y"}`}}).expect(401, "")
		if !strings.Contains(p.byID("form-alert").content(), "The security key was refused.") {
			t.Errorf("a refused key is not said:\n%s", p.body)
		}
		keys.refuse = nil
		c.post("/profile/security/keys", url.Values{"credential": {`{"id":"y"}`}}).expect(303, "/profile/security?m=key-added")
		// The account's first second factor: its backup codes, shown once, then back to the tab.
		keys.codes = []string{"aaaa-bbbb-cccc-dddd", "eeee-ffff-gggg-hhhh"}
		defer func() { keys.codes = nil }()
		p = c.post("/profile/security/keys", url.Values{"credential": {`{"id":"y"}`}}).expect(200, "")
		var shown []string
		for _, li := range p.byID("codes").all(tag("code")) {
			shown = append(shown, li.content())
		}
		if !slices.Equal(shown, keys.codes) || doneTarget(t, p) != "/profile/security?m=key-added" {
			t.Errorf("codes %q, Done leads to %q", shown, doneTarget(t, p))
		}
	})

	t.Run("Verification Required", func(t *testing.T) {
		c.post("/signout", nil).expect(303, "/signin")
		c.post("/signin", url.Values{"username": {"ada"}, "password": {chosenPassword}}).expect(303, "/signin/verify")
		v := c.get("/signin/verify").expect(200, "")
		keyButton(v, "use-key", "Use your security key", "/api/v1/signin/mfa/webauthn/begin")
		if !before(v, "use-key", "code") {
			t.Errorf("\"Use your security key\" is not above the code field:\n%s", v.body)
		}
		if !v.has("use-backup") {
			t.Errorf("no \"Use a backup code\" beside the key")
		}
		keys.refuse = errs.E(errs.InvalidCode, "The security key was refused.")
		p := c.post("/signin/verify/key", url.Values{"credential": {`{"id":"z"}`}}).expect(401, "")
		if !strings.Contains(p.byID("key-form").content(), "The security key was refused.") || !p.has("code") {
			t.Errorf("a refused key is not said in the page's alert:\n%s", p.body)
		}
		if keys.device.Remember {
			t.Errorf("a key's finish without the box asked to remember the device")
		}
		// With mfaRememberDevice on, the key's form carries the box of the code's form.
		a.setOption("mfaRememberDevice", "7d")
		v = c.get("/signin/verify").expect(200, "")
		carried := v.byID("key-form").find(func(n *node) bool { return n.attr("data-copy-of") == "remember-device" })
		if carried == nil || !v.has("remember-device") {
			t.Errorf("the key's form does not carry \"Remember this device\":\n%s", v.body)
		}
		p = c.post("/signin/verify/key", url.Values{"credential": {`{"id":"z"}`}, "remember_device": {"1"}}).expect(401, "")
		if !keys.device.Remember || keys.device.UserAgent == "" {
			t.Errorf("the key's finish was not asked to remember the device: %+v", keys.device)
		}
		// The page again, after a refused key or a wrong code, keeps the box as it was ticked.
		if box := p.byID("remember-device"); box == nil || !box.hasAttr("checked") {
			t.Errorf("a refused key unticks \"Remember this device\":\n%s", p.body)
		}
		p = c.post("/signin/verify", url.Values{"code": {a.wrongCode(secret)}, "remember_device": {"1"}}).expect(401, "")
		if box := p.byID("remember-device"); box == nil || !box.hasAttr("checked") {
			t.Errorf("a wrong code unticks \"Remember this device\":\n%s", p.body)
		}
		a.setOption("mfaRememberDevice", "0")
		keys.refuse = errs.E(errs.Locked, "Your second factor is locked.")
		p = c.post("/signin/verify/key", url.Values{"credential": {`{"id":"z"}`}}).expect(429, "")
		if p.has("code") || p.has("use-key") {
			t.Errorf("a lock still offers a form:\n%s", p.body)
		}
		keys.refuse = nil
		// The code form works as before, beside the key.
		c.post("/signin/verify", url.Values{"code": {a.totp(secret)}}).expect(303, "/profile")
	})
}

// TestWebAuthnScript: webauthn.js is served as our other script is, and holds no eval.
func TestWebAuthnScript(t *testing.T) {
	a := newApp(t, appConfig{})
	p := a.client().get("/static/webauthn.js").expect(200, "")
	if ct := p.header.Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("Content-Type %q", ct)
	}
	for _, bad := range []string{"eval(", "new Function", "innerHTML"} {
		if strings.Contains(p.body, bad) {
			t.Errorf("webauthn.js uses %s", bad)
		}
	}
}
