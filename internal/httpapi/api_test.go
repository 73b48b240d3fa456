package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"image/png"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/otp"
	"github.com/twofold-auth/twofold/internal/store"
)

var (
	secretRE     = regexp.MustCompile(`^[A-Z2-7]{32}$`) // 160 bits, upper-case base32, no padding
	backupCodeRE = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}$`)
)

// checkEnrollment checks every field of an enrolment answer and answers the key.
func checkEnrollment(t *testing.T, a *answer, accountName, issuer string) []byte {
	t.Helper()
	m := a.json
	if got := asString(t, m, "account_name"); got != accountName {
		t.Errorf("account_name %q, want %q", got, accountName)
	}
	if got := asString(t, m, "issuer"); got != issuer {
		t.Errorf("issuer %q, want %q", got, issuer)
	}
	secret := asString(t, m, "secret")
	if !secretRE.MatchString(secret) {
		t.Errorf("secret %q is not 32 characters of upper-case base32 without padding", secret)
	}
	if got := asString(t, m, "type"); got != "totp" {
		t.Errorf("type %q, want totp", got)
	}
	if got := asString(t, m, "algorithm"); got != "SHA1" {
		t.Errorf("algorithm %q, want SHA1", got)
	}
	if got := asNumber(t, m, "digits"); got != 6 {
		t.Errorf("digits %d, want 6", got)
	}
	if got := asNumber(t, m, "period"); got != 30 {
		t.Errorf("period %d, want 30", got)
	}
	uri := asString(t, m, "otpauth_uri")
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" {
		t.Fatalf("otpauth_uri %q is not an otpauth://totp/ URI (%v)", uri, err)
	}
	if u.Path != "/"+issuer+":"+accountName {
		t.Errorf("otpauth_uri label %q, want %q", u.Path, "/"+issuer+":"+accountName)
	}
	q := u.Query()
	for k, want := range map[string]string{"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": "6", "period": "30"} {
		if q.Get(k) != want {
			t.Errorf("otpauth_uri %s=%q, want %q", k, q.Get(k), want)
		}
	}
	qr := asString(t, m, "qr_png")
	const prefix = "data:image/png;base64,"
	if !strings.HasPrefix(qr, prefix) {
		t.Fatalf("qr_png does not start with %q: %.40s", prefix, qr)
	}
	pngBytes, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(qr, prefix))
	if err != nil {
		t.Fatalf("qr_png is not base64: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil {
		t.Fatalf("qr_png is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 100 || b.Dx() != b.Dy() {
		t.Errorf("QR image is %v, want a square of a useful size", b)
	}
	key, err := otp.DecodeKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func checkBackupCodes(t *testing.T, codes []string, n int) {
	t.Helper()
	if len(codes) != n {
		t.Fatalf("%d backup codes, want %d: %v", len(codes), n, codes)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !backupCodeRE.MatchString(c) {
			t.Errorf("backup code %q is not xxxx-xxxx-xxxx-xxxx of the alphabet", c)
		}
		if seen[c] {
			t.Errorf("backup code %q twice", c)
		}
		seen[c] = true
	}
}

// checkMe checks the /me fields and answers the mfa object.
func checkMe(t *testing.T, m map[string]any, username, kind, source, role string) map[string]any {
	t.Helper()
	for k, want := range map[string]string{"username": username, "kind": kind, "source": source, "role": role} {
		if got := asString(t, m, k); got != want {
			t.Errorf("%s %q, want %q", k, got, want)
		}
	}
	asString(t, m, "email")
	asString(t, m, "name")
	mfa := asObject(t, m, "mfa")
	asString(t, mfa, "policy")
	asBool(t, mfa, "enrolled")
	asBool(t, mfa, "backup_codes_enabled")
	if _, ok := mfa["backup_codes_remaining"]; !ok {
		t.Errorf("mfa.backup_codes_remaining missing")
	}
	return mfa
}

// checkUser checks an admin's view of an account: the /me fields and the admin ones.
func checkUser(t *testing.T, m map[string]any, username string) {
	t.Helper()
	if got := asString(t, m, "username"); got != username {
		t.Errorf("username %q, want %q", got, username)
	}
	for _, k := range []string{"email", "name", "kind", "source", "role"} {
		asString(t, m, k)
	}
	asObject(t, m, "mfa")
	asBool(t, m, "disabled")
	asBool(t, m, "mfa_locked")
	asStrings(t, m, "groups") // a list, [] when none
	for _, k := range []string{"password_locked_until", "mfa_locked_until"} {
		if v, ok := m[k]; !ok {
			t.Errorf("%s missing", k)
		} else if v != nil {
			asTime(t, m, k)
		}
	}
	asTime(t, m, "created_at")
}

func checkStep(t *testing.T, a *answer, want string) {
	t.Helper()
	a.ok(t, 200)
	if got := a.str(t, "next"); got != want {
		t.Fatalf("next %q, want %q: %s", got, want, a.raw)
	}
}

// TestSignInWithEnrollment walks the admin's first sign-in and checks every answer's fields.
func TestSignInWithEnrollment(t *testing.T) {
	h := newHarness(t)
	pw := h.bootstrap()
	c := h.client()

	a := c.post("/api/v1/signin", map[string]string{"username": "Admin", "password": pw})
	checkStep(t, a, "mfa_enroll")
	if len(a.json) != 1 {
		t.Errorf("the password step answers only next: %s", a.raw)
	}
	seen := map[string]bool{c.cookie(): true}

	st := c.get("/api/v1/signin").ok(t, 200)
	if st.str(t, "next") != "mfa_enroll" || st.str(t, "username") != "admin" {
		t.Errorf("GET /signin: %s", st.raw)
	}

	e1 := c.post("/api/v1/signin/mfa/enroll", nil).ok(t, 200)
	key := checkEnrollment(t, e1, "admin", "Twofold")
	// The pending key belongs to the sign-in: shown again, for another device, with an empty
	// JSON body as well as with none.
	e2 := c.raw("POST", "/api/v1/signin/mfa/enroll", "{}").ok(t, 200)
	if e2.str(t, "secret") != e1.str(t, "secret") {
		t.Errorf("the pending key changed between two enrolment requests of one sign-in")
	}

	v := c.post("/api/v1/signin/mfa/enroll/verify", map[string]string{"code": h.code(key)})
	checkStep(t, v, "change_password")
	checkBackupCodes(t, asStrings(t, v.json, "backup_codes"), 5)
	if seen[c.cookie()] {
		t.Errorf("the session id did not change at enrolment")
	}
	seen[c.cookie()] = true

	p := c.post("/api/v1/signin/password", map[string]string{"new_password": newPassword})
	checkStep(t, p, "done")
	if seen[c.cookie()] {
		t.Errorf("the session id did not change at the new password")
	}

	st = c.get("/api/v1/signin").ok(t, 200)
	if st.str(t, "next") != "done" || st.str(t, "username") != "admin" {
		t.Errorf("GET /signin after sign-in: %s", st.raw)
	}
	me := c.get("/api/v1/me").ok(t, 200)
	mfa := checkMe(t, me.json, "admin", "internal", "local", "admin")
	if asString(t, mfa, "policy") != "required" || !asBool(t, mfa, "enrolled") || !asBool(t, mfa, "backup_codes_enabled") {
		t.Errorf("me.mfa: %v", mfa)
	}
	if n := asNumber(t, mfa, "backup_codes_remaining"); n != 5 {
		t.Errorf("backup_codes_remaining %d, want 5", n)
	}
	if got := asString(t, me.json, "email"); got != "admin@example.com" {
		t.Errorf("email %q", got)
	}

	// Regeneration answers a new list that voids the earlier one.
	r := c.post("/api/v1/me/mfa/backup-codes", map[string]string{"code": h.code(key)}).ok(t, 200)
	codes := asStrings(t, r.json, "backup_codes")
	checkBackupCodes(t, codes, 5)
	old := asStrings(t, v.json, "backup_codes")
	for _, c := range codes {
		if slices.Contains(old, c) {
			t.Errorf("regenerated code %s was issued before", c)
		}
	}
	// An old code no longer works; a new one does.
	c2 := h.client()
	checkStep(t, c2.post("/api/v1/signin", map[string]string{"username": "admin", "password": newPassword}), "mfa_verify")
	c2.post("/api/v1/signin/mfa/verify", map[string]string{"backup_code": old[0]}).wantError(t, 401, "invalid_code")
	b := c2.post("/api/v1/signin/mfa/verify", map[string]string{"backup_code": strings.ToUpper(strings.ReplaceAll(codes[0], "-", " "))})
	checkStep(t, b, "done")
	if n := asNumber(t, b.json, "backup_codes_remaining"); n != 4 {
		t.Errorf("backup_codes_remaining %d, want 4", n)
	}
	if asBool(t, b.json, "backup_codes_low") {
		t.Errorf("backup_codes_low with 4 codes left")
	}
	if _, ok := b.json["new_backup_code"]; ok {
		t.Errorf("new_backup_code without rotation: %s", b.raw)
	}

	// Sign-out ends the session.
	out := c.post("/api/v1/signout", nil)
	if out.status != 204 || len(out.raw) != 0 {
		t.Errorf("signout: %d %s", out.status, out.raw)
	}
	c.get("/api/v1/me").wantError(t, 401, "not_signed_in")
	c.get("/api/v1/signin").wantError(t, 401, "not_signed_in")
}

// TestOptionalEnrollmentAndProfile covers skip, enrolment from the profile, backup-code
// sign-ins with rotation, the low warning, and the answers while backup codes are disabled.
func TestOptionalEnrollmentAndProfile(t *testing.T) {
	h := newHarness(t)
	pw := h.createUser(account.NewUser{Username: "ext.user", Kind: "external", Name: "Eve External"})
	h.setOption("mfaBackupCodeCount", "3")
	h.setOption("mfaIssuer", "Acme Corp")
	c := h.client()

	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "ext.user", "password": pw}), "mfa_enroll_optional")
	// A pending key shown before skipping is discarded with the skip.
	c.post("/api/v1/signin/mfa/enroll", nil).ok(t, 200)
	checkStep(t, c.post("/api/v1/signin/mfa/enroll/skip", nil), "change_password")
	checkStep(t, c.post("/api/v1/signin/password", map[string]string{"new_password": newPassword}), "done")

	me := c.get("/api/v1/me").ok(t, 200)
	mfa := checkMe(t, me.json, "ext.user", "external", "local", "user")
	if asString(t, mfa, "policy") != "optional" || asBool(t, mfa, "enrolled") {
		t.Errorf("me.mfa before enrolment: %v", mfa)
	}
	if asString(t, me.json, "name") != "Eve External" {
		t.Errorf("name: %s", me.raw)
	}

	// The profile's enrolment: the current password, then the code.
	c.post("/api/v1/me/mfa/enroll", map[string]string{"current_password": "not the password at all"}).wantError(t, 401, "invalid_credentials")
	c.post("/api/v1/me/mfa/enroll/verify", map[string]string{"code": "123456"}).wantError(t, 409, "conflict")
	e := c.post("/api/v1/me/mfa/enroll", map[string]string{"current_password": newPassword}).ok(t, 200)
	key := checkEnrollment(t, e, "ext.user", "Acme Corp")
	f := c.post("/api/v1/me/mfa/enroll/verify", map[string]string{"code": h.code(key)}).ok(t, 200)
	codes := asStrings(t, f.json, "backup_codes")
	checkBackupCodes(t, codes, 3)
	c.post("/api/v1/me/mfa/enroll", map[string]string{"current_password": newPassword}).wantError(t, 409, "conflict")

	// A backup-code sign-in leaving 2 says they are few.
	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "ext.user", "password": newPassword}), "mfa_verify")
	b := c.post("/api/v1/signin/mfa/verify", map[string]string{"backup_code": codes[0]})
	checkStep(t, b, "done")
	if asNumber(t, b.json, "backup_codes_remaining") != 2 || !asBool(t, b.json, "backup_codes_low") {
		t.Errorf("after one of three codes: %s", b.raw)
	}

	// Rotation: the used code is replaced by one shown once.
	h.setOption("mfaRotateBackupCodes", "yes")
	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "ext.user", "password": newPassword}), "mfa_verify")
	b = c.post("/api/v1/signin/mfa/verify", map[string]string{"backup_code": codes[1]})
	checkStep(t, b, "done")
	nc := b.str(t, "new_backup_code")
	checkBackupCodes(t, []string{nc}, 1)
	if asNumber(t, b.json, "backup_codes_remaining") != 2 || !asBool(t, b.json, "backup_codes_low") {
		t.Errorf("after a rotated code: %s", b.raw)
	}

	// Codes turned off: /me says null, a backup code and a regeneration are refused 403 and not
	// counted.
	h.setOption("enableMFABackupCodes", "no")
	me = c.get("/api/v1/me").ok(t, 200)
	mfa = asObject(t, me.json, "mfa")
	asNull(t, mfa, "backup_codes_remaining")
	if asBool(t, mfa, "backup_codes_enabled") {
		t.Errorf("backup_codes_enabled while off")
	}
	c.post("/api/v1/me/mfa/backup-codes", map[string]string{"code": h.code(key)}).wantError(t, 403, "forbidden")
	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "ext.user", "password": newPassword}), "mfa_verify")
	c.post("/api/v1/signin/mfa/verify", map[string]string{"backup_code": nc}).wantError(t, 403, "forbidden")
	if u := h.user("ext.user"); u.MFAFailures != 0 {
		t.Errorf("a refused backup code was counted: %d", u.MFAFailures)
	}
	checkStep(t, c.post("/api/v1/signin/mfa/verify", map[string]string{"code": h.code(key)}), "done")

	// Enrolment while codes are off answers an empty list, not null and not absent.
	pw2 := h.createUser(account.NewUser{Username: "second"})
	c2 := h.client()
	checkStep(t, c2.post("/api/v1/signin", map[string]string{"username": "second", "password": pw2}), "mfa_enroll")
	k2, err := otp.DecodeKey(c2.post("/api/v1/signin/mfa/enroll", nil).ok(t, 200).str(t, "secret"))
	if err != nil {
		t.Fatal(err)
	}
	v := c2.post("/api/v1/signin/mfa/enroll/verify", map[string]string{"code": h.code(k2)})
	checkStep(t, v, "change_password")
	if l := asList(t, v.json, "backup_codes"); len(l) != 0 {
		t.Errorf("backup codes issued while off: %v", l)
	}

	// On again: the unused codes are back.
	h.setOption("enableMFABackupCodes", "yes")
	me = c.get("/api/v1/me").ok(t, 200)
	if n := asNumber(t, asObject(t, me.json, "mfa"), "backup_codes_remaining"); n != 2 {
		t.Errorf("backup_codes_remaining %d after turning codes on again, want 2", n)
	}

	// The profile's password change: 204, a new cookie, the old password gone.
	before := c.cookie()
	c.post("/api/v1/me/password", map[string]string{"current_password": "wrong password here", "new_password": "another fine passphrase"}).wantError(t, 401, "invalid_credentials")
	c.post("/api/v1/me/password", map[string]string{"current_password": newPassword, "new_password": "short"}).wantError(t, 400, "invalid_request")
	a := c.post("/api/v1/me/password", map[string]string{"current_password": newPassword, "new_password": "another fine passphrase"})
	if a.status != 204 {
		t.Fatalf("me/password: %d %s", a.status, a.raw)
	}
	if c.cookie() == before || c.cookie() == "" {
		t.Errorf("the session id did not change with the password")
	}
	c.get("/api/v1/me").ok(t, 200)
	h.client().post("/api/v1/signin", map[string]string{"username": "ext.user", "password": newPassword}).wantError(t, 401, "invalid_credentials")
}

// TestAdminAPI covers the options, users and audit endpoints as an admin sees them.
func TestAdminAPI(t *testing.T) {
	h := newHarness(t)
	admin := h.signIn("admin", h.bootstrap())
	c := admin.c

	// Options: every field, a list for a choice and a text for a range.
	o := c.get("/api/v1/admin/options").ok(t, 200)
	opts := asList(t, o.json, "options")
	if len(opts) != len(options.All()) {
		t.Errorf("%d options, want %d", len(opts), len(options.All()))
	}
	byKey := map[string]map[string]any{}
	for _, v := range opts {
		m := v.(map[string]any)
		for _, k := range []string{"key", "description", "value", "default"} {
			asString(t, m, k)
		}
		if _, ok := m["values"]; !ok {
			t.Errorf("option without values: %v", m)
		}
		byKey[asString(t, m, "key")] = m
	}
	if got := asStrings(t, byKey["internalMFA"], "values"); !slices.Equal(got, []string{"off", "required", "optional"}) {
		t.Errorf("internalMFA values %v", got)
	}
	if got := asString(t, byKey["mfaBackupCodeCount"], "values"); got != "1 to 20" {
		t.Errorf("mfaBackupCodeCount values %q, want \"1 to 20\"", got)
	}
	if asString(t, byKey["internalMFA"], "value") != "required" || asString(t, byKey["externalMFA"], "default") != "optional" {
		t.Errorf("option values: %v %v", byKey["internalMFA"], byKey["externalMFA"])
	}
	s := c.get("/api/v1/admin/options?search=MFA").ok(t, 200)
	found := asList(t, s.json, "options")
	if len(found) == 0 || len(found) >= len(opts) {
		t.Errorf("search MFA found %d of %d options", len(found), len(opts))
	}
	for _, v := range found {
		m := v.(map[string]any)
		if !strings.Contains(strings.ToLower(asString(t, m, "key")+asString(t, m, "description")), "mfa") {
			t.Errorf("search MFA found %v", m["key"])
		}
	}

	set := c.call("PUT", "/api/v1/admin/options/mfaBackupCodeCount", map[string]string{"value": "7"}).ok(t, 200)
	if asString(t, set.json, "key") != "mfaBackupCodeCount" || asString(t, set.json, "value") != "7" || asString(t, set.json, "values") != "1 to 20" {
		t.Errorf("PUT option answered %s", set.raw)
	}
	c.call("PUT", "/api/v1/admin/options/mfaBackupCodeCount", map[string]string{"value": "21"}).wantError(t, 400, "invalid_request")
	c.call("PUT", "/api/v1/admin/options/internalMFA", map[string]string{"value": "sometimes"}).wantError(t, 400, "invalid_request")
	c.call("PUT", "/api/v1/admin/options/mfaIssuer", map[string]string{"value": "Acme:Corp"}).wantError(t, 400, "invalid_request")
	c.call("PUT", "/api/v1/admin/options/noSuchOption", map[string]string{"value": "1"}).wantError(t, 404, "not_found")
	c.call("PUT", "/api/v1/admin/options/mfaBackupCodeCount", map[string]string{}).wantError(t, 400, "invalid_request")
	if v := asString(t, c.get("/api/v1/admin/options?search=mfaBackupCodeCount").json["options"].([]any)[0].(map[string]any), "value"); v != "7" {
		t.Errorf("mfaBackupCodeCount is %q after refused changes, want 7", v)
	}

	// Users: create, list newest first, show.
	h.clock.Advance(time.Second)
	cr := c.post("/api/v1/admin/users", map[string]string{"username": "Bob.Builder", "email": "bob@example.com",
		"name": "Bob", "kind": "external"}).ok(t, 201)
	checkUser(t, cr.json, "bob.builder")
	if asString(t, cr.json, "kind") != "external" || asString(t, cr.json, "role") != "user" || asString(t, cr.json, "source") != "local" {
		t.Errorf("created user: %s", cr.raw)
	}
	if asBool(t, cr.json, "disabled") || asBool(t, cr.json, "mfa_locked") {
		t.Errorf("a new user is disabled or locked: %s", cr.raw)
	}
	asNull(t, cr.json, "password_locked_until")
	asNull(t, cr.json, "mfa_locked_until")
	c.post("/api/v1/admin/users", map[string]string{"username": "BOB.builder", "email": "b2@example.com"}).wantError(t, 409, "conflict")
	c.post("/api/v1/admin/users", map[string]string{"username": "bad name", "email": "x@example.com"}).wantError(t, 400, "invalid_request")
	c.post("/api/v1/admin/users", map[string]string{"username": "nomail", "email": "not an address"}).wantError(t, 400, "invalid_request")
	c.post("/api/v1/admin/users", map[string]string{"username": "badkind", "email": "k@example.com", "kind": "partner"}).wantError(t, 400, "invalid_request")
	if e := c.post("/api/v1/admin/users", map[string]string{"username": "eve", "email": "eve@example.com",
		"name": "Eve\x1b]0;pwned\x07"}).wantError(t, 400, "invalid_request"); !strings.Contains(asString(t, e, "message"), "control characters") {
		t.Errorf("a name with an escape sequence: %v", e)
	}
	h.clock.Advance(time.Second)
	sso := c.post("/api/v1/admin/users", map[string]string{"username": "sso.sam", "email": "sam@example.com", "source": "sso"}).ok(t, 201)
	checkUser(t, sso.json, "sso.sam")

	l := c.get("/api/v1/admin/users").ok(t, 200)
	var names []string
	var created []time.Time
	for _, v := range asList(t, l.json, "users") {
		m := v.(map[string]any)
		checkUser(t, m, asString(t, m, "username"))
		names = append(names, asString(t, m, "username"))
		created = append(created, asTime(t, m, "created_at"))
	}
	if !slices.Equal(names, []string{"sso.sam", "bob.builder", "admin"}) {
		t.Errorf("users %v, want newest first", names)
	}
	for i := 1; i < len(created); i++ {
		if created[i].After(created[i-1]) {
			t.Errorf("users not newest first: %v", created)
		}
	}
	checkUser(t, c.get("/api/v1/admin/users/BOB.BUILDER").ok(t, 200).json, "bob.builder")
	c.get("/api/v1/admin/users/nobody").wantError(t, 404, "not_found")

	// Actions answer the user.
	bobPW := h.lastTemporaryPassword("bob@example.com")
	d := c.post("/api/v1/admin/users/bob.builder/disable", nil).ok(t, 200)
	if !asBool(t, d.json, "disabled") {
		t.Errorf("disable: %s", d.raw)
	}
	h.client().post("/api/v1/signin", map[string]string{"username": "bob.builder", "password": bobPW}).wantError(t, 403, "account_disabled")
	c.post("/api/v1/admin/users/admin/disable", nil).wantError(t, 409, "conflict")
	en := c.raw("POST", "/api/v1/admin/users/bob.builder/enable", "{}").ok(t, 200)
	if asBool(t, en.json, "disabled") {
		t.Errorf("enable: %s", en.raw)
	}
	checkUser(t, c.post("/api/v1/admin/users/bob.builder/unlock", nil).ok(t, 200).json, "bob.builder")
	checkUser(t, c.post("/api/v1/admin/users/bob.builder/password/reset", nil).ok(t, 200).json, "bob.builder")
	newBobPW := h.lastTemporaryPassword("bob@example.com")
	if newBobPW == bobPW {
		t.Fatalf("reset-password sent the same password")
	}
	h.client().post("/api/v1/signin", map[string]string{"username": "bob.builder", "password": bobPW}).wantError(t, 401, "invalid_credentials")
	c.post("/api/v1/admin/users/sso.sam/password/reset", nil).wantError(t, 409, "conflict")
	c.post("/api/v1/admin/users/sso.sam/mfa/reset", nil).wantError(t, 409, "conflict")

	// Bob enrols; reset-mfa with a new password sends him back to enrolment with it.
	h.setOption("externalMFA", "required")
	bob := h.signIn("bob.builder", newBobPW)
	if bob.key == nil || len(bob.backup) != 7 {
		t.Fatalf("bob did not enrol with 7 codes: %v", bob.backup)
	}
	rm := c.post("/api/v1/admin/users/bob.builder/mfa/reset", map[string]bool{"with_password": true}).ok(t, 200)
	if asBool(t, asObject(t, rm.json, "mfa"), "enrolled") {
		t.Errorf("still enrolled after reset: %s", rm.raw)
	}
	bob.c.get("/api/v1/me").wantError(t, 401, "not_signed_in")
	h.client().post("/api/v1/signin", map[string]string{"username": "bob.builder", "password": newPassword}).wantError(t, 401, "invalid_credentials")
	reset := h.lastTemporaryPassword("bob@example.com")
	bc := h.client()
	checkStep(t, bc.post("/api/v1/signin", map[string]string{"username": "bob.builder", "password": reset}), "mfa_enroll")
	// reset-mfa without a body keeps the password.
	c.post("/api/v1/admin/users/bob.builder/mfa/reset", nil).ok(t, 200)

	// Audit: newest first, filters, limit.
	ev := c.get("/api/v1/admin/audit").ok(t, 200)
	events := asList(t, ev.json, "events")
	if len(events) < 10 {
		t.Fatalf("only %d events", len(events))
	}
	var last time.Time
	for i, v := range events {
		m := v.(map[string]any)
		at := asTime(t, m, "at")
		for _, k := range []string{"actor", "user", "action", "detail"} {
			asString(t, m, k)
		}
		if i > 0 && at.After(last) {
			t.Errorf("events not newest first at %d", i)
		}
		last = at
	}
	first := events[0].(map[string]any)
	if asString(t, first, "action") != "mfa.reset" || asString(t, first, "actor") != "admin" || asString(t, first, "user") != "bob.builder" {
		t.Errorf("newest event %v", first)
	}
	fb := c.get("/api/v1/admin/audit?user=bob.builder&action=user.disabled&limit=5").ok(t, 200)
	if l := asList(t, fb.json, "events"); len(l) != 1 || asString(t, l[0].(map[string]any), "action") != "user.disabled" {
		t.Errorf("filtered events: %s", fb.raw)
	}
	if l := asList(t, c.get("/api/v1/admin/audit?limit=2").ok(t, 200).json, "events"); len(l) != 2 {
		t.Errorf("limit=2 answered %d events", len(l))
	}
	for _, q := range []string{"limit=0", "limit=abc", "limit=1001", "user=bad%20name"} {
		c.get("/api/v1/admin/audit?"+q).wantError(t, 400, "invalid_request")
	}
	opt := c.get("/api/v1/admin/audit?action=option.changed").ok(t, 200)
	if l := asList(t, opt.json, "events"); len(l) < 2 || !strings.Contains(asString(t, l[len(l)-1].(map[string]any), "detail"), "mfaBackupCodeCount: 5 -> 7") {
		t.Errorf("option change not audited with old and new value: %s", opt.raw)
	}
}

// TestBodyForms checks the bodies that are accepted: white space around the object, a charset
// parameter, and no body at all where none is needed.
// TestAdminGroupsAPI: POST /admin/users/{username}/groups adds and removes groups and answers
// the user; a refused name is 400 invalid_request about its field and changes nothing.
func TestAdminGroupsAPI(t *testing.T) {
	h := newHarness(t)
	admin := h.signIn("admin", h.bootstrap())
	c := admin.c
	h.createUser(account.NewUser{Username: "gail"})
	path := "/api/v1/admin/users/gail/groups"

	if got := asStrings(t, c.get("/api/v1/admin/users/gail").ok(t, 200).json, "groups"); len(got) != 0 {
		t.Fatalf("groups of a new account %q", got)
	}
	a := c.post(path, map[string][]string{"add": {"ops", "dev", "ops"}}).ok(t, 200)
	checkUser(t, a.json, "gail")
	if got := asStrings(t, a.json, "groups"); !slices.Equal(got, []string{"dev", "ops"}) {
		t.Fatalf("groups after adding %q", got)
	}
	a = c.post("/api/v1/admin/users/GAIL/groups", map[string][]string{"add": {"qa"}, "remove": {"dev", "absent"}}).ok(t, 200)
	if got := asStrings(t, a.json, "groups"); !slices.Equal(got, []string{"ops", "qa"}) {
		t.Fatalf("groups after adding and removing %q", got)
	}
	// Idempotent, and an empty body changes nothing.
	c.post(path, map[string][]string{"add": {"qa"}, "remove": {"dev"}}).ok(t, 200)
	c.post(path, nil).ok(t, 200)
	c.post(path, map[string]any{}).ok(t, 200)

	before := len(h.events())
	for _, body := range []map[string]any{
		{"add": []string{"Ops"}},
		{"add": []string{strings.Repeat("a", 65)}},
		{"add": []string{""}},
		{"add": []string{"new", "a b"}},
		{"add": []string{"a/b"}},
		{"remove": []string{"QA"}},
		{"add": []string{"x"}, "remove": []string{"x"}},
		{"add": "ops"},
		{"add": []string{"x"}, "members": []string{"y"}},
	} {
		a := c.post(path, body)
		a.wantError(t, 400, "invalid_request")
	}
	c.post(path, map[string][]string{"add": {"Ops"}}).wantError(t, 400, "invalid_request")
	if msg := c.post(path, map[string][]string{"remove": {"Q A"}}).raw; !strings.Contains(string(msg), "in remove is not one") {
		t.Errorf("refusal %s does not name the field", msg)
	}
	if got := h.user("gail").Groups; !slices.Equal(got, []string{"ops", "qa"}) {
		t.Fatalf("refused changes left groups %q", got)
	}
	if n := len(h.events()); n != before {
		t.Errorf("refused changes wrote %d events", n-before)
	}
	c.post("/api/v1/admin/users/nobody/groups", map[string][]string{"add": {"x"}}).wantError(t, 404, "not_found")

	var changed []*store.Event
	for _, e := range h.events() {
		if e.Action == account.ActionGroupsChanged {
			changed = append(changed, e)
		}
	}
	if len(changed) != 2 || changed[0].Actor != "admin" || changed[0].User != "gail" {
		t.Fatalf("groups events %+v, want two by admin about gail", changed)
	}
}

func TestBodyForms(t *testing.T) {
	h := newHarness(t)
	pw := h.createUser(account.NewUser{Username: "wes", Kind: "external"})
	c := h.client()
	a := c.send(request{method: "POST", path: "/api/v1/signin", contentType: "application/json; charset=utf-8",
		body: strings.NewReader(" \n\t{\"username\": \"wes\", \"password\": \"" + pw + "\"} \r\n")})
	checkStep(t, a, "mfa_enroll_optional")
	before := c.cookie()
	checkStep(t, c.send(request{method: "POST", path: "/api/v1/signin/mfa/enroll/skip", contentType: "text/plain"}), "change_password")
	if c.cookie() == before {
		t.Errorf("the session id did not change at the skip")
	}
	checkStep(t, c.send(request{method: "POST", path: "/api/v1/signin/password", contentType: "Application/JSON",
		body: strings.NewReader(`{"new_password":"` + newPassword + `"}`)}), "done")
}

// TestSameCodeTwice sends one TOTP code and one backup code to two sign-ins at once: each works
// once.
func TestSameCodeTwice(t *testing.T) {
	h := newHarness(t)
	pw := h.createUser(account.NewUser{Username: "pat"})
	pat := h.signIn("pat", pw)
	for _, field := range []string{"code", "backup_code"} {
		a, b := h.client(), h.client()
		for _, c := range []*client{a, b} {
			checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "pat", "password": pat.pw}), "mfa_verify")
		}
		value := h.code(pat.key)
		if field == "backup_code" {
			value = pat.backup[0]
		}
		answers := make(chan *answer, 2)
		for _, c := range []*client{a, b} {
			go func() { answers <- c.post("/api/v1/signin/mfa/verify", map[string]string{field: value}) }()
		}
		x, y := <-answers, <-answers
		if x.status == 200 == (y.status == 200) {
			t.Fatalf("%s: statuses %d and %d, want exactly one 200", field, x.status, y.status)
		}
		if x.status != 200 {
			x, y = y, x
		}
		checkStep(t, x, "done")
		y.wantError(t, 401, "invalid_code")
	}
}
