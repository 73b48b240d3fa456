package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/webauthntest"
)

// api posts body as JSON to the API, as webauthn.js does from one of our pages, and answers
// the JSON it gets, failing the test on any status but 200.
func (c *client) api(path, body string) []byte {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.app.url+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", c.app.url)
	p := c.do(req)
	if p.status != http.StatusOK {
		c.t.Fatalf("POST %s: %d %s", path, p.status, p.body)
	}
	return []byte(p.body)
}

// TestKeyOnlySecurityTab: an account whose only second factor is a security key, with the
// service's own keys and a software key at the pages' origin (http://localhost:PORT). The
// Security tab regenerates its backup codes with the key ("Use your security key" in the
// Regenerate dialog), removes a key with another key, adds an authenticator app as a second
// method (its backup codes kept), and shows a key refused as a possible clone disabled in its
// list (the answer the generic refusal).
func TestKeyOnlySecurityTab(t *testing.T) {
	a, _ := newKeyApp(t)
	c := a.client()
	temp := a.addUser("kim", false)
	k, err := webauthntest.New(a.url)
	if err != nil {
		t.Fatal(err)
	}
	get := func(k *webauthntest.Key, begin string) string {
		t.Helper()
		cred, err := k.Get(c.api(begin, "{}"))
		if err != nil {
			t.Fatal(err)
		}
		return string(cred)
	}

	// Enrolment with the key instead of the QR code.
	c.post("/signin", url.Values{"username": {"kim"}, "password": {temp}}).expect(303, "/signin/enroll")
	cred, err := k.Create(c.api("/api/v1/signin/mfa/enroll/webauthn/begin", "{}"))
	if err != nil {
		t.Fatal(err)
	}
	shown := c.post("/signin/enroll/key", url.Values{"credential": {string(cred)}}).expect(200, "")
	if doneTarget(t, shown) != "/signin/password" {
		t.Fatalf("Done after enrolment with a key leads to %q", doneTarget(t, shown))
	}
	c.post("/signin/password", url.Values{"new_password": {chosenPassword}, "confirm_password": {chosenPassword}}).
		expect(303, "/profile")

	sec := c.get("/profile/security").expect(200, "")
	for _, id := range []string{"regenerate-key", "regenerate-verify", "remove-key-with-key", "enroll-form"} {
		if !sec.has(id) {
			t.Errorf("the Security tab of a key-only account has no #%s:\n%s", id, sec.body)
		}
	}

	t.Run("Regenerate Backup Codes with the key", func(t *testing.T) {
		k.SignCount = 10
		p := c.post("/profile/security/backup-codes/key",
			url.Values{"credential": {get(k, "/api/v1/me/mfa/backup-codes/webauthn/begin")}}).expect(200, "")
		if n := len(p.byID("codes").all(tag("code"))); n != 5 {
			t.Errorf("%d new backup codes shown", n)
		}
		if len(a.mails("kim@example.org", "New backup codes")) != 1 {
			t.Error("no mail about the new backup codes")
		}
	})

	t.Run("a key removed with another key", func(t *testing.T) {
		k2, err := webauthntest.New(a.url)
		if err != nil {
			t.Fatal(err)
		}
		cred, err := k2.Create(c.api("/api/v1/me/webauthn/register/begin",
			`{"name":"Spare","current_password":"`+chosenPassword+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		c.post("/profile/security/keys", url.Values{"credential": {string(cred)}}).expect(303, "/profile/security?m=key-added")
		opts := c.get("/profile/security").expect(200, "").byID("key").all(tag("option"))
		if len(opts) != 2 || opts[1].content() != "Spare" {
			t.Fatalf("keys to remove: %d", len(opts))
		}
		c.post("/profile/security/keys/remove", url.Values{"key": {opts[1].attr("value")},
			"credential": {get(k, "/api/v1/me/webauthn/remove/begin")}}).expect(303, "/profile/security?m=key-rm")
		if n := len(c.get("/profile/security").expect(200, "").byID("key").all(tag("option"))); n != 1 {
			t.Errorf("%d keys left, want 1", n)
		}
	})

	t.Run("an authenticator app added", func(t *testing.T) {
		c.post("/profile/security/enroll", url.Values{"enroll_password": {chosenPassword}}).expect(303, "/profile/security/enroll")
		secret := strings.ReplaceAll(c.get("/profile/security/enroll").expect(200, "").byID("key").content(), " ", "")
		a.clock.Advance(30 * time.Second)
		c.post("/profile/security/enroll/verify", url.Values{"code": {a.totp(secret)}}).expect(303, "/profile/security?m=enrolled")
		sec := c.get("/profile/security").expect(200, "")
		if sec.has("enroll-form") || sec.byID("codes-left").content() != "5" {
			t.Errorf("after adding the app: enrol form shown %v, codes left %q", sec.has("enroll-form"), sec.byID("codes-left").content())
		}
	})
	t.Run("a possible clone is listed disabled", func(t *testing.T) {
		k.SignCount = 3 // a copy of the key, its counter behind
		p := c.post("/profile/security/backup-codes/key",
			url.Values{"credential": {get(k, "/api/v1/me/mfa/backup-codes/webauthn/begin")}}).expect(401, "")
		if !strings.Contains(p.byID("regenerate").content(), "The security key was refused") {
			t.Errorf("the refusal is not the generic one:\n%s", p.body)
		}
		if !strings.Contains(p.byID("key-list").content(), "Disabled: possible cloned key") {
			t.Errorf("the list does not show the key disabled:\n%s", p.body)
		}
		if p.has("regenerate-key") || p.has("remove-key-with-key") {
			t.Errorf("a disabled key is still offered to prove the second factor")
		}
	})

}
