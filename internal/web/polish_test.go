package web_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// rawTime is a machine time (RFC 3339) that no page may show a person.
var rawTime = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d`)

// TestLockedSecondFactorPage checks that a locked second factor shows no code form and says
// in words how long the lock lasts.
func TestLockedSecondFactorPage(t *testing.T) {
	a := newApp(t, appConfig{})
	c := a.client()
	secret, _ := c.signInFully("lou", a.addUser("lou", false))
	c.post("/signout", nil).expect(303, "/signin")
	c.post("/signin", url.Values{"username": {"lou"}, "password": {chosenPassword}}).expect(303, "/signin/verify")
	for range 4 {
		c.post("/signin/verify", url.Values{"code": {a.wrongCode(secret)}}).expect(401, "")
	}
	until := a.clock.Now().Add(15 * time.Minute).UTC()
	p := c.post("/signin/verify", url.Values{"code": {a.wrongCode(secret)}}).expect(429, "")
	checkLockedPage(t, "the failure that locks", p, "in 15 minutes, at "+until.Add(time.Second).Format("15:04")+" UTC")

	// Another sign-in meets the lock at the password step, in the same words.
	a.clock.Advance(5 * time.Minute)
	p = c.post("/signin", url.Values{"username": {"lou"}, "password": {chosenPassword}}).expect(429, "")
	if msg := p.byID("form-alert").content(); !strings.Contains(msg, "in 10 minutes") || rawTime.MatchString(msg) {
		t.Errorf("sign-in while locked says %q", msg)
	}
	if rawTime.MatchString(p.byID("main").content()) {
		t.Errorf("a raw time on the sign-in page:\n%s", p.body)
	}
}

func checkLockedPage(t *testing.T, what string, p *page, want string) {
	t.Helper()
	if p.has("code") || p.has("use-backup") || p.byID("main").find(tag("form")) != nil {
		t.Errorf("%s: the locked page offers a form:\n%s", what, p.body)
	}
	msg := p.byID("lock-message").content()
	if !strings.Contains(msg, want) {
		t.Errorf("%s: the locked page says %q, want %q", what, msg, want)
	}
	if rawTime.MatchString(p.byID("main").content()) {
		t.Errorf("%s: a raw time on the page:\n%s", what, p.body)
	}
}

// TestReusedCodeOnThePage checks that a code typed twice is answered with the service's
// message: a code works once, wait for the next.
func TestReusedCodeOnThePage(t *testing.T) {
	a := newApp(t, appConfig{})
	c := a.client()
	secret, _ := c.signInFully("rex", a.addUser("rex", false))
	code := a.totp(secret)
	c.post("/signout", nil)
	c.post("/signin", url.Values{"username": {"rex"}, "password": {chosenPassword}}).expect(303, "/signin/verify")
	c.post("/signin/verify", url.Values{"code": {code}}).expect(303, "/profile")
	c.post("/signout", nil)
	c.post("/signin", url.Values{"username": {"rex"}, "password": {chosenPassword}}).expect(303, "/signin/verify")
	p := c.post("/signin/verify", url.Values{"code": {code}}).expect(401, "")
	checkTied(t, p, "code", "works once")
	checkTied(t, p, "code", "next code")
}

// TestAuditShowsCodeChecks checks that the audit page lists failed code checks with their
// method and names the second factor of each sign-in.
func TestAuditShowsCodeChecks(t *testing.T) {
	a := newApp(t, appConfig{})
	admin := a.client()
	admin.signInFully("root", a.addUser("root", true))
	c := a.client()
	secret, codes := c.signInFully("una", a.addUser("una", false))
	c.post("/signout", nil)
	c.post("/signin", url.Values{"username": {"una"}, "password": {chosenPassword}})
	c.post("/signin/verify", url.Values{"code": {a.wrongCode(secret)}}).expect(401, "")
	c.post("/signin/backup", url.Values{"backup_code": {"aaaa-bbbb-cccc-dddd"}}).expect(401, "")
	c.post("/signin/backup", url.Values{"backup_code": {codes[0]}}).expect(303, "/profile")
	text := admin.get("/admin/audit?user=una").expect(200, "").byID("events").content()
	for _, want := range []string{"mfa.code_failed", "totp, 1 failed", "backup code, 2 failed",
		"password and backup code", "password and a second factor"} {
		if !strings.Contains(text, want) {
			t.Errorf("the audit of una lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "aaaa") || strings.Contains(text, codes[0]) {
		t.Errorf("the audit page shows a code")
	}
}

// TestLockedMetByAnotherSignIn checks that a sign-in waiting at the verification step when the
// second factor locks is shown the lock, not a code form.
func TestLockedMetByAnotherSignIn(t *testing.T) {
	a := newApp(t, appConfig{})
	c := a.client()
	secret, _ := c.signInFully("liv", a.addUser("liv", false))
	other := a.client()
	other.post("/signin", url.Values{"username": {"liv"}, "password": {chosenPassword}}).expect(303, "/signin/verify")
	c.post("/signout", nil)
	c.post("/signin", url.Values{"username": {"liv"}, "password": {chosenPassword}}).expect(303, "/signin/verify")
	for range 5 {
		c.post("/signin/verify", url.Values{"code": {a.wrongCode(secret)}})
	}
	a.clock.Advance(time.Minute)
	for _, path := range []string{"/signin/verify", "/signin/backup"} {
		checkLockedPage(t, path, other.get(path).expect(429, ""), "in 14 minutes")
	}
}

// TestNoRawTimesInMessages checks that a message with a time, such as an expired temporary
// password, shows it as every page does.
func TestNoRawTimesInMessages(t *testing.T) {
	a := newApp(t, appConfig{})
	temp := a.addUser("tom", false)
	a.clock.Advance(25 * time.Hour)
	p := a.client().post("/signin", url.Values{"username": {"tom"}, "password": {temp}})
	msg := p.byID("form-alert").content()
	if !strings.Contains(msg, "expired") || rawTime.MatchString(msg) || !strings.Contains(msg, " UTC") {
		t.Errorf("expired temporary password: %q", msg)
	}
}

// TestLockedDuringEnrolment checks that wrong codes at enrolment end on the same locked page.
func TestLockedDuringEnrolment(t *testing.T) {
	a := newApp(t, appConfig{})
	c := a.client()
	c.post("/signin", url.Values{"username": {"ena"}, "password": {a.addUser("ena", false)}}).expect(303, "/signin/enroll")
	secret := strings.ReplaceAll(c.get("/signin/enroll").byID("key").content(), " ", "")
	for range 4 {
		c.post("/signin/enroll/verify", url.Values{"code": {a.wrongCode(secret)}}).expect(401, "")
	}
	p := c.post("/signin/enroll/verify", url.Values{"code": {a.wrongCode(secret)}}).expect(429, "")
	checkLockedPage(t, "enrolment", p, "in 15 minutes")
}
