package web_test

// The security keys' browser harness: chromium with the DevTools WebAuthn domain's virtual
// authenticator (CTAP2, internal transport, resident keys, user verification that succeeds)
// against a server whose base URL is http://localhost:PORT. WebAuthn needs a secure context and a
// relying party id that is a domain name: http://localhost is both, while http on another host
// name is not a secure context and 127.0.0.1 is an IP address.

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/app/apptest"
	"github.com/twofold-auth/twofold/internal/browsertest"
	"github.com/twofold-auth/twofold/internal/clock"
	"github.com/twofold-auth/twofold/internal/store"
)

// localhostURL answers a listener on a free port of 127.0.0.1 and its address as
// http://localhost:PORT.
func localhostURL(t *testing.T) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, "http://localhost:" + strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:")
}

// newKeyApp runs Twofold as serve does with --base-url http://localhost:PORT, so that its
// relying party id is localhost. It also answers the same server's address on a second port,
// http://localhost:OTHER: another origin with the same relying party id (a browser sends the
// same cookies to both, since cookies do not tell ports apart).
func newKeyApp(t *testing.T) (a *testApp, other string) {
	t.Helper()
	ln, base := localhostURL(t)
	a = &testApp{t: t, clock: clock.NewFake(time.Now().Truncate(time.Minute))}
	tf := apptest.Serve(t, app.Config{Clock: a.clock, Hashing: apptest.CheapHashing, Listener: ln, BaseURL: base})
	a.store, a.svc, a.outbox, a.url = tf.Store, tf.Service, tf.Outbox, base
	ln2, other := localhostURL(t)
	srv := httptest.NewUnstartedServer(tf.Handler)
	srv.Listener.Close()
	srv.Listener = ln2
	srv.Start()
	t.Cleanup(srv.Close)
	return a, other
}

// authenticator is a virtual authenticator of a tab: a security key that the browser finds
// plugged in, that touches itself and whose user verification succeeds.
type authenticator struct {
	b  *tab
	id webauthn.AuthenticatorID
}

// plugIn enables the tab's WebAuthn domain (once is enough; again is harmless) and adds a
// virtual authenticator.
func (b *tab) plugIn() *authenticator {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, browsertest.Wait)
	defer cancel()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		b.T.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		}})
	if err != nil {
		b.T.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return &authenticator{b: b, id: res.AuthenticatorID}
}

// unplug removes the authenticator: the key is lost.
func (k *authenticator) unplug() {
	k.b.T.Helper()
	ctx, cancel := context.WithTimeout(k.b.Ctx, browsertest.Wait)
	defer cancel()
	if _, err := chromedp.Call(ctx, webauthn.RemoveVirtualAuthenticator,
		webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: k.id}); err != nil {
		k.b.T.Fatalf("WebAuthn.removeVirtualAuthenticator: %v", err)
	}
}

// credentials answers the credentials the authenticator holds, with their private keys and
// signature counters.
func (k *authenticator) credentials() []*webauthn.Credential {
	k.b.T.Helper()
	ctx, cancel := context.WithTimeout(k.b.Ctx, browsertest.Wait)
	defer cancel()
	res, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: k.id})
	if err != nil {
		k.b.T.Fatalf("WebAuthn.getCredentials: %v", err)
	}
	return res.Credentials
}

// keyCredential is a credential as WebAuthn.addCredential takes it, without the fields of
// features newer than the browser: cdproto's own Credential always sends
// generateCmtgKeyOnNextOperation, which chromium 156 refuses ("CMTG is not supported").
type keyCredential struct {
	CredentialID         []byte  `json:"credentialId"`
	IsResidentCredential bool    `json:"isResidentCredential"`
	RpID                 string  `json:"rpId"`
	PrivateKey           []byte  `json:"privateKey"`
	UserHandle           []byte  `json:"userHandle,omitempty"`
	SignCount            float64 `json:"signCount"`
	BackupEligibility    bool    `json:"backupEligibility"`
	BackupState          bool    `json:"backupState"`
}

type addCredentialParams struct {
	AuthenticatorID webauthn.AuthenticatorID `json:"authenticatorId"`
	Credential      keyCredential            `json:"credential"`
}

var addCredential = cdp.Command[addCredentialParams, cdp.Empty]{Method: webauthn.CommandAddCredential}

// add puts a copy of the credential c into the authenticator, with its counter as it was.
func (k *authenticator) add(c *webauthn.Credential) {
	k.b.T.Helper()
	ctx, cancel := context.WithTimeout(k.b.Ctx, browsertest.Wait)
	defer cancel()
	params := addCredentialParams{AuthenticatorID: k.id}
	params.Credential = keyCredential{CredentialID: c.CredentialID, IsResidentCredential: c.IsResidentCredential,
		RpID: c.RpID, PrivateKey: c.PrivateKey, UserHandle: c.UserHandle, SignCount: c.SignCount,
		BackupEligibility: c.BackupEligibility, BackupState: c.BackupState}
	if _, err := chromedp.Call(ctx, addCredential, params); err != nil {
		k.b.T.Fatalf("WebAuthn.addCredential: %v", err)
	}
}

// scripts turns the pages' JavaScript on or off, as a person may in their browser.
func (b *tab) scripts(on bool) {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, browsertest.Wait)
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled,
		emulation.SetScriptExecutionDisabledParams{Value: !on}); err != nil {
		b.T.Fatalf("Emulation.setScriptExecutionDisabled: %v", err)
	}
}

// pressKey presses a security key's button and waits for the page the browser goes to, which
// webauthn.js asks for once the authenticator answered. It answers the page's status.
func (b *tab) pressKey(sel string) int64 {
	b.T.Helper()
	if !b.visible(sel) {
		b.T.Fatalf("%s is hidden (webauthn.js did not run, or the browser cannot use a key here): %s", sel, b.Text("main"))
	}
	return b.Press(sel)
}

// mailed answers whether an email to addr whose subject holds subject is in the outbox.
func (a *testApp) mailed(addr, subject string) bool {
	a.t.Helper()
	entries, err := os.ReadDir(a.outbox)
	if err != nil {
		a.t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(a.outbox, e.Name()))
		if err != nil {
			a.t.Fatal(err)
		}
		m := string(b)
		if strings.Contains(m, "\r\nTo: <"+addr+">\r\n") && strings.Contains(m, "\r\nSubject: ") &&
			strings.Contains(m[strings.Index(m, "\r\nSubject: "):], subject) {
			return true
		}
	}
	return false
}

// TestBrowserSecurityKeys drives security keys (SPEC §9) through chromium's virtual
// authenticator: a key added from the Security tab, signing in with it, the authenticator app
// when the key is lost, a copy of the key with an older counter refused, disabled and mailed,
// the key removed with a code; enrolment with a key instead of the QR code; a key used from
// another origin refused by the server; and an account whose only second factor is a key
// regenerating its backup codes and removing the key with the key itself.
func TestBrowserSecurityKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser test is long; CI runs it")
	}
	bctx := startBrowser(t)
	screens := screensDir(t)
	a, other := newKeyApp(t)
	b := &tab{Tab: browsertest.Tab{T: t, Ctx: bctx}, app: a, screens: screens}
	var secret string
	var key *authenticator
	var copied *webauthn.Credential

	t.Run("a key added from the Security tab", func(t *testing.T) {
		b.T = t
		temp := a.addUser("kim", false)
		b.signIn("kim", temp)
		b.expectPath("/signin/enroll")
		if !b.visible("#use-key") || b.visible("#key-needs-js") || b.Text("#use-key") != "Use a security key instead" {
			t.Errorf("enrolment does not offer a key: %s", b.Text("main"))
		}
		secret, _ = b.enrol("kim", false)
		b.done()
		b.newPassword()
		b.open("/profile/security")
		key = b.plugIn()
		if b.Text("#add-key") != "Add a security key" {
			t.Fatalf("no \"Add a security key\": %s", b.Text("main"))
		}
		b.TypeIn("#key_name", "Blue key")
		b.TypeIn("#key_password", chosenPassword)
		if status := b.pressKey("#add-key"); status != http.StatusOK {
			t.Fatalf("adding the key answered %d: %s", status, b.Text("main"))
		}
		b.expectPath("/profile/security?m=key-added")
		b.shot("40-security-keys")
		if row := b.Text("#key-list tbody tr"); !strings.Contains(row, "Blue key") || !strings.Contains(row, "Never") {
			t.Errorf("the list of keys: %q", row)
		}
		if !a.mailed("kim@example.org", "Security key added") {
			t.Errorf("no mail about the added key")
		}
		if n := len(key.credentials()); n != 1 {
			t.Fatalf("the authenticator holds %d credentials", n)
		}
	})

	t.Run("signing in with the key", func(t *testing.T) {
		b.T = t
		for i := range 2 {
			a.clock.Advance(time.Minute)
			b.signOut()
			b.signIn("kim", chosenPassword)
			b.expectPath("/signin/verify")
			if i == 0 {
				b.shot("41-verify-with-key")
				if !browsertest.Eval[bool](&b.Tab, `!!(document.getElementById("use-key").compareDocumentPosition(document.getElementById("code")) & Node.DOCUMENT_POSITION_FOLLOWING)`) {
					t.Errorf("\"Use your security key\" is not above the code field")
				}
				if b.Text("#use-key") != "Use your security key" || b.visible("#key-needs-js") || !b.visible("#use-backup") {
					t.Errorf("Verification Required: %s", b.Text("main"))
				}
				// The key as it is now: a copy of it keeps this counter while the key goes on.
				copied = key.credentials()[0]
			}
			b.pressKey("#use-key")
			b.expectPath("/profile?m=signedin")
		}
		// "Remember this device" ticked before the key: the next sign-in needs only the password.
		a.setOption("mfaRememberDevice", "7d")
		a.clock.Advance(time.Minute)
		b.signOut()
		b.signIn("kim", chosenPassword)
		b.expectPath("/signin/verify")
		b.Do(chromedp.Click(chromedp.CSS("#remember-device")))
		b.pressKey("#use-key")
		b.expectPath("/profile?m=signedin")
		a.clock.Advance(time.Minute)
		b.signOut()
		b.signIn("kim", chosenPassword)
		b.expectPath("/profile?m=signedin")
		a.setOption("mfaRememberDevice", "0") // the cookie is no longer honoured
		b.open("/profile/security")
		if row := b.Text("#key-list tbody tr"); strings.Contains(row, "Never") {
			t.Errorf("the key's last use is not shown: %q", row)
		}
	})

	t.Run("without JavaScript: the code", func(t *testing.T) {
		b.T = t
		b.scripts(false)
		defer b.scripts(true)
		a.clock.Advance(time.Minute)
		b.signOut()
		b.signIn("kim", chosenPassword)
		b.expectPath("/signin/verify")
		if b.visible("#use-key") || !b.visible("#key-needs-js") || !strings.Contains(b.Text("#key-needs-js"), "needs JavaScript") {
			t.Errorf("without JavaScript: %s", b.Text("main"))
		}
		b.shot("44-verify-without-javascript")
		b.TypeIn("#code", b.code(secret))
		b.Press(`form[action="/signin/verify"] button`)
		b.expectPath("/profile?m=signedin")
	})

	t.Run("the key lost: the authenticator app", func(t *testing.T) {
		b.T = t
		key.unplug()
		a.clock.Advance(time.Minute)
		b.signOut()
		b.signIn("kim", chosenPassword)
		b.expectPath("/signin/verify")
		b.TypeIn("#code", b.code(secret))
		b.Press(`form[action="/signin/verify"] button`)
		b.expectPath("/profile?m=signedin")
	})

	t.Run("a copy of the key with an older counter", func(t *testing.T) {
		b.T = t
		clone := b.plugIn()
		defer clone.unplug()
		clone.add(copied)
		a.clock.Advance(time.Minute)
		b.signOut()
		b.signIn("kim", chosenPassword)
		b.expectPath("/signin/verify")
		if status := b.pressKey("#use-key"); status != http.StatusUnauthorized {
			t.Errorf("the copy answered %d", status)
		}
		b.shot("42-cloned-key")
		if !strings.Contains(b.Text("#form-alert"), "refused") {
			t.Errorf("the refusal: %s", b.Text("main"))
		}
		if !a.mailed("kim@example.org", "possible cloned key") {
			t.Errorf("no mail about a possible cloned key")
		}
		// The key is disabled: the page no longer offers it, the code still works.
		b.open("/signin/verify")
		if b.visible("#use-key") {
			t.Errorf("a disabled key is still offered")
		}
		b.TypeIn("#code", b.code(secret))
		b.Press(`form[action="/signin/verify"] button`)
		b.expectPath("/profile?m=signedin")
		b.open("/profile/security")
		if row := b.Text("#key-list tbody tr"); !strings.Contains(row, "Disabled") {
			t.Errorf("the key is not listed as disabled: %q", row)
		}
	})

	t.Run("the key removed with a code", func(t *testing.T) {
		b.T = t
		a.clock.Advance(time.Minute)
		b.open("/profile/security")
		b.TypeIn("#key_code", b.code(secret))
		b.Press("#remove-key")
		b.expectPath("/profile/security?m=key-rm")
		if b.Text("#key-list") != "" {
			t.Errorf("the key is still listed: %s", b.Text("#key-list"))
		}
		if !a.mailed("kim@example.org", "Security key removed") {
			t.Errorf("no mail about the removed key")
		}
	})

	t.Run("enrolment with a key instead of the QR code", func(t *testing.T) {
		b.T = t
		b.signOut()
		k := b.plugIn()
		defer k.unplug()
		temp := a.addUser("lee", false)
		b.signIn("lee", temp)
		b.expectPath("/signin/enroll")
		b.shot("43-enroll-with-key")
		if status := b.pressKey("#use-key"); status != http.StatusOK {
			t.Fatalf("enrolment with a key answered %d: %s", status, b.Text("main"))
		}
		if codes := b.Texts("#codes code"); len(codes) != 5 {
			t.Fatalf("%d backup codes shown: %s", len(codes), b.Text("main"))
		}
		b.done()
		b.newPassword()
		b.signOut()
		b.signIn("lee", chosenPassword)
		b.expectPath("/signin/verify")
		b.pressKey("#use-key")
		b.expectPath("/profile?m=signedin")

		// The same server at another origin: the browser signs for the relying party id
		// (localhost, the same), and the server refuses the origin it signed for.
		b.signOut()
		b.base = other
		defer func() { b.base = "" }()
		b.signIn("lee", chosenPassword)
		b.expectPath("/signin/verify")
		if status := b.pressKey("#use-key"); status != http.StatusUnauthorized {
			t.Errorf("a key used from %s answered %d", other, status)
		}
		if !strings.Contains(b.Text("#form-alert"), "refused") {
			t.Errorf("the refusal at another origin: %s", b.Text("main"))
		}
	})

	t.Run("a key as the first second factor, from the Security tab", func(t *testing.T) {
		b.T = t
		b.base = ""
		b.signOut()
		// An external account: MFA is optional for it, so it may skip enrolment.
		if _, _, err := a.svc.CreateUser(context.Background(), account.CLI, account.NewUser{Username: "max",
			Email: "max@example.org", Name: "Max Doe", Kind: store.KindExternal}); err != nil {
			t.Fatal(err)
		}
		b.signIn("max", a.tempPassword("max@example.org"))
		b.expectPath("/signin/enroll")
		b.Press("#skip")
		b.newPassword()
		b.open("/profile/security")
		k := b.plugIn()
		defer k.unplug()
		b.TypeIn("#key_name", "Passkey")
		b.TypeIn("#key_password", chosenPassword)
		if status := b.pressKey("#add-key"); status != http.StatusOK {
			t.Fatalf("adding the key answered %d: %s", status, b.Text("main"))
		}
		if codes := b.Texts("#codes code"); len(codes) != 5 {
			t.Fatalf("%d backup codes shown after the first key: %s", len(codes), b.Text("main"))
		}
		b.done()
		b.expectPath("/profile/security?m=key-added")
		b.signOut()
		b.signIn("max", chosenPassword)
		b.expectPath("/signin/verify")
		b.pressKey("#use-key")
		b.expectPath("/profile?m=signedin")

		// The key is max's only second factor: it regenerates the backup codes, and removes
		// itself.
		b.open("/profile/security")
		b.Do(chromedp.Click(chromedp.CSS("#regenerate-open")))
		if !b.visible("#regenerate") || b.Text("#regenerate-key") != "Use your security key" {
			t.Fatalf("the Regenerate dialog offers no key: %s", b.Text("#regenerate"))
		}
		if status := b.pressKey("#regenerate-key"); status != http.StatusOK {
			t.Fatalf("regenerating with the key answered %d: %s", status, b.Text("main"))
		}
		if codes := b.Texts("#codes code"); len(codes) != 5 {
			t.Fatalf("%d backup codes shown after regenerating with the key: %s", len(codes), b.Text("main"))
		}
		b.done()
		b.expectPath("/profile/security")
		if status := b.pressKey("#remove-key-with-key"); status != http.StatusOK {
			t.Fatalf("removing the key with itself answered %d: %s", status, b.Text("main"))
		}
		b.expectPath("/profile/security?m=key-rm")
		if b.Text("#key-list") != "" {
			t.Errorf("the key is still listed: %s", b.Text("#key-list"))
		}
	})

	t.Run("mfaWebAuthn no", func(t *testing.T) {
		b.T = t
		b.base = ""
		a.setOption("mfaWebAuthn", "no")
		// lee's only second factor is a key: the sign-in enrols an app now.
		b.signOut()
		b.signIn("lee", chosenPassword)
		b.expectPath("/signin/enroll")
		if b.visible("#use-key") || b.visible("#key-needs-js") {
			t.Errorf("a key is offered while keys are turned off: %s", b.Text("main"))
		}
		a.clock.Advance(time.Minute)
		b.signOut()
		b.signIn("kim", chosenPassword)
		b.TypeIn("#code", b.code(secret))
		b.Press(`form[action="/signin/verify"] button`)
		b.open("/profile/security")
		if b.visible("#keys") || b.visible("#add-key") {
			t.Errorf("the Security tab shows keys while they are turned off")
		}
		a.setOption("mfaWebAuthn", "yes")
		b.open("/profile/security")
		if !b.visible("#add-key") {
			t.Errorf("yes does not bring \"Add a security key\" back")
		}
	})
}
