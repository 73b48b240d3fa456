package httpapi_test

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
)

// checkRetryAfter checks that a lock's answer carries locked_until and a Retry-After header that
// agree, and answers locked_until.
func checkRetryAfter(t *testing.T, h *harness, a *answer, e map[string]any) time.Time {
	t.Helper()
	until := asTime(t, e, "locked_until")
	if !until.After(h.clock.Now()) {
		t.Errorf("locked_until %v is not after now %v", until, h.clock.Now())
	}
	ra := a.header.Get("Retry-After")
	n, err := strconv.Atoi(ra)
	if err != nil || n < 1 {
		t.Fatalf("Retry-After %q, want a positive number of seconds", ra)
	}
	// Retry-After is counted from the wall clock; the fake clock may be ahead of it by what the
	// test moved it.
	if max := time.Until(until) + time.Minute; time.Duration(n)*time.Second > max {
		t.Errorf("Retry-After %ds is beyond locked_until %v", n, until)
	}
	return until
}

// TestErrorCodes provokes each error code of SPEC §4 and checks its status and shape.
func TestErrorCodes(t *testing.T) {
	h := newHarness(t)
	admin := h.signIn("admin", h.bootstrap())
	userPW := h.createUser(account.NewUser{Username: "uma"})
	uma := h.signIn("uma", userPW)
	anon := h.client()

	t.Run("invalid_request", func(t *testing.T) {
		anon.raw("POST", "/api/v1/signin", "not json").wantError(t, 400, "invalid_request")
	})
	t.Run("invalid_credentials", func(t *testing.T) {
		anon.post("/api/v1/signin", map[string]string{"username": "uma", "password": "wrong password"}).wantError(t, 401, "invalid_credentials")
		// The same answer for an account that does not exist, for an empty password and for
		// one over 256 characters.
		nobody := anon.post("/api/v1/signin", map[string]string{"username": "nobody", "password": "wrong password"})
		nobody.wantError(t, 401, "invalid_credentials")
		empty := anon.post("/api/v1/signin", map[string]string{"username": "uma", "password": ""})
		empty.wantError(t, 401, "invalid_credentials")
		long := anon.post("/api/v1/signin", map[string]string{"username": "uma", "password": strings.Repeat("x", 257)})
		long.wantError(t, 401, "invalid_credentials")
		if string(nobody.raw) != string(empty.raw) || string(nobody.raw) != string(long.raw) {
			t.Errorf("the answers differ: %s / %s / %s", nobody.raw, empty.raw, long.raw)
		}
		anon.post("/api/v1/signin", map[string]string{"username": "uma", "password": uma.pw}).ok(t, 200) // resets the count
	})
	t.Run("invalid_code", func(t *testing.T) {
		c := h.client()
		checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "uma", "password": uma.pw}), "mfa_verify")
		c.post("/api/v1/signin/mfa/verify", map[string]string{"code": wrongCode(h, uma.key)}).wantError(t, 401, "invalid_code")
		c.post("/api/v1/signin/mfa/verify", map[string]string{"backup_code": "aaaa-bbbb-cccc-dddd"}).wantError(t, 401, "invalid_code")
		// A reused code is refused alike.
		code := h.code(uma.key)
		checkStep(t, c.post("/api/v1/signin/mfa/verify", map[string]string{"code": code}), "done")
		c2 := h.client()
		checkStep(t, c2.post("/api/v1/signin", map[string]string{"username": "uma", "password": uma.pw}), "mfa_verify")
		c2.post("/api/v1/signin/mfa/verify", map[string]string{"code": code}).wantError(t, 401, "invalid_code")
		uma.c.post("/api/v1/me/mfa/backup-codes", map[string]string{"code": code}).wantError(t, 401, "invalid_code")
		admin.c.post("/api/v1/admin/users/uma/unlock", nil).ok(t, 200)
	})
	t.Run("not_signed_in", func(t *testing.T) {
		anon := h.client()
		anon.get("/api/v1/me").wantError(t, 401, "not_signed_in")
		anon.get("/api/v1/signin").wantError(t, 401, "not_signed_in")
		anon.post("/api/v1/signin/mfa/enroll", nil).wantError(t, 401, "not_signed_in")
		anon.post("/api/v1/signin/mfa/verify", map[string]string{"code": "123456"}).wantError(t, 401, "not_signed_in")
		anon.post("/api/v1/signin/password", map[string]string{"new_password": newPassword}).wantError(t, 401, "not_signed_in")
		j := h.client()
		j.setCookie("junk")
		j.get("/api/v1/me").wantError(t, 401, "not_signed_in")
		j.setCookie(strings.Repeat("A", 43))
		j.get("/api/v1/me").wantError(t, 401, "not_signed_in")
	})
	t.Run("forbidden", func(t *testing.T) {
		uma.c.get("/api/v1/admin/users").wantError(t, 403, "forbidden")
	})
	t.Run("sso_account", func(t *testing.T) {
		h.createUser(account.NewUser{Username: "sso.sue", Source: "sso"})
		anon.post("/api/v1/signin", map[string]string{"username": "sso.sue", "password": "anything at all"}).wantError(t, 403, "sso_account")
	})
	t.Run("account_disabled", func(t *testing.T) {
		pw := h.createUser(account.NewUser{Username: "dora"})
		admin.c.post("/api/v1/admin/users/dora/disable", nil).ok(t, 200)
		anon.post("/api/v1/signin", map[string]string{"username": "dora", "password": "wrong password"}).wantError(t, 401, "invalid_credentials")
		anon.post("/api/v1/signin", map[string]string{"username": "dora", "password": pw}).wantError(t, 403, "account_disabled")
	})
	t.Run("temporary_password_expired", func(t *testing.T) {
		pw := h.createUser(account.NewUser{Username: "tim"})
		h.clock.Advance(24*time.Hour + time.Second)
		a := anon.post("/api/v1/signin", map[string]string{"username": "tim", "password": pw})
		e := a.wantError(t, 403, "temporary_password_expired")
		if !strings.Contains(asString(t, e, "message"), "expired") {
			t.Errorf("message does not say the password expired: %s", a.raw)
		}
		admin.signInAgain() // the clock jump ended the admin's session
		uma.signInAgain()
	})
	t.Run("not_found", func(t *testing.T) {
		anon.get("/api/v1/nothing/here").wantError(t, 404, "not_found")
		anon.call("DELETE", "/api/v1/signin", nil).wantError(t, 404, "not_found")
		admin.c.get("/api/v1/admin/users/ghost").wantError(t, 404, "not_found")
	})
	t.Run("conflict", func(t *testing.T) {
		pw := h.createUser(account.NewUser{Username: "cora"})
		c := h.client()
		checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "cora", "password": pw}), "mfa_enroll")
		for _, r := range []struct {
			path string
			body any
		}{
			{"/api/v1/signin/mfa/enroll/verify", map[string]string{"code": "123456"}}, // before enrolment
			{"/api/v1/signin/mfa/verify", map[string]string{"code": "123456"}},
			{"/api/v1/signin/mfa/enroll/skip", nil},
			{"/api/v1/signin/password", map[string]string{"new_password": newPassword}},
		} {
			a := c.post(r.path, r.body)
			e := a.wantError(t, 409, "conflict")
			if asString(t, e, "next") != "mfa_enroll" || a.str(t, "next") != "mfa_enroll" {
				t.Errorf("%s: next not both at top level and in error: %s", r.path, a.raw)
			}
		}
		if u := h.user("cora"); u.MFAFailures != 0 || u.Enrolled() {
			t.Errorf("a conflict changed the account: %+v", u)
		}
		checkStep(t, c.get("/api/v1/signin"), "mfa_enroll")
	})
	t.Run("too_large", func(t *testing.T) {
		big := `{"username":"uma","password":"` + strings.Repeat("p", 70<<10) + `"}`
		anon.raw("POST", "/api/v1/signin", big).wantError(t, 413, "too_large")
	})
	t.Run("locked_password", func(t *testing.T) {
		c := h.client()
		for i := 1; i <= 10; i++ {
			c.post("/api/v1/signin", map[string]string{"username": "uma", "password": fmt.Sprintf("wrong %d", i)}).wantError(t, 401, "invalid_credentials")
		}
		a := c.post("/api/v1/signin", map[string]string{"username": "uma", "password": uma.pw})
		e := a.wantError(t, 429, "locked")
		until := checkRetryAfter(t, h, a, e)
		v := admin.c.get("/api/v1/admin/users/uma").ok(t, 200)
		if got := asTime(t, v.json, "password_locked_until"); !got.Equal(until) && got.After(until) {
			t.Errorf("password_locked_until %v, answer said %v", got, until)
		}
		// A username without an account locks alike.
		for i := 1; i <= 10; i++ {
			c.post("/api/v1/signin", map[string]string{"username": "ghost", "password": "wrong"}).wantError(t, 401, "invalid_credentials")
		}
		checkRetryAfter(t, h, c.post("/api/v1/signin", map[string]string{"username": "ghost", "password": "wrong"}), e)
		admin.c.post("/api/v1/admin/users/uma/unlock", nil).ok(t, 200)
		checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "uma", "password": uma.pw}), "mfa_verify")
	})
	t.Run("rate_limited", func(t *testing.T) {
		h.setOption("failedSignInsPerAddress", "3")
		defer h.setOption("failedSignInsPerAddress", "60")
		h.clock.Advance(61 * time.Second) // out of the window of the failures above
		c := h.client()
		for i := range 3 {
			c.post("/api/v1/signin", map[string]string{"username": fmt.Sprintf("guess%d", i), "password": "wrong"}).wantError(t, 401, "invalid_credentials")
		}
		a := c.post("/api/v1/signin", map[string]string{"username": "uma", "password": uma.pw})
		a.wantError(t, 429, "rate_limited")
		if a.header.Get("Retry-After") != "60" {
			t.Errorf("Retry-After %q, want 60", a.header.Get("Retry-After"))
		}
		h.clock.Advance(61 * time.Second)
		checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "uma", "password": uma.pw}), "mfa_verify")
	})
}

// wrongCode answers a 6-digit code that is not valid for key in the window around now.
func wrongCode(h *harness, key []byte) string {
	for n := 0; ; n++ {
		c := fmt.Sprintf("%06d", (n*7919+123457)%1000000)
		if !codeValidNear(h, key, c) {
			return c
		}
	}
}

// TestSecondFactorLocks goes through the locks at 5, 10, 15 and 20 failures: 429 with
// locked_until and Retry-After for the temporary ones, null and no Retry-After for the last.
func TestSecondFactorLocks(t *testing.T) {
	h := newHarness(t)
	pw := h.createUser(account.NewUser{Username: "lena"})
	lena := h.signIn("lena", pw)
	c := h.client()

	for round := 1; round <= 4; round++ {
		checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "lena", "password": lena.pw}), "mfa_verify")
		for i := 1; i < 5; i++ {
			c.post("/api/v1/signin/mfa/verify", map[string]string{"code": wrongCode(h, lena.key)}).wantError(t, 401, "invalid_code")
		}
		a := c.post("/api/v1/signin/mfa/verify", map[string]string{"code": wrongCode(h, lena.key)})
		e := a.wantError(t, 429, "locked")
		// The locking failure ended this sign-in.
		c.get("/api/v1/signin").wantError(t, 401, "not_signed_in")
		// A correct password now meets the lock too.
		b := c.post("/api/v1/signin", map[string]string{"username": "lena", "password": lena.pw})
		be := b.wantError(t, 429, "locked")
		u := h.user("lena")
		if u.MFAFailures != 5*round {
			t.Fatalf("round %d: %d failures counted", round, u.MFAFailures)
		}
		if round < 4 {
			until := checkRetryAfter(t, h, a, e)
			checkRetryAfter(t, h, b, be)
			if d := until.Sub(h.clock.Now()); d < 14*time.Minute || d > 16*time.Minute {
				t.Errorf("round %d: locked for %v, want 15 minutes", round, d)
			}
			h.clock.Advance(15*time.Minute + 2*time.Second)
			continue
		}
		for _, x := range []*answer{a, b} {
			ex := asObject(t, x.json, "error")
			asNull(t, ex, "locked_until")
			if ra := x.header.Get("Retry-After"); ra != "" {
				t.Errorf("Retry-After %q on a lock only an admin ends", ra)
			}
		}
	}
	h.clock.Advance(24 * time.Hour)
	c.post("/api/v1/signin", map[string]string{"username": "lena", "password": lena.pw}).wantError(t, 429, "locked")

	admin := h.signIn("admin", h.bootstrap())
	v := admin.c.get("/api/v1/admin/users/lena").ok(t, 200)
	if !asBool(t, v.json, "mfa_locked") {
		t.Errorf("mfa_locked false: %s", v.raw)
	}
	asNull(t, v.json, "mfa_locked_until")
	locks := admin.c.get("/api/v1/admin/audit?user=lena&action=mfa.locked").ok(t, 200)
	if n := len(asList(t, locks.json, "events")); n != 4 {
		t.Errorf("%d lock events, want 4", n)
	}
	un := admin.c.post("/api/v1/admin/users/lena/unlock", nil).ok(t, 200)
	if asBool(t, un.json, "mfa_locked") {
		t.Errorf("still locked after unlock: %s", un.raw)
	}
	lena.c = c
	lena.signInAgain()
}

// TestTemporaryLockShownToAdmin checks mfa_locked_until while a 15-minute lock runs.
func TestTemporaryLockShownToAdmin(t *testing.T) {
	h := newHarness(t)
	admin := h.signIn("admin", h.bootstrap())
	pw := h.createUser(account.NewUser{Username: "tess"})
	tess := h.signIn("tess", pw)
	checkStep(t, tess.c.post("/api/v1/signin", map[string]string{"username": "tess", "password": tess.pw}), "mfa_verify")
	other := h.client()
	checkStep(t, other.post("/api/v1/signin", map[string]string{"username": "tess", "password": tess.pw}), "mfa_verify")
	var e map[string]any
	for i := 1; i <= 5; i++ {
		a := tess.c.post("/api/v1/signin/mfa/verify", map[string]string{"code": wrongCode(h, tess.key)})
		if i == 5 {
			e = a.wantError(t, 429, "locked")
		}
	}
	v := admin.c.get("/api/v1/admin/users/tess").ok(t, 200)
	if !asBool(t, v.json, "mfa_locked") {
		t.Errorf("mfa_locked false during a lock: %s", v.raw)
	}
	shown, told := asTime(t, v.json, "mfa_locked_until"), asTime(t, e, "locked_until")
	if shown.After(told) || told.Sub(shown) > time.Second {
		t.Errorf("admin sees mfa_locked_until %v, the answer said %v", shown, told)
	}
	if d := shown.Sub(h.clock.Now()); d != 15*time.Minute {
		t.Errorf("locked for %v, want 15m", d)
	}
	// The other sign-in of the account meets the lock: its codes, even a right one, are
	// neither checked nor counted.
	for _, code := range []string{h.code(tess.key), wrongCode(h, tess.key)} {
		a := other.post("/api/v1/signin/mfa/verify", map[string]string{"code": code})
		checkRetryAfter(t, h, a, a.wantError(t, 429, "locked"))
	}
	if u := h.user("tess"); u.MFAFailures != 5 {
		t.Errorf("%d failures after codes sent during the lock, want 5", u.MFAFailures)
	}
	checkStep(t, other.get("/api/v1/signin"), "mfa_verify")
	// After the lock (which outlasts any sign-in), the right code works and clears the count.
	h.clock.Advance(15 * time.Minute)
	other.get("/api/v1/signin").wantError(t, 401, "not_signed_in")
	checkStep(t, other.post("/api/v1/signin", map[string]string{"username": "tess", "password": tess.pw}), "mfa_verify")
	checkStep(t, other.post("/api/v1/signin/mfa/verify", map[string]string{"code": h.code(tess.key)}), "done")
	if u := h.user("tess"); u.MFAFailures != 0 {
		t.Errorf("%d failures after a success, want 0", u.MFAFailures)
	}
}

// snapshot is what bad input must not change.
type snapshot struct {
	MFAFailures      int
	MFALockedUntil   time.Time
	TOTPLastStep     int64
	PasswordFailures int
	AddressFailures  int
	Events           int
	Cookie           string
	Step             string
}

func (h *harness) snapshot(c *client, username string) snapshot {
	h.t.Helper()
	ctx := context.Background()
	u := h.user(username)
	pl := h.passwordLock(username)
	af, err := h.store.CountAddressFailures(ctx, "127.0.0.1", time.Time{})
	if err != nil {
		h.t.Fatal(err)
	}
	s := snapshot{MFAFailures: u.MFAFailures, MFALockedUntil: u.MFALockedUntil, TOTPLastStep: u.TOTPLastStep,
		PasswordFailures: pl.Failures, AddressFailures: af, Events: len(h.events()), Cookie: c.cookie()}
	if a := c.get("/api/v1/signin"); a.status == 200 {
		s.Step = a.str(h.t, "next")
	}
	return s
}

// badBodies are malformed bodies every JSON endpoint must refuse with 400 and no change.
var badBodies = []struct {
	name, body, contentType string
}{
	{"not JSON", "hello", "application/json"},
	{"JSON array", `["code","123456"]`, "application/json"},
	{"JSON string", `"123456"`, "application/json"},
	{"JSON null", `null`, "application/json"},
	{"trailing garbage", `{"code":"123456"} x`, "application/json"},
	{"two objects", `{"code":"123456"}{"code":"123456"}`, "application/json"},
	{"truncated", `{"code":"1234`, "application/json"},
	{"unknown field", `{"code":"123456","remember":true}`, "application/json"},
	// encoding/json would take these: a field's name in another case, and a name twice (the
	// last value winning).
	{"a name in another case", `{"CODE":"123456"}`, "application/json"},
	{"a name twice", `{"code":"000000","code":"123456"}`, "application/json"},
	{"a name twice in another case", `{"code":"000000","Code":"123456"}`, "application/json"},
	{"wrong type", `{"code":123456}`, "application/json"},
	{"no Content-Type", `{"code":"123456"}`, ""},
	{"text/plain", `{"code":"123456"}`, "text/plain"},
	{"form", `code=123456`, "application/x-www-form-urlencoded"},
}

// TestBadInputChangesNothing sends malformed requests to the sign-in steps and checks that each
// gets its 4xx answer and that counts, session and audit log stay as they were.
func TestBadInputChangesNothing(t *testing.T) {
	h := newHarness(t)
	pw := h.createUser(account.NewUser{Username: "vera"})
	vera := h.signIn("vera", pw)
	c := vera.c
	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "vera", "password": vera.pw}), "mfa_verify")
	// One real failure first, so that "unchanged" is not just "zero".
	c.post("/api/v1/signin/mfa/verify", map[string]string{"code": wrongCode(h, vera.key)}).wantError(t, 401, "invalid_code")
	before := h.snapshot(c, "vera")
	if before.Step != "mfa_verify" || before.MFAFailures != 1 {
		t.Fatalf("set-up: %+v", before)
	}

	type bad struct {
		name   string
		r      request
		status int
		code   string
	}
	var cases []bad
	for _, path := range []string{"/api/v1/signin", "/api/v1/signin/mfa/verify", "/api/v1/signin/mfa/enroll/verify", "/api/v1/signin/password", "/api/v1/me/password", "/api/v1/me/mfa/backup-codes"} {
		for _, b := range badBodies {
			body := b.body
			if path == "/api/v1/signin" {
				body = strings.ReplaceAll(body, `"code"`, `"username"`)
			}
			cases = append(cases, bad{path + " " + b.name, request{method: "POST", path: path, body: strings.NewReader(body), contentType: b.contentType}, 400, "invalid_request"})
		}
		cases = append(cases, bad{path + " empty body", request{method: "POST", path: path, contentType: "application/json"}, 400, "invalid_request"})
		big := `{"code":"` + strings.Repeat("1", 65<<10) + `"}`
		cases = append(cases, bad{path + " over 64 KiB", request{method: "POST", path: path, body: strings.NewReader(big), contentType: "application/json"}, 413, "too_large"})
		// The type is checked before the body is read whole: a large body of the wrong type
		// is refused for its type.
		cases = append(cases, bad{path + " over 64 KiB as text/plain", request{method: "POST", path: path, body: strings.NewReader(big), contentType: "text/plain"}, 400, "invalid_request"})
	}
	js := func(s string) request {
		return request{method: "POST", body: strings.NewReader(s), contentType: "application/json"}
	}
	at := func(path string, r request) request { r.path = path; return r }
	for _, s := range []struct{ name, body string }{
		{"empty username", `{"username":"","password":"` + vera.pw + `"}`},
		{"65-character username", `{"username":"` + strings.Repeat("v", 65) + `","password":"x"}`},
		{"username with a space", `{"username":"vera smith","password":"x"}`},
		{"username with a slash", `{"username":"../vera","password":"x"}`},
	} {
		cases = append(cases, bad{"signin " + s.name, at("/api/v1/signin", js(s.body)), 400, "invalid_request"})
	}
	for _, s := range []struct{ name, body string }{
		{"5 digits", `{"code":"12345"}`},
		{"7 digits", `{"code":"1234567"}`},
		{"letters", `{"code":"12a456"}`},
		{"spaces", `{"code":"123 456"}`},
		{"full-width digits", `{"code":"１２３４５６"}`},
		{"empty", `{"code":""}`},
		{"nothing", `{}`},
		{"backup code with u", `{"backup_code":"uuuu-2345-6789-abcd"}`},
		{"backup code too short", `{"backup_code":"abcd-efgh-jkmn"}`},
		{"backup code too long", `{"backup_code":"abcd-efgh-jkmn-pqrs-t"}`},
		{"both", `{"code":"123456","backup_code":"abcd-efgh-jkmn-pqrs"}`},
	} {
		cases = append(cases, bad{"verify " + s.name, at("/api/v1/signin/mfa/verify", js(s.body)), 400, "invalid_request"})
	}
	for _, s := range []string{`{"code":"12345"}`, `{"code":"1234567"}`, `{"code":"abcdef"}`} {
		cases = append(cases, bad{"regenerate " + s, at("/api/v1/me/mfa/backup-codes", js(s)), 401, "not_signed_in"})
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.send(tc.r).wantError(t, tc.status, tc.code)
			if after := h.snapshot(c, "vera"); !reflect.DeepEqual(before, after) {
				t.Fatalf("changed:\n before %+v\n after  %+v", before, after)
			}
		})
	}
	// The sign-in still works with the right code.
	checkStep(t, c.post("/api/v1/signin/mfa/verify", map[string]string{"code": h.code(vera.key)}), "done")
}

// TestBadInputAtEnrollment checks malformed codes at enrolment: 400 and not counted.
func TestBadInputAtEnrollment(t *testing.T) {
	h := newHarness(t)
	pw := h.createUser(account.NewUser{Username: "enzo"})
	c := h.client()
	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "enzo", "password": pw}), "mfa_enroll")
	c.post("/api/v1/signin/mfa/enroll", nil).ok(t, 200)
	before := h.snapshot(c, "enzo")
	for _, body := range []string{`{"code":"12345"}`, `{"code":"1234567"}`, `{"code":"x23456"}`, `{"code":""}`, `{}`,
		`{"code":"123456","backup_code":"abcd-efgh-jkmn-pqrs"}`, `{"code":"123456"} {}`, `[]`} {
		c.raw("POST", "/api/v1/signin/mfa/enroll/verify", body).wantError(t, 400, "invalid_request")
		if after := h.snapshot(c, "enzo"); !reflect.DeepEqual(before, after) {
			t.Fatalf("%s changed:\n before %+v\n after  %+v", body, before, after)
		}
	}
	c.send(request{method: "POST", path: "/api/v1/signin/mfa/enroll", body: strings.NewReader("{}"), contentType: "text/plain"}).wantError(t, 400, "invalid_request")
	c.raw("POST", "/api/v1/signin/mfa/enroll/skip", `{"skip":true}`).wantError(t, 400, "invalid_request")
	if after := h.snapshot(c, "enzo"); !reflect.DeepEqual(before, after) {
		t.Fatalf("changed:\n before %+v\n after  %+v", before, after)
	}
}

// TestBadInputAdmin checks that malformed admin requests change nothing.
func TestBadInputAdmin(t *testing.T) {
	h := newHarness(t)
	admin := h.signIn("admin", h.bootstrap())
	h.createUser(account.NewUser{Username: "ivan"})
	before := len(h.events())
	c := admin.c
	for _, r := range []request{
		{method: "PUT", path: "/api/v1/admin/options/internalMFA", body: strings.NewReader(`{"value":"off","extra":1}`), contentType: "application/json"},
		{method: "PUT", path: "/api/v1/admin/options/internalMFA", body: strings.NewReader(`{"value":0}`), contentType: "application/json"},
		{method: "PUT", path: "/api/v1/admin/options/internalMFA", body: strings.NewReader(`{"value":"off"}`), contentType: "text/plain"},
		{method: "PUT", path: "/api/v1/admin/options/internalMFA", body: strings.NewReader(`["off"]`), contentType: "application/json"},
		{method: "POST", path: "/api/v1/admin/users", body: strings.NewReader(`{"username":"x1","email":"x1@example.com","admin":true}`), contentType: "application/json"},
		{method: "POST", path: "/api/v1/admin/users", body: strings.NewReader(`{"username":"x2","email":"x2@example.com"} trailing`), contentType: "application/json"},
		{method: "POST", path: "/api/v1/admin/users", body: strings.NewReader(`{"username":"","email":"x3@example.com"}`), contentType: "application/json"},
		{method: "POST", path: "/api/v1/admin/users", body: strings.NewReader(`{"username":"` + strings.Repeat("x", 65) + `","email":"x4@example.com"}`), contentType: "application/json"},
		{method: "POST", path: "/api/v1/admin/users/ivan/mfa/reset", body: strings.NewReader(`{"with_password":"yes"}`), contentType: "application/json"},
		{method: "POST", path: "/api/v1/admin/users/ivan/mfa/reset", body: strings.NewReader(`{"with_password":true}`), contentType: "text/plain"},
		{method: "POST", path: "/api/v1/admin/users/ivan/disable", body: strings.NewReader(`{"really":true}`), contentType: "application/json"},
	} {
		c.send(r).wantError(t, 400, "invalid_request")
	}
	if after := len(h.events()); after != before {
		t.Errorf("malformed admin requests wrote %d audit events", after-before)
	}
	if u := h.user("ivan"); u.Disabled {
		t.Errorf("ivan was disabled by a malformed request")
	}
	if n, _ := h.store.CountUsers(context.Background(), ""); n != 2 {
		t.Errorf("%d users after malformed creations, want 2", n)
	}
	big := `{"value":"` + strings.Repeat("a", 65<<10) + `"}`
	c.send(request{method: "PUT", path: "/api/v1/admin/options/mfaIssuer", body: strings.NewReader(big), contentType: "application/json"}).wantError(t, 413, "too_large")
	if o := c.get("/api/v1/admin/options?search=mfaIssuer"); asString(t, asList(t, o.json, "options")[0].(map[string]any), "value") != "Twofold" {
		t.Errorf("mfaIssuer changed: %s", o.raw)
	}
}
