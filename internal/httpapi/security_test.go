package httpapi_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/netip"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/backupcode"
	"github.com/twofold-auth/twofold/internal/httpapi"
	"github.com/twofold-auth/twofold/internal/otp"
)

// sessionCookie answers the twofold_session cookie an answer sets, failing when there is none.
func sessionCookie(t *testing.T, a *answer) *http.Cookie {
	t.Helper()
	var found *http.Cookie
	for _, c := range a.set {
		if c.Name == httpapi.CookieName {
			if found != nil {
				t.Errorf("two session cookies in one answer")
			}
			found = c
		}
	}
	if found == nil {
		t.Fatalf("no %s cookie set: %v", httpapi.CookieName, a.header.Values("Set-Cookie"))
	}
	return found
}

func checkCookieAttributes(t *testing.T, c *http.Cookie, secure bool) {
	t.Helper()
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure != secure {
		t.Errorf("cookie %q: HttpOnly=%v SameSite=%v Path=%q Secure=%v, want HttpOnly, Lax, /, Secure=%v",
			c.Raw, c.HttpOnly, c.SameSite, c.Path, c.Secure, secure)
	}
}

// TestCookies checks the session cookie's attributes, that its value changes at every step and
// that old values stop working, and that sign-out clears it on the client and the server.
func TestCookies(t *testing.T) {
	for _, secure := range []bool{false, true} {
		h := newHarness(t, harnessConfig{secure: secure})
		pw := h.createUser(account.NewUser{Username: "cleo"})
		c := h.client()
		var values []string
		step := func(a *answer, next string) {
			t.Helper()
			checkStep(t, a, next)
			ck := sessionCookie(t, a)
			checkCookieAttributes(t, ck, secure)
			if len(ck.Value) != 43 || ck.MaxAge != 0 || !ck.Expires.IsZero() {
				t.Errorf("session cookie %q: want a 43-character session cookie without expiry", ck.Raw)
			}
			for _, v := range values {
				if v == ck.Value {
					t.Errorf("the session id did not change at %s", next)
				}
			}
			values = append(values, ck.Value)
			if secure { // the jar does not send Secure cookies over http: hand it over
				c.setCookie(ck.Value)
			}
		}
		step(c.post("/api/v1/signin", map[string]string{"username": "cleo", "password": pw}), "mfa_enroll")
		e := c.post("/api/v1/signin/mfa/enroll", nil).ok(t, 200)
		if len(e.set) != 0 {
			t.Errorf("showing the key set a cookie: %v", e.set)
		}
		key, _ := otp.DecodeKey(e.str(t, "secret"))
		step(c.post("/api/v1/signin/mfa/enroll/verify", map[string]string{"code": h.code(key)}), "change_password")
		step(c.post("/api/v1/signin/password", map[string]string{"new_password": newPassword}), "done")
		step(c.post("/api/v1/signin", map[string]string{"username": "cleo", "password": newPassword}), "mfa_verify")
		step(c.post("/api/v1/signin/mfa/verify", map[string]string{"code": h.code(key)}), "done")

		// Only the newest value works.
		old := h.client()
		for _, v := range values[:len(values)-1] {
			old.setCookie(v)
			old.get("/api/v1/signin").wantError(t, 401, "not_signed_in")
			old.get("/api/v1/me").wantError(t, 401, "not_signed_in")
		}
		cur := values[len(values)-1]
		c.get("/api/v1/me").ok(t, 200)

		// The profile's password change issues a new id too.
		a := c.post("/api/v1/me/password", map[string]string{"current_password": newPassword, "new_password": "a different passphrase"})
		if a.status != 204 {
			t.Fatalf("me/password: %d %s", a.status, a.raw)
		}
		ck := sessionCookie(t, a)
		checkCookieAttributes(t, ck, secure)
		if ck.Value == cur {
			t.Errorf("the session id did not change with the password")
		}
		old.setCookie(cur)
		old.get("/api/v1/me").wantError(t, 401, "not_signed_in")
		cur = ck.Value
		c.setCookie(cur)

		// Sign-out clears the cookie and ends the session on the server.
		out := c.post("/api/v1/signout", nil)
		if out.status != 204 {
			t.Fatalf("signout: %d %s", out.status, out.raw)
		}
		cleared := sessionCookie(t, out)
		checkCookieAttributes(t, cleared, secure)
		if cleared.Value != "" || cleared.MaxAge >= 0 {
			t.Errorf("signout cookie %q does not clear it", cleared.Raw)
		}
		if c.cookie() != "" {
			t.Errorf("the client still holds a cookie after sign-out")
		}
		old.setCookie(cur)
		old.get("/api/v1/me").wantError(t, 401, "not_signed_in")
		// Signing out without a session is harmless.
		if a := h.client().post("/api/v1/signout", nil); a.status != 204 {
			t.Errorf("signout without a session: %d %s", a.status, a.raw)
		}

		// A new POST /signin replaces the session the cookie held, even when it fails.
		c2 := h.client()
		follow := func(a *answer) *answer {
			if secure && a.status == 200 {
				c2.setCookie(sessionCookie(t, a).Value)
			}
			return a
		}
		checkStep(t, follow(c2.post("/api/v1/signin", map[string]string{"username": "cleo", "password": "a different passphrase"})), "mfa_verify")
		checkStep(t, follow(c2.post("/api/v1/signin/mfa/verify", map[string]string{"code": h.code(key)})), "done")
		held := c2.cookie()
		c2.get("/api/v1/me").ok(t, 200)
		c2.post("/api/v1/signin", map[string]string{"username": "cleo", "password": "wrong password"}).wantError(t, 401, "invalid_credentials")
		old.setCookie(held)
		old.get("/api/v1/me").wantError(t, 401, "not_signed_in")
	}
}

// TestCrossOriginRefused sends cross-site posts as a browser would for a form on another site:
// they are refused by CrossOriginProtection and change nothing.
func TestCrossOriginRefused(t *testing.T) {
	h := newHarness(t)
	admin := h.signIn("admin", h.bootstrap())
	h.createUser(account.NewUser{Username: "olga"})
	before := h.snapshot(admin.c, "olga")
	pwBefore := h.passwordLock("admin")

	cross := http.Header{"Origin": {"http://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}
	originOnly := http.Header{"Origin": {"http://evil.example"}}
	// What a page with Referrer-Policy no-referrer posts from outside a secure context.
	originNull := http.Header{"Origin": {"null"}}
	for _, hdr := range []http.Header{cross, originOnly, originNull} {
		for _, r := range []request{
			{method: "POST", path: "/api/v1/signin", body: strings.NewReader("username=admin&password=guess"), contentType: "application/x-www-form-urlencoded"},
			{method: "POST", path: "/api/v1/signin", body: strings.NewReader(`{"username":"admin","password":"guess"}`), contentType: "text/plain"},
			{method: "POST", path: "/api/v1/signout"},
			{method: "POST", path: "/api/v1/admin/users/olga/disable"},
			{method: "PUT", path: "/api/v1/admin/options/internalMFA", body: strings.NewReader(`{"value":"off"}`), contentType: "application/json"},
			{method: "POST", path: "/api/v1/admin/users", body: strings.NewReader(`{"username":"mallory","email":"m@evil.example","role":"admin"}`), contentType: "application/json"},
		} {
			r.header = hdr
			admin.c.send(r).wantError(t, http.StatusForbidden, "forbidden")
		}
	}
	// Nothing changed: the admin is still signed in, no failure or event was recorded, the
	// option and the accounts are as they were.
	admin.c.get("/api/v1/me").ok(t, 200)
	if after := h.snapshot(admin.c, "olga"); !reflect.DeepEqual(before, after) {
		t.Errorf("changed:\n before %+v\n after  %+v", before, after)
	}
	if pl := h.passwordLock("admin"); pl != pwBefore {
		t.Errorf("password failures counted: %+v", pl)
	}
	if h.user("olga").Disabled {
		t.Errorf("olga was disabled by a cross-origin post")
	}
	if _, err := h.store.UserByName(context.Background(), "mallory"); err == nil {
		t.Errorf("mallory was created by a cross-origin post")
	}
	o := admin.c.get("/api/v1/admin/options?search=internalMFA").ok(t, 200)
	if v := asString(t, asList(t, o.json, "options")[0].(map[string]any), "value"); v != "required" {
		t.Errorf("internalMFA is %q", v)
	}
	// The same requests from the same origin pass.
	same := http.Header{"Origin": {h.url}, "Sec-Fetch-Site": {"same-origin"}}
	a := admin.c.send(request{method: "POST", path: "/api/v1/admin/users/olga/disable", header: same})
	a.ok(t, 200)
	// Safe methods are not refused.
	admin.c.send(request{method: "GET", path: "/api/v1/me", header: cross}).ok(t, 200)
}

// TestAdminAccess checks every admin endpoint without a session, with an unfinished sign-in,
// as a non-admin, and (for reset-mfa with a body) as an admin.
func TestAdminAccess(t *testing.T) {
	h := newHarness(t)
	adminPW := h.bootstrap()
	admin := h.signIn("admin", adminPW)
	userPW := h.createUser(account.NewUser{Username: "ursula"})
	user := h.signIn("ursula", userPW)
	h.createUser(account.NewUser{Username: "target"})

	unfinished := h.client()
	checkStep(t, unfinished.post("/api/v1/signin", map[string]string{"username": "admin", "password": admin.pw}), "mfa_verify")
	anon := h.client()
	eventsBefore, mailsBefore := len(h.events()), len(h.outboxFiles())

	type route struct {
		method, path string
		body         any
	}
	routes := []route{
		{"GET", "/api/v1/admin/options", nil},
		{"GET", "/api/v1/admin/options?search=MFA", nil},
		{"PUT", "/api/v1/admin/options/internalMFA", map[string]string{"value": "off"}},
		{"GET", "/api/v1/admin/users", nil},
		{"POST", "/api/v1/admin/users", map[string]string{"username": "zed", "email": "zed@example.com", "role": "admin"}},
		{"GET", "/api/v1/admin/users/target", nil},
		{"POST", "/api/v1/admin/users/target/mfa/reset", map[string]bool{"with_password": true}},
		{"POST", "/api/v1/admin/users/target/mfa/reset", nil},
		{"POST", "/api/v1/admin/users/target/unlock", nil},
		{"POST", "/api/v1/admin/users/target/password/reset", nil},
		{"POST", "/api/v1/admin/users/target/disable", nil},
		{"POST", "/api/v1/admin/users/target/enable", nil},
		{"POST", "/api/v1/admin/users/target/groups", map[string][]string{"add": {"staff"}}},
		{"GET", "/api/v1/admin/audit", nil},
		{"GET", "/api/v1/admin/audit?user=target&action=user.created&limit=5", nil},
	}
	for _, r := range routes {
		anon.call(r.method, r.path, r.body).wantError(t, 401, "not_signed_in")
		if a := unfinished.call(r.method, r.path, r.body); a.status == 409 {
			a.wantError(t, 409, "conflict")
		} else {
			a.wantError(t, 401, "not_signed_in")
		}
		user.c.call(r.method, r.path, r.body).wantError(t, 403, "forbidden")
	}
	if n := len(h.events()); n != eventsBefore {
		t.Errorf("refused admin requests wrote %d events", n-eventsBefore)
	}
	if _, err := h.store.UserByName(context.Background(), "zed"); err == nil {
		t.Errorf("zed was created")
	}
	if tu := h.user("target"); tu.Disabled || tu.InGroup("staff") || len(h.outboxFiles()) != mailsBefore {
		t.Errorf("target changed or mail sent: disabled=%v, groups %q, %d mails", tu.Disabled, tu.Groups, len(h.outboxFiles()))
	}
	// The unfinished sign-in is still where it was.
	checkStep(t, unfinished.get("/api/v1/signin"), "mfa_verify")

	// The admin who finished sign-in may do all of it.
	for _, r := range routes {
		a := admin.c.call(r.method, r.path, r.body)
		if a.status != 200 && a.status != 201 {
			t.Errorf("admin %s %s: %d %s", r.method, r.path, a.status, a.raw)
		}
	}
	// reset-mfa with {"with_password": true} mails a new temporary password that works.
	admin.c.post("/api/v1/admin/users/target/mfa/reset", map[string]bool{"with_password": true}).ok(t, 200)
	tp := h.lastTemporaryPassword("target@example.com")
	c := h.client()
	c.post("/api/v1/signin", map[string]string{"username": "target", "password": tp}).ok(t, 200)
}

// TestClientAddress checks that X-Forwarded-For decides the per-address limit only when the
// peer is a trusted proxy.
func TestClientAddress(t *testing.T) {
	fail := func(c *client, user, xff string) *answer {
		r := request{method: "POST", path: "/api/v1/signin", contentType: "application/json",
			body: strings.NewReader(`{"username":"` + user + `","password":"wrong password"}`)}
		if xff != "" {
			r.header = http.Header{"X-Forwarded-For": {xff}}
		}
		return c.send(r)
	}
	addrFailures := func(h *harness, addr string) int {
		n, err := h.store.CountAddressFailures(context.Background(), addr, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("untrusted peer", func(t *testing.T) {
		h := newHarness(t)
		h.setOption("failedSignInsPerAddress", "3")
		c := h.client()
		for i, xff := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
			fail(c, "user"+string(rune('a'+i)), xff).wantError(t, 401, "invalid_credentials")
		}
		// A new X-Forwarded-For does not escape the limit of the real peer.
		fail(c, "userz", "198.51.100.99").wantError(t, 429, "rate_limited")
		if n := addrFailures(h, "127.0.0.1"); n != 3 {
			t.Errorf("%d failures for the peer, want 3", n)
		}
		if n := addrFailures(h, "198.51.100.1"); n != 0 {
			t.Errorf("a forwarded address was believed from an untrusted peer")
		}
	})
	t.Run("only failures count", func(t *testing.T) {
		h := newHarness(t)
		h.setOption("internalMFA", "off")
		h.setOption("failedSignInsPerAddress", "2")
		pw := h.createUser(account.NewUser{Username: "otto"})
		otto := h.signIn("otto", pw)
		for range 5 {
			checkStep(t, otto.c.post("/api/v1/signin", map[string]string{"username": "otto", "password": otto.pw}), "done")
		}
		// A wrong current password on the profile counts like a sign-in failure.
		otto.c.post("/api/v1/me/password", map[string]string{"current_password": "wrong password", "new_password": "whatever passphrase"}).wantError(t, 401, "invalid_credentials")
		fail(h.client(), "someone", "").wantError(t, 401, "invalid_credentials")
		h.client().post("/api/v1/signin", map[string]string{"username": "otto", "password": otto.pw}).wantError(t, 429, "rate_limited")
		if pl := h.passwordLock("otto"); pl.Failures != 1 {
			t.Errorf("otto has %d password failures, want 1", pl.Failures)
		}
	})
	t.Run("trusted proxy", func(t *testing.T) {
		h := newHarness(t, harnessConfig{trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
		h.setOption("failedSignInsPerAddress", "3")
		c := h.client()
		for i := range 3 {
			fail(c, "user"+string(rune('a'+i)), "203.0.113.7").wantError(t, 401, "invalid_credentials")
		}
		fail(c, "userz", "203.0.113.7").wantError(t, 429, "rate_limited")
		// The client address is the last hop that is not a trusted proxy.
		fail(c, "userz", "203.0.113.7, 127.0.0.1").wantError(t, 429, "rate_limited")
		fail(c, "userz", "203.0.113.7, 198.51.100.50").wantError(t, 401, "invalid_credentials")
		fail(c, "userz", "203.0.113.8").wantError(t, 401, "invalid_credentials")
		// The proxy itself (no header) is its own address.
		fail(c, "userz", "").wantError(t, 401, "invalid_credentials")
		if n := addrFailures(h, "203.0.113.7"); n != 3 {
			t.Errorf("%d failures for 203.0.113.7, want 3", n)
		}
		if n := addrFailures(h, "127.0.0.1"); n != 1 {
			t.Errorf("%d failures for the proxy, want 1", n)
		}
		// The window slides: a minute later the address may try again.
		h.clock.Advance(61 * time.Second)
		fail(c, "userz", "203.0.113.7").wantError(t, 401, "invalid_credentials")
	})
}

// TestOperations checks /healthz, /readyz and /metrics, and /readyz when the database is gone.
func TestOperations(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	c.post("/api/v1/signin", map[string]string{"username": "nobody", "password": "wrong password"}).wantError(t, 401, "invalid_credentials")
	for _, p := range []string{"/healthz", "/readyz"} {
		a := c.get(p)
		if a.status != 200 || strings.TrimSpace(string(a.raw)) != "ok" {
			t.Errorf("%s: %d %q", p, a.status, a.raw)
		}
	}
	m := c.get("/metrics")
	if m.status != 200 {
		t.Fatalf("/metrics: %d", m.status)
	}
	want := regexp.MustCompile(`(?m)^twofold_http_requests_total\{code="401",route="POST /api/v1/signin"\} 1$`)
	if !want.Match(m.raw) {
		t.Errorf("/metrics lacks the sign-in request:\n%s", grepLines(string(m.raw), "twofold_http"))
	}
	if !strings.Contains(string(m.raw), "twofold_http_request_duration_seconds_bucket") || !strings.Contains(string(m.raw), "go_goroutines") {
		t.Errorf("/metrics lacks the duration histogram or the Go collector")
	}
	h.store.Close()
	if a := c.get("/readyz"); a.status != 503 {
		t.Errorf("/readyz with the database closed: %d", a.status)
	}
	if a := c.get("/healthz"); a.status != 200 {
		t.Errorf("/healthz with the database closed: %d", a.status)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// gatedRand is crypto/rand behind a gate: while held, a read waits. The Hasher reads a salt
// with a worker slot taken, so a held gate keeps that worker busy for exactly as long as the
// test wants, however fast or slow the machine hashes.
type gatedRand struct{ gate chan struct{} }

func (g gatedRand) Read(p []byte) (int, error) {
	<-g.gate
	return rand.Read(p)
}

// TestOverload checks 503 unavailable with Retry-After when every hashing worker is busy.
func TestOverload(t *testing.T) {
	g := gatedRand{gate: make(chan struct{})}
	h := newHarness(t, harnessConfig{hashWorkers: 1, noHashWait: true, salts: g})
	hasher := h.hasher
	c := h.client()
	done := make(chan struct{})
	go func() { defer close(done); hasher.Hash(context.Background(), "occupying the only worker") }()
	for hasher.InFlight() == 0 { // waits for a state, not for a time
		runtime.Gosched()
	}
	a := c.post("/api/v1/signin", map[string]string{"username": "nobody", "password": "whatever it is"})
	close(g.gate)
	<-done
	a.wantError(t, 503, "unavailable")
	if a.header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q, want 1", a.header.Get("Retry-After"))
	}
	// Refused work is not counted as a password failure.
	if pl := h.passwordLock("nobody"); pl.Failures != 0 {
		t.Errorf("%d failures counted, want 0", pl.Failures)
	}
}

// TestLogsHoldNoSecrets runs a whole flow with failures and internal errors and checks that the
// logs hold no password, code, key, URI, cookie or body.
func TestLogsHoldNoSecrets(t *testing.T) {
	h := newHarness(t)
	var secrets []string
	adminTemp := h.bootstrap()
	admin := h.signIn("admin", adminTemp)
	secrets = append(secrets, adminTemp, admin.pw, otp.EncodeKey(admin.key))
	secrets = append(secrets, admin.backup...)
	cookies := []string{admin.c.cookie()}

	admin.c.post("/api/v1/admin/users", map[string]string{"username": "lois", "email": "lois@example.com"}).ok(t, 201)
	loisTemp := h.lastTemporaryPassword("lois@example.com")
	secrets = append(secrets, loisTemp)
	c := h.client()
	c.post("/api/v1/signin", map[string]string{"username": "lois", "password": "wrong-password-Q7"}).wantError(t, 401, "invalid_credentials")
	secrets = append(secrets, "wrong-password-Q7")
	c.raw("POST", "/api/v1/signin", `{"username":"lois","password":"body-sentinel-pw","note":"body-sentinel-note"}`).wantError(t, 400, "invalid_request")
	secrets = append(secrets, "body-sentinel-pw", "body-sentinel-note")
	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "lois", "password": loisTemp}), "mfa_enroll")
	cookies = append(cookies, c.cookie())
	e := c.post("/api/v1/signin/mfa/enroll", nil).ok(t, 200)
	secrets = append(secrets, e.str(t, "secret"), e.str(t, "otpauth_uri"))
	key, _ := otp.DecodeKey(e.str(t, "secret"))
	wrong := wrongCode(h, key)
	c.post("/api/v1/signin/mfa/enroll/verify", map[string]string{"code": wrong}).wantError(t, 401, "invalid_code")
	code := h.code(key)
	v := c.post("/api/v1/signin/mfa/enroll/verify", map[string]string{"code": code})
	checkStep(t, v, "change_password")
	codes := []string{wrong, code}
	backup := asStrings(t, v.json, "backup_codes")
	secrets = append(secrets, backup...)
	cookies = append(cookies, c.cookie())
	checkStep(t, c.post("/api/v1/signin/password", map[string]string{"new_password": "quiet harbour lantern 2"}), "done")
	secrets = append(secrets, "quiet harbour lantern 2")
	cookies = append(cookies, c.cookie())
	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "lois", "password": "quiet harbour lantern 2"}), "mfa_verify")
	c.post("/api/v1/signin/mfa/verify", map[string]string{"backup_code": "zzzz-zzzz-zzzz-zzzz"}).wantError(t, 401, "invalid_code")
	checkStep(t, c.post("/api/v1/signin/mfa/verify", map[string]string{"backup_code": backup[0]}), "done")
	cookies = append(cookies, c.cookie())
	code = h.code(key)
	r := c.post("/api/v1/me/mfa/backup-codes", map[string]string{"code": code}).ok(t, 200)
	codes = append(codes, code)
	secrets = append(secrets, asStrings(t, r.json, "backup_codes")...)

	// An internal error: Lois's sealed key is damaged in the database.
	u := h.user("lois")
	u.TOTPKey[len(u.TOTPKey)-1] ^= 0xff
	if err := h.store.UpdateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	c2 := h.client()
	checkStep(t, c2.post("/api/v1/signin", map[string]string{"username": "lois", "password": "quiet harbour lantern 2"}), "mfa_verify")
	cookies = append(cookies, c2.cookie())
	code = h.code(key)
	codes = append(codes, code)
	ie := c2.post("/api/v1/signin/mfa/verify", map[string]string{"code": code})
	ie.wantError(t, 500, "internal")
	if msg := asString(t, asObject(t, ie.json, "error"), "message"); strings.Contains(msg, "key") || strings.Contains(msg, "sealed") {
		t.Errorf("the internal error tells its cause: %q", msg)
	}
	// Fail closed: the code was not accepted and the sign-in did not move on.
	checkStep(t, c2.get("/api/v1/signin"), "mfa_verify")

	// Internal errors from a closed database, with secrets in flight.
	h.store.Close()
	c3 := h.client()
	c3.post("/api/v1/signin", map[string]string{"username": "lois", "password": "closed-db-password"}).wantError(t, 500, "internal")
	secrets = append(secrets, "closed-db-password")
	c.post("/api/v1/me/password", map[string]string{"current_password": "quiet harbour lantern 2", "new_password": "closed-db-new-pass"}).wantError(t, 500, "internal")
	secrets = append(secrets, "closed-db-new-pass")
	c.get("/readyz")

	logs := h.logs.String()
	if !strings.Contains(logs, "request failed") {
		t.Fatalf("the internal errors were not logged:\n%s", logs)
	}
	secrets = append(secrets, cookies...)
	secrets = append(secrets, testKeyHex, "otpauth://", "quiet harbour lantern")
	for _, s := range secrets {
		if s == "" {
			continue
		}
		variants := []string{s, strings.ToLower(s), strings.ReplaceAll(s, "-", "")}
		if n, err := backupcode.Normalize(s); err == nil {
			variants = append(variants, n)
		}
		for _, v := range variants {
			if strings.Contains(logs, v) {
				t.Errorf("the logs hold the secret %q", v)
			}
		}
	}
	for _, code := range codes {
		if regexp.MustCompile(`\b` + code + `\b`).MatchString(logs) {
			t.Errorf("the logs hold the code %s", code)
		}
	}
	if strings.Contains(logs, `{"`) || strings.Contains(logs, "password=") {
		t.Errorf("the logs hold a request body")
	}
	t.Logf("logs:\n%s", logs)
}

// TestSessionLifetimes checks that unfinished sign-ins end after 10 minutes, sessions after 30
// idle minutes and 12 hours in all, that disabling an account ends its sessions, and that an
// option change reaches an unfinished sign-in at its next step.
func TestSessionLifetimes(t *testing.T) {
	h := newHarness(t)
	admin := h.signIn("admin", h.bootstrap())
	pw := h.createUser(account.NewUser{Username: "sam"})
	sam := h.signIn("sam", pw)

	c := h.client()
	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "sam", "password": sam.pw}), "mfa_verify")
	h.clock.Advance(10*time.Minute + time.Second)
	c.get("/api/v1/signin").wantError(t, 401, "not_signed_in")
	c.post("/api/v1/signin/mfa/verify", map[string]string{"code": h.code(sam.key)}).wantError(t, 401, "not_signed_in")

	// Idle: used every 20 minutes it lives on; left 31 minutes it ends.
	admin.signInAgain()
	sam.signInAgain()
	for range 3 {
		h.clock.Advance(20 * time.Minute)
		sam.c.get("/api/v1/me").ok(t, 200)
	}
	h.clock.Advance(31 * time.Minute)
	sam.c.get("/api/v1/me").wantError(t, 401, "not_signed_in")

	// Absolute: 12 hours, however busy.
	start := h.clock.Now()
	sam.signInAgain()
	for h.clock.Now().Add(20*time.Minute).Sub(start) < 12*time.Hour {
		h.clock.Advance(20 * time.Minute)
		sam.c.get("/api/v1/me").ok(t, 200)
	}
	h.clock.Advance(start.Add(12*time.Hour + time.Minute).Sub(h.clock.Now()))
	sam.c.get("/api/v1/me").wantError(t, 401, "not_signed_in")

	// Disabling ends every session of the account.
	admin.signInAgain()
	sam.signInAgain()
	admin.c.post("/api/v1/admin/users/sam/disable", nil).ok(t, 200)
	sam.c.get("/api/v1/me").wantError(t, 401, "not_signed_in")
	admin.c.post("/api/v1/admin/users/sam/enable", nil).ok(t, 200)

	// An option change reaches an unfinished sign-in at its next step.
	pw2 := h.createUser(account.NewUser{Username: "nina"})
	n := h.client()
	checkStep(t, n.post("/api/v1/signin", map[string]string{"username": "nina", "password": pw2}), "mfa_enroll")
	admin.c.call("PUT", "/api/v1/admin/options/internalMFA", map[string]string{"value": "optional"}).ok(t, 200)
	checkStep(t, n.get("/api/v1/signin"), "mfa_enroll_optional")
	admin.c.call("PUT", "/api/v1/admin/options/internalMFA", map[string]string{"value": "off"}).ok(t, 200)
	checkStep(t, n.get("/api/v1/signin"), "change_password")
	a := n.post("/api/v1/signin/mfa/enroll", nil)
	if e := a.wantError(t, 409, "conflict"); asString(t, e, "next") != "change_password" {
		t.Errorf("conflict next: %s", a.raw)
	}
	checkStep(t, n.post("/api/v1/signin/password", map[string]string{"new_password": newPassword}), "done")
	// Finished sessions are not affected by a later change.
	admin.c.call("PUT", "/api/v1/admin/options/internalMFA", map[string]string{"value": "required"}).ok(t, 200)
	n.get("/api/v1/me").ok(t, 200)
}
