package web_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/httpapi"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/web"
)

func TestCookieIsTheAPIs(t *testing.T) {
	if web.CookieName != httpapi.CookieName {
		t.Fatalf("pages use cookie %q, the API %q", web.CookieName, httpapi.CookieName)
	}
}

// checkHeaders checks the headers every answer carries.
func checkHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	directives := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		f := strings.Fields(d)
		if len(f) > 0 {
			directives[f[0]] = strings.Join(f[1:], " ")
		}
	}
	script, ok := directives["script-src"]
	if !ok {
		script = directives["default-src"]
	}
	if script != "'self'" {
		t.Errorf("%s: script-src is %q, want only 'self' (CSP %q)", what, script, csp)
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("%s: CSP allows inline code: %q", what, csp)
	}
	if directives["frame-ancestors"] != "'none'" {
		t.Errorf("%s: frame-ancestors is %q, want 'none'", what, directives["frame-ancestors"])
	}
	// same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on our own
	// forms, and over plain http on a host name (no Sec-Fetch-Site there) the cross-origin
	// protection refuses them.
	if got := h.Get("Referrer-Policy"); got != "same-origin" {
		t.Errorf("%s: Referrer-Policy %q, want same-origin", what, got)
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q", what, got)
	}
}

func TestSecurityHeaders(t *testing.T) {
	a := newApp(t, appConfig{})
	c := a.client()
	temp := a.addUser("alice", false)

	signin := c.get("/signin").expect(200, "")
	checkHeaders(t, "GET /signin", signin.header)
	for _, m := range signin.doc.all(tag("meta")) {
		if m.attr("name") == "referrer" && m.attr("content") != "same-origin" {
			t.Errorf("the page's own referrer policy is %q, want same-origin", m.attr("content"))
		}
	}
	checkHeaders(t, "404", c.get("/nowhere").expect(404, "").header)
	css := c.get("/static/style.css").expect(200, "")
	checkHeaders(t, "style.css", css.header)
	if !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") {
		t.Errorf("style.css served as %q", css.header.Get("Content-Type"))
	}

	// Every page that shows a secret is kept by no cache.
	c.post("/signin", url.Values{"username": {"alice"}, "password": {temp}}).expect(303, "/signin/enroll")
	enroll := c.get("/signin/enroll").expect(200, "")
	secret := strings.ReplaceAll(enroll.byID("key").content(), " ", "")
	codes := c.post("/signin/enroll/verify", url.Values{"code": {a.totp(secret)}}).expect(200, "")
	for what, p := range map[string]*page{"sign-in": signin, "enrolment (key)": enroll, "backup codes": codes} {
		checkHeaders(t, what, p.header)
		if got := p.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", what, got)
		}
	}
}

// TestNoInlineCode checks that the pages hold no inline script, event handler or style, so
// that the strict policy breaks nothing.
func TestNoInlineCode(t *testing.T) {
	a := newApp(t, appConfig{})
	admin := a.client()
	admin.signInFully("root", a.addUser("root", true))
	a.addUser("bob", false)
	user := a.client()
	user.post("/signin", url.Values{"username": {"bob"}, "password": {a.tempPassword("bob@example.org")}}).
		expect(303, "/signin/enroll")
	enroll := user.get("/signin/enroll")
	secret := strings.ReplaceAll(enroll.byID("key").content(), " ", "")
	pages := map[string]*page{
		"enroll":    enroll,
		"verify":    user.get("/signin/enroll/verify"),
		"codes":     user.post("/signin/enroll/verify", url.Values{"code": {a.totp(secret)}}),
		"password":  user.get("/signin/password"),
		"signin":    a.client().get("/signin"),
		"profile":   admin.get("/profile"),
		"security":  admin.get("/profile/security"),
		"options":   admin.get("/admin/options"),
		"users":     admin.get("/admin/users"),
		"user":      admin.get("/admin/users/bob"),
		"new user":  admin.get("/admin/users/new"),
		"audit":     admin.get("/admin/audit"),
		"not found": admin.get("/nowhere"),
		"confirm":   admin.post("/admin/options", url.Values{"internalMFA": {"optional"}}),
	}
	for name, p := range pages {
		if p.doc == nil {
			t.Errorf("%s: not HTML (status %d)", name, p.status)
			continue
		}
		for _, n := range p.doc.all(func(*node) bool { return true }) {
			if n.tag == "script" && (n.attr("src") == "" || strings.TrimSpace(n.text.String()) != "") {
				t.Errorf("%s: inline script", name)
			}
			if n.tag == "style" {
				t.Errorf("%s: <style> element", name)
			}
			for k := range n.attrs {
				if k == "style" || strings.HasPrefix(k, "on") {
					t.Errorf("%s: <%s %s=...>", name, n.tag, k)
				}
			}
			if n.tag == "script" && !strings.HasPrefix(n.attr("src"), "/static/") {
				t.Errorf("%s: script from %q", name, n.attr("src"))
			}
		}
	}
	if !pages["codes"].has("codes") || pages["codes"].doc.find(tag("script")) == nil {
		t.Errorf("the backup codes page loads no app.js for copy and print")
	}
}

// The pages are what the API needs of them (API.Protect, the identity provider's callback).
var _ httpapi.Pages = (*web.Handler)(nil)

func TestTemplatesParsedAtStart(t *testing.T) {
	h, err := web.New(web.Config{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/static/app.js", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "data-copy") {
		t.Fatalf("app.js: %d", rec.Code)
	}
}

// snapshot is everything a GET must leave as it was.
type snapshot struct {
	events  int
	options map[string]string
	users   []*account.UserView
}

func (a *testApp) snapshot() snapshot {
	a.t.Helper()
	ctx := context.Background()
	ev, err := a.svc.Audit(ctx, account.CLI, account.EventFilter{Limit: "1000"})
	if err != nil {
		a.t.Fatal(err)
	}
	opts, err := a.svc.Options(ctx, account.CLI, "")
	if err != nil {
		a.t.Fatal(err)
	}
	users, err := a.svc.Users(ctx, account.CLI)
	if err != nil {
		a.t.Fatal(err)
	}
	values := map[string]string{}
	for _, o := range opts {
		values[o.Key] = o.Value
	}
	return snapshot{events: len(ev), options: values, users: users}
}

func TestGetChangesNothing(t *testing.T) {
	a := newApp(t, appConfig{})
	admin := a.client()
	admin.signInFully("root", a.addUser("root", true))

	// carol's sign-in is at enrolment with no key made yet (begun through the JSON API, say).
	temp := a.addUser("carol", false)
	st, err := a.svc.SignIn(context.Background(), account.SignInRequest{Username: "carol", Password: temp})
	if err != nil || st.Next != account.StepEnroll {
		t.Fatalf("sign-in: %+v %v", st, err)
	}
	carol := a.client()
	u, _ := url.Parse(a.url)
	carol.http.Jar.SetCookies(u, []*http.Cookie{{Name: web.CookieName, Value: st.Token, Path: "/"}})

	before := a.snapshot()
	for _, path := range []string{"/", "/signin", "/signin/enroll", "/signin/enroll/verify", "/signin/verify",
		"/signin/backup", "/signin/password", "/profile", "/profile/security", "/profile/security/enroll",
		"/profile/security/enroll/verify", "/admin/options", "/admin/options?search=MFA", "/admin/users",
		"/admin/users/new", "/admin/users/carol", "/admin/audit?user=carol", "/static/app.js"} {
		for _, c := range []*client{admin, carol, a.client()} {
			if p := c.get(path); p.status >= 500 {
				t.Errorf("GET %s: %d", path, p.status)
			}
		}
	}
	// GET on the paths of changes is refused, with the page of 405.
	for _, path := range []string{"/signout", "/signin/enroll/skip", "/profile/security/backup-codes",
		"/admin/options/confirm", "/admin/users/carol/disable", "/admin/users/carol/mfa/reset"} {
		p := admin.get(path).expect(http.StatusMethodNotAllowed, "")
		if !strings.Contains(p.header.Get("Allow"), "POST") {
			t.Errorf("GET %s: Allow %q", path, p.header.Get("Allow"))
		}
	}
	after := a.snapshot()
	if before.events != after.events {
		t.Errorf("GETs wrote %d audit events", after.events-before.events)
	}
	if !reflect.DeepEqual(before.options, after.options) {
		t.Errorf("GETs changed options")
	}
	if !reflect.DeepEqual(before.users, after.users) {
		t.Errorf("GETs changed accounts")
	}
	if e, err := a.svc.PendingEnrollment(context.Background(), st.Token); err != nil || e != nil {
		t.Errorf("GET /signin/enroll made a key: %v %v", e, err)
	}
	// The enrolment page offers to make the key with a POST.
	p := carol.get("/signin/enroll").expect(200, "")
	if p.has("qr") || p.doc.find(func(n *node) bool { return n.tag == "form" && n.attr("method") == "post" }) == nil {
		t.Errorf("enrolment page without a key:\n%s", p.body)
	}
	admin.get("/profile").expect(200, "") // the admin's session survived every GET
}

func TestCrossOriginPostRefused(t *testing.T) {
	a := newApp(t, appConfig{})
	admin := a.client()
	admin.signInFully("root", a.addUser("root", true))
	form := url.Values{options.InternalMFA: {"off"}}
	for name, header := range map[string]map[string]string{
		"Sec-Fetch-Site cross-site": {"Sec-Fetch-Site": "cross-site"},
		"Sec-Fetch-Site same-site":  {"Sec-Fetch-Site": "same-site"},
		"Origin of another site":    {"Origin": "http://evil.example"},
		// What a page with Referrer-Policy no-referrer posts from outside a secure context.
		"Origin null": {"Origin": "null"},
	} {
		if p := admin.postWith("/admin/options/confirm", form, header); p.status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", name, p.status)
		}
	}
	if got := a.option(options.InternalMFA); got != "required" {
		t.Fatalf("a refused post changed internalMFA to %q", got)
	}
	// The same post from our own page goes through.
	admin.post("/admin/options/confirm", form).expect(303, "/admin/options")
	if got := a.option(options.InternalMFA); got != "off" {
		t.Fatalf("internalMFA = %q after a same-origin confirm", got)
	}

	// The pages refuse on their own too, wherever they are mounted, with a page that says why.
	h, err := web.New(web.Config{Service: a.svc})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/signin", strings.NewReader("username=root&password=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("web handler alone: cross-site POST answered %d", rec.Code)
	}
	checkHeaders(t, "refusal page", rec.Header())
	if doc := parseHTML(t, rec.Body.String()); !strings.Contains(doc.content(), "another site") {
		t.Errorf("the refusal does not say why:\n%s", rec.Body.String())
	}
}

// checkTied checks that input id shows an error containing want, tied to it.
func checkTied(t *testing.T, p *page, id, want string) {
	t.Helper()
	in := p.byID(id)
	if in.attr("aria-invalid") != "true" {
		t.Errorf("#%s is not aria-invalid", id)
	}
	described := strings.Fields(in.attr("aria-describedby"))
	if !slices.Contains(described, id+"-error") {
		t.Errorf("#%s aria-describedby=%q lacks %s-error", id, in.attr("aria-describedby"), id)
	}
	if msg := p.byID(id + "-error").content(); !strings.Contains(msg, want) {
		t.Errorf("#%s-error says %q, want %q", id, msg, want)
	}
	if !in.hasAttr("autofocus") {
		t.Errorf("#%s in error does not take the focus", id)
	}
}

func TestErrorsTiedToFields(t *testing.T) {
	a := newApp(t, appConfig{})
	c := a.client()
	secret, _ := c.signInFully("dave", a.addUser("dave", false))
	c.post("/signout", nil).expect(303, "/signin?m=signedout")

	// A wrong password: one alert, announced, that the first field refers to.
	p := c.post("/signin", url.Values{"username": {"dave"}, "password": {"not the password"}}).expect(401, "")
	alert := p.byID("form-alert")
	if alert.attr("role") != "alert" || !strings.Contains(alert.content(), "wrong") {
		t.Errorf("alert: %q role %q", alert.content(), alert.attr("role"))
	}
	if !strings.Contains(p.byID("username").attr("aria-describedby"), "form-alert") {
		t.Errorf("the username field does not refer to the alert")
	}
	if p.byID("username").attr("value") != "dave" || p.byID("password").attr("value") != "" {
		t.Errorf("the form should keep the username and never the password")
	}
	checkTied(t, c.post("/signin", url.Values{"username": {"dave!"}, "password": {"x"}}).expect(400, ""),
		"username", "letters, digits")

	c.post("/signin", url.Values{"username": {"dave"}, "password": {chosenPassword}}).expect(303, "/signin/verify")
	checkTied(t, c.post("/signin/verify", url.Values{"code": {"12345"}}).expect(400, ""), "code", "6 digits")
	checkTied(t, c.post("/signin/verify", url.Values{"code": {a.wrongCode(secret)}}).expect(401, ""), "code", "wrong")
	checkTied(t, c.post("/signin/backup", url.Values{"backup_code": {"nope"}}).expect(400, ""), "backup_code", "16 letters")

	// New-password rules are said before typing, and a refusal is tied to its field.
	eve := a.client()
	eve.post("/signin", url.Values{"username": {"eve"}, "password": {a.addUser("eve", false)}})
	a.setOption(options.InternalMFA, options.PolicyOff)
	pw := eve.get("/signin/password").expect(200, "")
	rules := pw.byID("password-rules").content()
	for _, want := range []string{"at least 12 characters", "most common", "eve"} {
		if !strings.Contains(rules, want) {
			t.Errorf("rules %q do not say %q", rules, want)
		}
	}
	if !strings.Contains(pw.byID("new_password").attr("aria-describedby"), "password-rules") {
		t.Errorf("the new password field does not refer to the rules")
	}
	p = eve.post("/signin/password", url.Values{"new_password": {"short"}, "confirm_password": {"short"}}).expect(400, "")
	checkTied(t, p, "new_password", "at least 12")
	p = eve.post("/signin/password", url.Values{"new_password": {chosenPassword}, "confirm_password": {"other"}}).expect(400, "")
	checkTied(t, p, "confirm_password", "not the same")
	a.setOption(options.InternalMFA, options.PolicyRequired)

	// An option refused on Save is shown on its row.
	admin := a.client()
	admin.signInFully("root", a.addUser("root", true))
	p = admin.post("/admin/options", url.Values{options.MFABackupCodeCount: {"99"}}).expect(400, "")
	in := p.byID("opt-mfaBackupCodeCount")
	if in.attr("aria-invalid") != "true" || !strings.Contains(in.attr("aria-describedby"), "opt-mfaBackupCodeCount-error") {
		t.Errorf("option error not tied: %v", in.attrs)
	}
	if !strings.Contains(p.byID("opt-mfaBackupCodeCount-error").content(), "1 to 20") {
		t.Errorf("option error does not name the allowed values")
	}
	if in.attr("value") != "99" {
		t.Errorf("the typed value is not shown again")
	}
}

// TestLabels checks that every control of every form has a label.
func TestLabels(t *testing.T) {
	a := newApp(t, appConfig{})
	admin := a.client()
	admin.signInFully("root", a.addUser("root", true))
	a.setOption(options.InternalMFA, options.PolicyOptional)
	a.addUser("fay", false)
	pages := map[string]*page{
		"signin":   a.client().get("/signin"),
		"security": admin.get("/profile/security"),
		"options":  admin.get("/admin/options"),
		"new user": admin.get("/admin/users/new"),
		"user":     admin.get("/admin/users/fay"),
		"audit":    admin.get("/admin/audit"),
	}
	fay := a.client()
	fay.post("/signin", url.Values{"username": {"fay"}, "password": {a.tempPassword("fay@example.org")}})
	pages["enroll (optional)"] = fay.get("/signin/enroll")
	pages["verify"] = fay.get("/signin/enroll/verify")
	fay.post("/signin/enroll/skip", nil).expect(303, "/signin/password")
	pages["password"] = fay.get("/signin/password")
	fay.post("/signin/password", url.Values{"new_password": {chosenPassword}, "confirm_password": {chosenPassword}})
	pages["security (not enrolled)"] = fay.get("/profile/security")
	if !pages["security (not enrolled)"].has("enroll_password") {
		t.Errorf("an optional policy offers no enrolment from the profile")
	}
	for name, p := range pages {
		if p.status != 200 {
			t.Errorf("%s: status %d", name, p.status)
			continue
		}
		labels := map[string]bool{}
		for _, l := range p.doc.all(tag("label")) {
			labels[l.attr("for")] = true
		}
		for _, in := range p.doc.all(func(n *node) bool { return n.tag == "input" || n.tag == "select" || n.tag == "textarea" }) {
			switch in.attr("type") {
			case "hidden", "submit", "button":
				continue
			}
			if in.hasAttr("hidden") {
				continue
			}
			inLabel := false
			for up := in.parent; up != nil; up = up.parent {
				inLabel = inLabel || up.tag == "label"
			}
			if !inLabel && (in.attr("id") == "" || !labels[in.attr("id")]) && in.attr("aria-label") == "" {
				t.Errorf("%s: <%s name=%q> has no label", name, in.tag, in.attr("name"))
			}
		}
		if p.doc.find(tag("h1")) == nil {
			t.Errorf("%s: no h1", name)
		}
		if p.doc.find(tag("html")).attr("lang") == "" {
			t.Errorf("%s: no lang", name)
		}
	}
	code := pages["verify"].byID("code")
	if code.attr("inputmode") != "numeric" || code.attr("autocomplete") != "one-time-code" {
		t.Errorf("the code field: %v", code.attrs)
	}
}

func TestSignInWithBackupCodes(t *testing.T) {
	a := newApp(t, appConfig{})
	c := a.client()
	secret, codes := c.signInFully("gus", a.addUser("gus", false))
	if len(codes) != 5 {
		t.Fatalf("%d codes", len(codes))
	}
	if got := c.get("/profile/security").byID("codes-left").content(); got != "5" {
		t.Errorf("codes left %q", got)
	}
	signInWith := func(code string) *page {
		t.Helper()
		c.post("/signout", nil).expect(303, "/signin")
		c.post("/signin", url.Values{"username": {"gus"}, "password": {chosenPassword}}).expect(303, "/signin/verify")
		verify := c.get("/signin/verify").expect(200, "")
		if verify.byID("use-backup").attr("href") != "/signin/backup" || verify.byID("use-backup").content() != "Use a backup code" {
			t.Fatalf("no \"Use a backup code\" link")
		}
		c.get("/signin/backup").expect(200, "")
		return c.post("/signin/backup", url.Values{"backup_code": {code}})
	}
	signInWith(strings.ToUpper(codes[0])).expect(303, "/profile") // any case, dashes or not
	signInWith(strings.ReplaceAll(codes[1], "-", " ")).expect(303, "/profile")
	low := signInWith(codes[2]).expect(200, "")
	if !strings.Contains(low.byID("codes-low").content(), "Only 2 backup codes left") {
		t.Errorf("no warning with 2 codes left:\n%s", low.body)
	}
	if got := doneTarget(t, low); got != "/profile" {
		t.Errorf("Done leads to %q", got)
	}
	checkTied(t, signInWith(codes[2]).expect(401, ""), "backup_code", "wrong")

	// Rotating codes: the new code is shown once, with copy, download and print.
	a.setOption(options.MFARotateBackupCodes, "yes")
	rotated := signInWith(codes[3]).expect(200, "")
	shown := rotated.byID("codes").all(tag("code"))
	if len(shown) != 1 || !rotated.has("download") {
		t.Fatalf("rotated code page:\n%s", rotated.body)
	}
	c.get("/profile").expect(200, "")

	// Backup codes disabled: the link's page says so, and the profile hides their part.
	a.setOption(options.EnableMFABackupCodes, "no")
	c.post("/signout", nil).expect(303, "/signin")
	c.post("/signin", url.Values{"username": {"gus"}, "password": {chosenPassword}}).expect(303, "/signin/verify")
	if c.get("/signin/verify").expect(200, "").has("use-backup") {
		t.Errorf("\"Use a backup code\" offered while backup codes are disabled")
	}
	p := c.post("/signin/backup", url.Values{"backup_code": {shown[0].content()}}).expect(403, "")
	if !strings.Contains(p.byID("backup_code-error").content(), "turned off") {
		t.Errorf("disabled codes: %s", p.body)
	}
	c.post("/signin/verify", url.Values{"code": {a.totp(secret)}}).expect(303, "/profile")
	sec := c.get("/profile/security").expect(200, "")
	if sec.has("codes-left") || sec.has("regenerate-open") || sec.has("regenerate") {
		t.Errorf("backup codes disabled, but the profile shows them")
	}
	if !strings.Contains(sec.byID("mfa-status").content(), "Set up") {
		t.Errorf("MFA status hidden with backup codes disabled")
	}
}

func TestRegenerateBackupCodes(t *testing.T) {
	a := newApp(t, appConfig{})
	c := a.client()
	secret, old := c.signInFully("hal", a.addUser("hal", false))
	sec := c.get("/profile/security").expect(200, "")
	if sec.byID("regenerate-open").attr("href") != "#regenerate" || sec.byID("regen-h").content() != "Regenerate Backup Codes" {
		t.Fatalf("no Regenerate Backup Codes dialog")
	}
	if strings.Contains(sec.byID("regenerate").attr("class"), "open") {
		t.Errorf("the dialog is open before it is asked for")
	}
	wrong := c.post("/profile/security/backup-codes", url.Values{"code": {a.wrongCode(secret)}}).expect(401, "")
	if !strings.Contains(wrong.byID("regenerate").attr("class"), "open") {
		t.Errorf("a refused code closes the dialog")
	}
	checkTied(t, wrong, "code", "wrong")
	p := c.post("/profile/security/backup-codes", url.Values{"code": {a.totp(secret)}}).expect(200, "")
	if p.byID("codes-h") == nil || len(p.byID("codes").all(tag("code"))) != 5 {
		t.Fatalf("new codes:\n%s", p.body)
	}
	if got := doneTarget(t, p); got != "/profile/security" {
		t.Errorf("Done leads to %q", got)
	}
	c.post("/signout", nil)
	c.post("/signin", url.Values{"username": {"hal"}, "password": {chosenPassword}})
	c.post("/signin/backup", url.Values{"backup_code": {old[0]}}).expect(401, "") // voided
}

func TestDownloadHoldsTheCodes(t *testing.T) {
	a := newApp(t, appConfig{})
	c := a.client()
	temp := a.addUser("ivy", false)
	c.post("/signin", url.Values{"username": {"ivy"}, "password": {temp}})
	secret := strings.ReplaceAll(c.get("/signin/enroll").byID("key").content(), " ", "")
	p := c.post("/signin/enroll/verify", url.Values{"code": {a.totp(secret)}}).expect(200, "")
	dl := p.byID("download")
	if dl.attr("download") != "twofold-backup-codes.txt" || dl.content() != "Download" {
		t.Fatalf("download link %v", dl.attrs)
	}
	const prefix = "data:text/plain;charset=utf-8;base64,"
	href := dl.attr("href")
	if !strings.HasPrefix(href, prefix) {
		t.Fatalf("href %q", href)
	}
	text, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(href, prefix))
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range p.byID("codes").all(tag("code")) {
		if !strings.Contains(string(text), code.content()+"\n") {
			t.Errorf("the file lacks %s:\n%s", code.content(), text)
		}
	}
	for _, id := range []string{"done"} {
		if p.byID(id).content() != "Done" {
			t.Errorf("#%s says %q", id, p.byID(id).content())
		}
	}
	for _, b := range p.doc.all(func(n *node) bool { return n.tag == "button" && n.attr("type") == "button" }) {
		if !b.hasAttr("hidden") {
			t.Errorf("script-only button %q is shown without JavaScript", b.content())
		}
	}
}

func TestOptionalPolicyEnrolLater(t *testing.T) {
	a := newApp(t, appConfig{})
	a.setOption(options.InternalMFA, options.PolicyOptional)
	c := a.client()
	c.post("/signin", url.Values{"username": {"jan"}, "password": {a.addUser("jan", false)}}).expect(303, "/signin/enroll")
	enroll := c.get("/signin/enroll").expect(200, "")
	if enroll.byID("skip").content() != "Skip for now" {
		t.Fatalf("no Skip for now")
	}
	c.post("/signin/enroll/skip", nil).expect(303, "/signin/password")
	c.post("/signin/password", url.Values{"new_password": {chosenPassword}, "confirm_password": {chosenPassword}}).
		expect(303, "/profile")
	sec := c.get("/profile/security").expect(200, "")
	if !strings.Contains(sec.byID("mfa-status").content(), "Not set up") {
		t.Errorf("status %q", sec.byID("mfa-status").content())
	}
	checkTied(t, c.post("/profile/security/enroll", url.Values{"enroll_password": {"wrong password"}}).expect(401, ""),
		"enroll_password", "wrong")
	c.post("/profile/security/enroll", url.Values{"enroll_password": {chosenPassword}}).expect(303, "/profile/security/enroll")
	p := c.get("/profile/security/enroll").expect(200, "")
	secret := strings.ReplaceAll(p.byID("key").content(), " ", "")
	if p.byID("continue").attr("href") != "/profile/security/enroll/verify" {
		t.Fatalf("Continue leads to %q", p.byID("continue").attr("href"))
	}
	c.get("/profile/security/enroll/verify").expect(200, "")
	codes := c.post("/profile/security/enroll/verify", url.Values{"code": {a.totp(secret)}}).expect(200, "")
	if len(codes.byID("codes").all(tag("code"))) != 5 {
		t.Fatalf("codes page:\n%s", codes.body)
	}
	sec = c.get("/profile/security").expect(200, "")
	if !strings.Contains(sec.byID("mfa-status").content(), "Set up") || sec.has("enroll_password") {
		t.Errorf("after enrolling: %s", sec.byID("mfa").content())
	}
}

func TestAdminOptions(t *testing.T) {
	a := newApp(t, appConfig{})
	admin := a.client()
	admin.signInFully("root", a.addUser("root", true))

	p := admin.get("/admin/options?search=MFA").expect(200, "")
	var keys []string
	for _, row := range p.byID("options-grid").all(func(n *node) bool { return n.tag == "tr" && n.attr("data-key") != "" }) {
		keys = append(keys, row.attr("data-key"))
	}
	var want []string
	for _, o := range options.Search("MFA") {
		want = append(want, o.Key)
	}
	if !reflect.DeepEqual(keys, want) || slices.Contains(keys, options.FailedSignInsPerAddress) {
		t.Errorf("search MFA shows %v, want %v", keys, want)
	}
	sel := p.byID("opt-internalMFA")
	var labels []string
	for _, o := range sel.all(tag("option")) {
		labels = append(labels, o.content())
	}
	if !reflect.DeepEqual(labels, []string{"Off", "On (Required)", "On (Optional)"}) {
		t.Errorf("internalMFA values %v", labels)
	}

	// Save asks first; only Confirm saves.
	confirm := admin.post("/admin/options", url.Values{"search": {"MFA"}, "internalMFA": {"optional"},
		"externalMFA": {"optional"}}).expect(200, "")
	if confirm.byID("confirm-h").content() != "Change configuration options" || confirm.byID("confirm").content() != "Confirm" {
		t.Fatalf("confirmation:\n%s", confirm.body)
	}
	if rows := confirm.byID("changes").all(tag("tr")); len(rows) != 2 { // header and internalMFA
		t.Errorf("changes listed: %d rows", len(rows))
	}
	if !strings.Contains(confirm.byID("confirm-when").content(), "within 5 seconds") {
		t.Errorf("the confirmation does not say when the change takes effect")
	}
	if got := a.option(options.InternalMFA); got != "required" {
		t.Fatalf("Save alone changed internalMFA to %q", got)
	}
	form := url.Values{}
	for _, in := range confirm.doc.all(tag("input")) {
		form.Add(in.attr("name"), in.attr("value"))
	}
	done := admin.post("/admin/options/confirm", form).expect(303, "/admin/options?")
	if a.option(options.InternalMFA) != "optional" {
		t.Fatalf("Confirm did not save")
	}
	saved := admin.get(done.location()).expect(200, "")
	if !strings.Contains(saved.body, "within 5 seconds") || saved.byID("search").attr("value") != "MFA" {
		t.Errorf("after Confirm:\n%s", saved.body)
	}
	ev, _ := a.svc.Audit(context.Background(), account.CLI, account.EventFilter{Action: "option.changed"})
	if len(ev) != 1 || ev[0].Actor != "root" || !strings.Contains(ev[0].Detail, "required -> optional") {
		t.Errorf("audit: %+v", ev)
	}
	admin.post("/admin/options", url.Values{"internalMFA": {"optional"}}).expect(303, "/admin/options?m=unchanged")

	// A value the service refuses is refused at Save, beside its option, before any Confirm;
	// a Confirm carrying one refused value saves none of the others.
	bad := admin.post("/admin/options", url.Values{"internalMFA": {"off"}, "mfaIssuer": {"Acme\tCorp"}}).expect(400, "")
	if strings.Contains(bad.body, `id="confirm"`) || !strings.Contains(bad.body, "control character") {
		t.Errorf("a control character in mfaIssuer reached the confirmation:\n%s", bad.body)
	}
	admin.post("/admin/options/confirm", url.Values{"internalMFA": {"off"}, "mfaIssuer": {"Acme\tCorp"}}).expect(400, "")
	if a.option(options.InternalMFA) != "optional" || a.option(options.MFAIssuer) != "Twofold" {
		t.Fatalf("a refused Confirm saved part of it: internalMFA %q, mfaIssuer %q",
			a.option(options.InternalMFA), a.option(options.MFAIssuer))
	}

	// Only admins.
	user := a.client()
	user.signInFully("kim", a.addUser("kim", false))
	user.get("/admin/options").expect(403, "")
	user.post("/admin/options/confirm", url.Values{"internalMFA": {"off"}}).expect(403, "")
	if a.option(options.InternalMFA) != "optional" {
		t.Fatalf("a user changed an option")
	}
}

// confirmed is the form of a confirmation page's button.
var confirmed = url.Values{"confirm": {"1"}}

func TestAdminAccounts(t *testing.T) {
	a := newApp(t, appConfig{})
	admin := a.client()
	admin.signInFully("root", a.addUser("root", true))

	admin.get("/admin/users/new").expect(200, "")
	admin.post("/admin/users", url.Values{"username": {"Lee"}, "email": {"lee@example.org"}, "name": {"Lee Roe"},
		"kind": {"internal"}, "source": {"local"}, "role": {"user"}}).expect(303, "/admin/users/lee?m=created")
	if len(a.mails("lee@example.org", account.SubjectPasswordGenerated)) != 1 {
		t.Errorf("no Password Generated email")
	}
	temp := a.tempPassword("lee@example.org")
	p := admin.post("/admin/users", url.Values{"username": {"lee"}, "email": {"lee@example.org"}}).expect(409, "")
	checkTied(t, p, "username", "taken")
	if p.byID("email").attr("value") != "lee@example.org" {
		t.Errorf("the form lost what was typed")
	}
	// Text from people is text (SPEC §5): a name with a terminal escape is refused, with the rule.
	p = admin.post("/admin/users", url.Values{"username": {"eve"}, "email": {"eve@example.org"}, "name": {"Eve\x1b[2J"}}).expect(400, "")
	if !strings.Contains(p.doc.content(), "control characters") {
		t.Errorf("a name with an escape sequence: the page does not say the rule")
	}
	admin.get("/admin/users/eve").expect(404, "")

	list := admin.get("/admin/users").expect(200, "")
	row := list.doc.find(func(n *node) bool { return n.attr("data-user") == "lee" })
	if row == nil || !strings.Contains(row.content(), "Not set up") || !strings.Contains(row.content(), "Active") {
		t.Fatalf("list row: %v", row)
	}

	lee := a.client()
	lee.signInFully("lee", temp)

	// Locks show in the list and Unlock ends them.
	for range 10 {
		a.client().post("/signin", url.Values{"username": {"lee"}, "password": {"wrong password!"}})
	}
	if !strings.Contains(admin.get("/admin/users/lee").byID("locks").content(), "Password locked, opens in 15 minutes") {
		t.Errorf("password lock not shown")
	}
	admin.post("/admin/users/lee/unlock", nil).expect(303, "/admin/users/lee?m=unlocked")
	if got := admin.get("/admin/users/lee").byID("locks").content(); got != "None" {
		t.Errorf("locks after unlock: %q", got)
	}

	// A new temporary password is emailed and ends the sessions.
	admin.post("/admin/users/lee/password/reset", confirmed).expect(303, "/admin/users/lee?m=pw-reset")
	if a.tempPassword("lee@example.org") == temp {
		t.Errorf("no new temporary password emailed")
	}
	lee.get("/profile").expect(303, "/signin")

	// Disable refuses the sign-in with its own message; enable lets it in again.
	admin.post("/admin/users/lee/disable", confirmed).expect(303, "/admin/users/lee?m=disabled")
	p = lee.post("/signin", url.Values{"username": {"lee"}, "password": {a.tempPassword("lee@example.org")}}).expect(403, "")
	if !strings.Contains(p.byID("form-alert").content(), "disabled") {
		t.Errorf("disabled: %s", p.byID("form-alert").content())
	}
	admin.post("/admin/users/lee/enable", nil).expect(303, "/admin/users/lee?m=enabled")
	admin.post("/admin/users/root/disable", confirmed).expect(409, "")

	// Reset MFA: the next sign-in goes to enrolment.
	admin.post("/admin/users/lee/mfa/reset", confirmed).expect(303, "/admin/users/lee?m=mfa-reset")
	lee.post("/signin", url.Values{"username": {"lee"}, "password": {a.tempPassword("lee@example.org")}}).
		expect(303, "/signin/enroll")
	if !lee.get("/signin/enroll").has("qr") {
		t.Errorf("no QR after a reset")
	}

	// The audit log filters by account.
	audit := admin.get("/admin/audit?user=lee").expect(200, "")
	text := audit.byID("events").content()
	for _, want := range []string{"user.created", "user.unlocked", "password.reset", "user.disabled", "mfa.reset"} {
		if !strings.Contains(text, want) {
			t.Errorf("audit of lee lacks %s", want)
		}
	}
	for _, cell := range audit.byID("events").all(func(n *node) bool { return n.attr("data-label") == "Account" }) {
		if cell.content() != "lee" {
			t.Errorf("the filter lets through an event of %q", cell.content())
		}
	}
	if audit.byID("user").attr("value") != "lee" {
		t.Errorf("the filter field lost its value")
	}
	checkTied(t, admin.get("/admin/audit?user=no+such!").expect(400, ""), "user", "letters")
	admin.get("/admin/users/nobody").expect(404, "")
}

func TestSSOLink(t *testing.T) {
	a := newApp(t, appConfig{ssoURL: "https://idp.example/start"})
	p := a.client().get("/signin").expect(200, "")
	if sso := p.byID("sso"); sso.content() != "Login with the identity provider" || sso.attr("href") != "https://idp.example/start" {
		t.Errorf("sso link %v %q", sso.attrs, sso.content())
	}
	if newApp(t, appConfig{}).client().get("/signin").has("sso") {
		t.Errorf("the SSO link shows without SSO")
	}

	// A new sign-in an application asked for (prompt=login) asks it of the identity provider
	// too, also on the page that answers a wrong password.
	rd := "/oidc/continue?id=abc"
	want := "https://idp.example/start?" + url.Values{"prompt": {"login"}, "rd": {rd}}.Encode()
	c := a.client()
	p = c.get("/signin?prompt=login&rd="+url.QueryEscape(rd)).expect(200, "")
	if href := p.byID("sso").attr("href"); href != want {
		t.Errorf("sso link %q after prompt=login, want %q", href, want)
	}
	p = c.post("/signin", url.Values{"username": {"nobody"}, "password": {"wrong password"}, "prompt": {"login"}, "rd": {rd}})
	if href := p.byID("sso").attr("href"); href != want {
		t.Errorf("sso link %q on the wrong password's page, want %q", href, want)
	}
	if p := c.get("/signin?rd=" + url.QueryEscape(rd)); strings.Contains(p.byID("sso").attr("href"), "prompt") {
		t.Errorf("sso link %q asks for a new sign-in unasked", p.byID("sso").attr("href"))
	}
}

func TestCookieAttributes(t *testing.T) {
	a := newApp(t, appConfig{})
	c := a.client()
	p := c.post("/signin", url.Values{"username": {"max"}, "password": {a.addUser("max", false)}}).expect(303, "")
	set := p.header.Get("Set-Cookie")
	for _, want := range []string{web.CookieName + "=", "Path=/", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(set, want) {
			t.Errorf("Set-Cookie %q lacks %s", set, want)
		}
	}
	// The API reads the same sign-in.
	req, _ := http.NewRequest(http.MethodGet, a.url+"/api/v1/signin", nil)
	if p := c.do(req); !strings.Contains(p.body, `"next":"mfa_enroll"`) {
		t.Errorf("API sees %s", p.body)
	}

	h, err := web.New(web.Config{Service: a.svc, SecureCookies: true})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req = httptest.NewRequest(http.MethodPost, "/signout", nil)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	h.ServeHTTP(rec, req)
	if !strings.Contains(rec.Header().Get("Set-Cookie"), "Secure") {
		t.Errorf("no Secure with https: %q", rec.Header().Get("Set-Cookie"))
	}
}

func TestNotFoundAndStepRedirects(t *testing.T) {
	a := newApp(t, appConfig{})
	c := a.client()
	if p := c.get("/nowhere").expect(404, ""); p.doc.find(tag("h1")).content() != "Page not found" {
		t.Errorf("404 page: %s", p.body)
	}
	c.get("/").expect(303, "/signin")
	c.get("/profile").expect(303, "/signin")
	c.post("/signin", url.Values{"username": {"ned"}, "password": {a.addUser("ned", false)}})
	// A page of another step sends the sign-in to its current step.
	for _, path := range []string{"/", "/profile", "/signin/verify", "/signin/password", "/admin/options"} {
		if p := c.get(path); p.status != 303 || p.location() != "/signin/enroll" {
			t.Errorf("GET %s: %d %q", path, p.status, p.location())
		}
	}
	c.post("/signin/verify", url.Values{"code": {"123456"}}).expect(303, "/signin/enroll")
	// "Cancel sign-in" ends the unfinished sign-in on the server.
	if cancel := c.get("/signin/enroll").byID("cancel-signin"); cancel.parent.attr("action") != "/signout" {
		t.Errorf("Cancel sign-in posts to %q", cancel.parent.attr("action"))
	}
	// A sign-in that ended goes back to the sign-in page, saying so.
	c.post("/signout", nil).expect(303, "/signin?m=signedout")
	u, _ := url.Parse(a.url)
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: web.CookieName, Value: strings.Repeat("A", 43), Path: "/"}})
	c.get("/profile").expect(303, "/signin?m=expired")
}
