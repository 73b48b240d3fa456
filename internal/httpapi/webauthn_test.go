package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/httpapi"
	"github.com/twofold-auth/twofold/internal/otp"
	"github.com/twofold-auth/twofold/internal/webauthntest"
)

// softKey is a software security key (webauthntest) that fails the test on error.
type softKey struct {
	t *testing.T
	*webauthntest.Key
}

func newSoftKey(t *testing.T, origin string) *softKey {
	t.Helper()
	k, err := webauthntest.New(origin)
	if err != nil {
		t.Fatal(err)
	}
	return &softKey{t: t, Key: k}
}

// publicKey answers the "publicKey" options of a begin's answer.
func publicKey(t *testing.T, a *answer) map[string]any {
	t.Helper()
	return asObject(t, a.json, "publicKey")
}

// answer runs f on the begin options opts.
func (k *softKey) answer(f func([]byte) ([]byte, error), opts map[string]any) []byte {
	k.t.Helper()
	begin, err := json.Marshal(map[string]any{"publicKey": opts})
	if err != nil {
		k.t.Fatal(err)
	}
	out, err := f(begin)
	if err != nil {
		k.t.Fatal(err)
	}
	return out
}

// create answers registration options with a new credential, as the browser returns it.
func (k *softKey) create(opts map[string]any) []byte { k.t.Helper(); return k.answer(k.Create, opts) }

// get answers sign-in options with an assertion, the counter moved on first.
func (k *softKey) get(opts map[string]any) []byte { k.t.Helper(); return k.answer(k.Get, opts) }

// postRaw posts body as JSON.
func (c *client) postRaw(path string, body []byte) *answer {
	c.h.t.Helper()
	return c.send(request{method: "POST", path: path, body: bytes.NewReader(body), contentType: "application/json"})
}

// addKey registers a software key from the profile of p under name.
func addKey(t *testing.T, p *person, name string) *softKey {
	t.Helper()
	k := newSoftKey(t, p.c.h.url0())
	opts := publicKey(t, p.c.post("/api/v1/me/webauthn/register/begin",
		map[string]string{"name": name, "current_password": p.pw}).ok(t, 200))
	a := p.c.postRaw("/api/v1/me/webauthn/register/finish", k.create(opts)).ok(t, 200)
	if got := asString(t, asObject(t, a.json, "key"), "name"); got != name {
		t.Fatalf("registered key named %q, want %q", got, name)
	}
	return k
}

// appAndKey makes the account name, enrolled with the authenticator app and signed in, and
// registers a software key from its profile under keyName.
func appAndKey(t *testing.T, h *harness, name, keyName string) (*person, *softKey) {
	t.Helper()
	p := h.signIn(name, h.createUser(account.NewUser{Username: name}))
	return p, addKey(t, p, keyName)
}

// url0 is the origin the relying party checks: the harness's base URL.
func (h *harness) url0() string { return "http://twofold.test" }

// keySignIn signs in c as name with the password, then with the key, answering the last answer.
func keySignIn(t *testing.T, c *client, name, pw string, k *softKey) *answer {
	t.Helper()
	return c.postRaw("/api/v1/signin/mfa/webauthn/finish", k.get(keyBegin(t, c, name, pw)))
}

// keyBegin is the password step, then the begin of a security key's ceremony: it answers the
// ceremony's options, for a key to answer.
func keyBegin(t *testing.T, c *client, name, pw string) map[string]any {
	t.Helper()
	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": name, "password": pw}), "mfa_verify")
	return publicKey(t, c.post("/api/v1/signin/mfa/webauthn/begin", nil).ok(t, 200))
}

// sessionAMR answers the amr of c's session as the store keeps it.
func sessionAMR(t *testing.T, h *harness, c *client) []string {
	t.Helper()
	sum := sha256.Sum256([]byte(c.cookie()))
	s, err := h.store.Session(context.Background(), sum[:])
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	return s.AMR
}

func mailed(h *harness, to, subject string) bool {
	h.mails.mu.Lock()
	defer h.mails.mu.Unlock()
	for _, m := range h.mails.sent {
		if m.To == to && strings.Contains(m.Subject, subject) {
			return true
		}
	}
	return false
}

func hasEvent(h *harness, user, action string) bool {
	for _, e := range h.events() {
		if e.User == user && e.Action == action {
			return true
		}
	}
	return false
}

// TestSecurityKeyRegisterAndSignIn: a key added from the profile (several per account) signs
// in at Verification Required with amr pwd hwk mfa, is listed with its last use, and the app
// still works; the key's answer works once.
func TestSecurityKeyRegisterAndSignIn(t *testing.T) {
	h := newHarness(t)
	kim, k := appAndKey(t, h, "kim", "YubiKey 5")
	addKey(t, kim, "Phone")
	if !mailed(h, "kim@example.com", "Security key added") || !hasEvent(h, "kim", "mfa.security_key_added") {
		t.Error("adding a key was neither mailed nor audited")
	}
	list := asList(t, kim.c.get("/api/v1/me/webauthn").ok(t, 200).json, "keys")
	if len(list) != 2 {
		t.Fatalf("%d keys listed, want 2", len(list))
	}
	first := list[0].(map[string]any)
	if asString(t, first, "name") != "YubiKey 5" || asBool(t, first, "disabled") || asString(t, first, "id") == "" {
		t.Errorf("first key listed as %v", first)
	}
	asTime(t, first, "created_at")
	asNull(t, first, "last_used_at")

	c := h.client()
	checkStep(t, keySignIn(t, c, "kim", kim.pw, k), "done")
	if got := sessionAMR(t, h, c); !slices.Equal(got, []string{"pwd", "hwk", "mfa"}) {
		t.Errorf("amr %v, want [pwd hwk mfa]", got)
	}
	list = asList(t, kim.c.get("/api/v1/me/webauthn").ok(t, 200).json, "keys")
	asTime(t, list[0].(map[string]any), "last_used_at")

	// The app still works, and an account with a key is still offered it.
	kim.signInAgain()

	// A replayed answer is refused: its challenge was used up.
	c2 := h.client()
	checkStep(t, c2.post("/api/v1/signin", map[string]string{"username": "kim", "password": kim.pw}), "mfa_verify")
	opts := publicKey(t, c2.post("/api/v1/signin/mfa/webauthn/begin", nil).ok(t, 200))
	cred := k.get(opts)
	checkStep(t, c2.postRaw("/api/v1/signin/mfa/webauthn/finish", cred), "done")
	c3 := h.client()
	checkStep(t, c3.post("/api/v1/signin", map[string]string{"username": "kim", "password": kim.pw}), "mfa_verify")
	c3.postRaw("/api/v1/signin/mfa/webauthn/finish", cred).wantError(t, 401, "invalid_code")
	c3.post("/api/v1/signin/mfa/webauthn/begin", nil).ok(t, 200)
	c3.postRaw("/api/v1/signin/mfa/webauthn/finish", cred).wantError(t, 401, "invalid_code")
	if n := h.user("kim").MFAFailures; n != 2 {
		t.Errorf("%d failures counted, want 2", n)
	}

	// Malformed: 400, not counted.
	c3.post("/api/v1/signin/mfa/webauthn/finish", map[string]string{"id": "x"}).wantError(t, 400, "invalid_request")
	if n := h.user("kim").MFAFailures; n != 2 {
		t.Errorf("%d failures counted after a malformed answer, want 2", n)
	}
}

// TestSecurityKeyChallenge: a challenge works for its own sign-in only, and for 5 minutes.
func TestSecurityKeyChallenge(t *testing.T) {
	h := newHarness(t)
	kim, k := appAndKey(t, h, "kim", "key")

	// Foreign: answered to the challenge of another sign-in.
	a, b := h.client(), h.client()
	for _, c := range []*client{a, b} {
		checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "kim", "password": kim.pw}), "mfa_verify")
	}
	optsA := publicKey(t, a.post("/api/v1/signin/mfa/webauthn/begin", nil).ok(t, 200))
	b.post("/api/v1/signin/mfa/webauthn/begin", nil).ok(t, 200)
	b.postRaw("/api/v1/signin/mfa/webauthn/finish", k.get(optsA)).wantError(t, 401, "invalid_code")

	// Expired: more than 5 minutes after begin.
	opts := publicKey(t, a.post("/api/v1/signin/mfa/webauthn/begin", nil).ok(t, 200))
	h.clock.Advance(5*time.Minute + time.Second)
	a.postRaw("/api/v1/signin/mfa/webauthn/finish", k.get(opts)).wantError(t, 401, "invalid_code")

	// Within 5 minutes it works.
	opts = publicKey(t, a.post("/api/v1/signin/mfa/webauthn/begin", nil).ok(t, 200))
	h.clock.Advance(4 * time.Minute)
	checkStep(t, a.postRaw("/api/v1/signin/mfa/webauthn/finish", k.get(opts)), "done")
}

// TestSecurityKeyLocks: five refused keys lock the second factor exactly as five wrong codes
// do (429 locked, the sign-in ended, a correct password then meets the lock), and a success
// resets the count.
func TestSecurityKeyLocks(t *testing.T) {
	h := newHarness(t)
	kim, k := appAndKey(t, h, "kim", "key")
	other := newSoftKey(t, h.url0()) // not registered: refused

	c := h.client()
	// A success resets the count.
	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "kim", "password": kim.pw}), "mfa_verify")
	c.post("/api/v1/signin/mfa/verify", map[string]string{"code": wrongCode(h, kim.key)}).wantError(t, 401, "invalid_code")
	if n := h.user("kim").MFAFailures; n != 1 {
		t.Fatalf("%d failures, want 1", n)
	}
	opts := publicKey(t, c.post("/api/v1/signin/mfa/webauthn/begin", nil).ok(t, 200))
	checkStep(t, c.postRaw("/api/v1/signin/mfa/webauthn/finish", k.get(opts)), "done")
	if n := h.user("kim").MFAFailures; n != 0 {
		t.Fatalf("%d failures after a key's success, want 0", n)
	}

	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "kim", "password": kim.pw}), "mfa_verify")
	var last *answer
	for i := 1; i <= 5; i++ {
		opts := publicKey(t, c.post("/api/v1/signin/mfa/webauthn/begin", nil).ok(t, 200))
		other.UserHandle = k.UserHandle
		last = c.postRaw("/api/v1/signin/mfa/webauthn/finish", other.get(opts))
		if i < 5 {
			last.wantError(t, 401, "invalid_code")
		}
	}
	e := last.wantError(t, 429, "locked")
	asTime(t, e, "locked_until")
	c.get("/api/v1/signin").wantError(t, 401, "not_signed_in")
	c.post("/api/v1/signin", map[string]string{"username": "kim", "password": kim.pw}).wantError(t, 429, "locked")
	if n := h.user("kim").MFAFailures; n != 5 {
		t.Errorf("%d failures, want 5", n)
	}
	if !mailed(h, "kim@example.com", "Second factor locked") {
		t.Error("the lock was not mailed")
	}
	h.clock.Advance(15*time.Minute + 2*time.Second)
	checkStep(t, keySignIn(t, c, "kim", kim.pw, k), "done")
}

// TestSecurityKeyClonedCounter: a counter that goes backwards is refused, disables the key,
// and is audited and mailed.
func TestSecurityKeyClonedCounter(t *testing.T) {
	h := newHarness(t)
	kim, k := appAndKey(t, h, "kim", "key")
	c := h.client()
	k.SignCount = 10
	checkStep(t, keySignIn(t, c, "kim", kim.pw, k), "done") // counter 11
	k.SignCount = 3                                         // the clone's counter: 4
	keySignIn(t, c, "kim", kim.pw, k).wantError(t, 401, "invalid_code")
	list := asList(t, kim.c.get("/api/v1/me/webauthn").ok(t, 200).json, "keys")
	if !asBool(t, list[0].(map[string]any), "disabled") {
		t.Errorf("the key is not disabled: %v", list[0])
	}
	if !hasEvent(h, "kim", "mfa.security_key_cloned") {
		t.Error("the cloned key was not audited")
	}
	if !mailed(h, "kim@example.com", "possible cloned key") {
		t.Error("the cloned key was not mailed")
	}
	// Disabled from then on, even with a counter ahead: the app still works.
	k.SignCount = 100
	c.post("/api/v1/signin/mfa/webauthn/begin", nil).wantError(t, 409, "conflict")
	kim.signInAgain()

	// Removable with a code.
	id := asString(t, list[0].(map[string]any), "id")
	kim.c.call("DELETE", "/api/v1/me/webauthn/"+id, map[string]string{"code": wrongCode(h, kim.key)}).wantError(t, 401, "invalid_code")
	if a := kim.c.call("DELETE", "/api/v1/me/webauthn/"+id, map[string]string{"code": h.code(kim.key)}); a.status != 204 {
		t.Fatalf("DELETE: %d %s", a.status, a.raw)
	}
	if n := len(asList(t, kim.c.get("/api/v1/me/webauthn").ok(t, 200).json, "keys")); n != 0 {
		t.Errorf("%d keys after removal", n)
	}
}

// TestSecurityKeyEnrollAndReset: enrolment with a key instead of the app issues backup codes;
// the key then signs in; an admin's MFA reset removes the keys.
func TestSecurityKeyEnrollAndReset(t *testing.T) {
	h := newHarness(t)
	pw := h.createUser(account.NewUser{Username: "kim"})
	c := h.client()
	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "kim", "password": pw}), "mfa_enroll")
	k := newSoftKey(t, h.url0())
	opts := publicKey(t, c.post("/api/v1/signin/mfa/enroll/webauthn/begin", nil).ok(t, 200))
	a := c.postRaw("/api/v1/signin/mfa/enroll/webauthn/finish", k.create(opts))
	checkStep(t, a, "change_password")
	if n := len(asStrings(t, a.json, "backup_codes")); n != 5 {
		t.Errorf("%d backup codes, want 5", n)
	}
	checkStep(t, c.post("/api/v1/signin/password", map[string]string{"new_password": newPassword}), "done")
	if got := sessionAMR(t, h, c); !slices.Equal(got, []string{"pwd", "hwk", "mfa"}) {
		t.Errorf("amr %v after enrolment with a key", got)
	}
	checkStep(t, keySignIn(t, h.client(), "kim", newPassword, k), "done")
	if !asBool(t, asObject(t, c.get("/api/v1/me").ok(t, 200).json, "mfa"), "enrolled") {
		t.Error("/me says not enrolled with a key as the only second factor")
	}

	admin := h.signIn("admin", h.bootstrap())
	r := admin.c.post("/api/v1/admin/users/kim/mfa/reset", nil).ok(t, 200)
	if asBool(t, asObject(t, r.json, "mfa"), "enrolled") {
		t.Errorf("enrolled after a reset: %s", r.raw)
	}
	keys, err := h.store.WebAuthnCredentials(context.Background(), h.user("kim").ID)
	if err != nil || len(keys) != 0 {
		t.Fatalf("keys after a reset: %v, %v", keys, err)
	}
	checkStep(t, h.client().post("/api/v1/signin", map[string]string{"username": "kim", "password": newPassword}), "mfa_enroll")
}

// TestSecurityKeysOff: with mfaWebAuthn no, nothing is offered, registration and use answer
// 403 forbidden, the keys stay stored, and an account whose only factor is a key enrols an
// authenticator app; yes brings the key back.
func TestSecurityKeysOff(t *testing.T) {
	h := newHarness(t)
	pw := h.createUser(account.NewUser{Username: "kim"})
	c := h.client()
	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "kim", "password": pw}), "mfa_enroll")
	k := newSoftKey(t, h.url0())
	opts := publicKey(t, c.post("/api/v1/signin/mfa/enroll/webauthn/begin", nil).ok(t, 200))
	checkStep(t, c.postRaw("/api/v1/signin/mfa/enroll/webauthn/finish", k.create(opts)), "change_password")
	checkStep(t, c.post("/api/v1/signin/password", map[string]string{"new_password": newPassword}), "done")

	h.setOption("mfaWebAuthn", "no")
	c.get("/api/v1/me/webauthn").wantError(t, 403, "forbidden")
	c.post("/api/v1/me/webauthn/register/begin", map[string]string{"name": "x", "current_password": newPassword}).wantError(t, 403, "forbidden")
	c.postRaw("/api/v1/me/webauthn/register/finish", newSoftKey(t, h.url0()).create(map[string]any{"rp": map[string]any{"id": "twofold.test"},
		"user": map[string]any{"id": "AA"}, "challenge": "AA"})).wantError(t, 403, "forbidden")
	c2 := h.client()
	// The key no longer counts as a second factor: the policy asks for one, so the app is enrolled.
	checkStep(t, c2.post("/api/v1/signin", map[string]string{"username": "kim", "password": newPassword}), "mfa_enroll")
	c2.post("/api/v1/signin/mfa/webauthn/begin", nil).wantError(t, 409, "conflict")
	c2.post("/api/v1/signin/mfa/enroll/webauthn/begin", nil).wantError(t, 403, "forbidden")
	keys, err := h.store.WebAuthnCredentials(context.Background(), h.user("kim").ID)
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys while off: %d, %v; want the one kept", len(keys), err)
	}
	h.setOption("mfaWebAuthn", "yes")
	checkStep(t, keySignIn(t, h.client(), "kim", newPassword, k), "done")
}

// TestSecurityKeyTurnedOffMidSignIn: a key's answer to a ceremony begun while keys were on is
// refused 403 once mfaWebAuthn is no, for an account that has an authenticator app too (so the
// sign-in is still at its verification step): nothing is checked or counted, and the sign-in
// still takes the app's code.
func TestSecurityKeyTurnedOffMidSignIn(t *testing.T) {
	h := newHarness(t)
	kim, k := appAndKey(t, h, "kim", "YubiKey 5")
	c := h.client()
	opts := keyBegin(t, c, "kim", kim.pw)
	h.setOption("mfaWebAuthn", "no")
	c.postRaw("/api/v1/signin/mfa/webauthn/finish", k.get(opts)).wantError(t, 403, "forbidden")
	if n := h.user("kim").MFAFailures; n != 0 {
		t.Errorf("%d failures counted for a refused method, want 0", n)
	}
	h.clock.Advance(30 * time.Second) // a step of its own for the code
	checkStep(t, c.post("/api/v1/signin/mfa/verify", map[string]string{"code": h.code(kim.key)}), "done")
}

// TestSecurityKeyFirstFromProfile: a key added from the profile by an account that skipped
// enrolment is its enrolment: backup codes are issued, and the next sign-in asks for the key.
func TestSecurityKeyFirstFromProfile(t *testing.T) {
	h := newHarness(t)
	h.setOption("internalMFA", "optional")
	pw := h.createUser(account.NewUser{Username: "kim"})
	c := h.client()
	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "kim", "password": pw}), "mfa_enroll_optional")
	checkStep(t, c.post("/api/v1/signin/mfa/enroll/skip", nil), "change_password")
	checkStep(t, c.post("/api/v1/signin/password", map[string]string{"new_password": newPassword}), "done")
	kim := &person{c: c, name: "kim", pw: newPassword}
	k := newSoftKey(t, h.url0())
	opts := publicKey(t, c.post("/api/v1/me/webauthn/register/begin",
		map[string]string{"name": "first", "current_password": newPassword}).ok(t, 200))
	a := c.postRaw("/api/v1/me/webauthn/register/finish", k.create(opts)).ok(t, 200)
	if n := len(asStrings(t, a.json, "backup_codes")); n != 5 {
		t.Errorf("%d backup codes with the first key, want 5", n)
	}
	if !hasEvent(h, "kim", "mfa.enrolled") {
		t.Error("the first key was not audited as an enrolment")
	}
	checkStep(t, keySignIn(t, h.client(), "kim", newPassword, k), "done")
	// A second key is no enrolment.
	k2 := newSoftKey(t, h.url0())
	opts = publicKey(t, kim.c.post("/api/v1/me/webauthn/register/begin",
		map[string]string{"name": "second", "current_password": newPassword}).ok(t, 200))
	if a := kim.c.postRaw("/api/v1/me/webauthn/register/finish", k2.create(opts)).ok(t, 200); a.json["backup_codes"] != nil {
		t.Errorf("backup codes issued again with a second key: %s", a.raw)
	}
	// A wrong current password refuses before anything is offered.
	kim.c.post("/api/v1/me/webauthn/register/begin", map[string]string{"name": "x", "current_password": "wrong password 123"}).
		wantError(t, 401, "invalid_credentials")
}

// TestSecurityKeyRelyingParty: the relying party id is the cookie domain when given, else the
// base URL's host; with an IP address no key is offered and every key endpoint answers 403.
func TestSecurityKeyRelyingParty(t *testing.T) {
	for _, tc := range []struct {
		name, baseURL, cookieDomain, rpID string
	}{
		{"base URL", "http://signin.twofold.test:8080", "", "signin.twofold.test"},
		{"cookie domain", "http://signin.twofold.test", "twofold.test", "twofold.test"},
		{"localhost", "http://localhost:9091", "", "localhost"},
		{"IP address", "http://127.0.0.1:9091", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{baseURL: tc.baseURL, cookieDomain: tc.cookieDomain})
			pw := h.createUser(account.NewUser{Username: "kim"})
			c := h.client()
			in := c.post("/api/v1/signin", map[string]string{"username": "kim", "password": pw})
			checkStep(t, in, "mfa_enroll")
			for _, ck := range in.set { // a cookie for the cookie domain: the jar would not send it to 127.0.0.1
				if ck.Name == httpapi.CookieName {
					c.setCookie(ck.Value)
				}
			}
			a := c.post("/api/v1/signin/mfa/enroll/webauthn/begin", nil)
			if tc.rpID == "" {
				a.wantError(t, 403, "forbidden")
				return
			}
			opts := publicKey(t, a.ok(t, 200))
			if got := asString(t, asObject(t, opts, "rp"), "id"); got != tc.rpID {
				t.Errorf("rp.id %q, want %q", got, tc.rpID)
			}
			if got := asString(t, opts, "attestation"); got != "none" {
				t.Errorf("attestation %q, want none", got)
			}
			sel := asObject(t, opts, "authenticatorSelection")
			if got := asString(t, sel, "userVerification"); got != "preferred" {
				t.Errorf("userVerification %q, want preferred", got)
			}
			// Another origin is refused, and counted.
			k := newSoftKey(t, "http://evil.test")
			c.postRaw("/api/v1/signin/mfa/enroll/webauthn/finish", k.create(opts)).wantError(t, 401, "invalid_code")
			if n := h.user("kim").MFAFailures; n != 1 {
				t.Errorf("%d failures, want 1", n)
			}
		})
	}
}

// keyOnly enrols a new account name with a security key at sign-in, as its only second factor,
// and answers it signed in (new password chosen), its key and the backup codes issued.
func keyOnly(t *testing.T, h *harness, name string) (*person, *softKey, []string) {
	t.Helper()
	pw := h.createUser(account.NewUser{Username: name})
	c := h.client()
	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": name, "password": pw}), "mfa_enroll")
	k := newSoftKey(t, h.url0())
	opts := publicKey(t, c.post("/api/v1/signin/mfa/enroll/webauthn/begin", nil).ok(t, 200))
	a := c.postRaw("/api/v1/signin/mfa/enroll/webauthn/finish", k.create(opts))
	checkStep(t, a, "change_password")
	codes := asStrings(t, a.json, "backup_codes")
	checkStep(t, c.post("/api/v1/signin/password", map[string]string{"new_password": newPassword}), "done")
	return &person{c: c, name: name, pw: newPassword, backup: codes}, k, codes
}

// TestSecurityKeyRegenerateBackupCodes: an account whose only second factor is a key
// regenerates its backup codes with the key (POST /me/mfa/backup-codes/webauthn/begin and
// /finish): the earlier codes no longer work; a refused assertion is counted as a wrong code,
// and its challenge works once; a TOTP code has nothing to prove.
func TestSecurityKeyRegenerateBackupCodes(t *testing.T) {
	h := newHarness(t)
	kim, k, old := keyOnly(t, h, "kim")
	kim.c.post("/api/v1/me/mfa/backup-codes", map[string]string{"code": "123456"}).wantError(t, 409, "conflict")

	opts := publicKey(t, kim.c.post("/api/v1/me/mfa/backup-codes/webauthn/begin", nil).ok(t, 200))
	cred := k.get(opts)
	a := kim.c.postRaw("/api/v1/me/mfa/backup-codes/webauthn/finish", cred).ok(t, 200)
	if a.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q on new backup codes", a.header.Get("Cache-Control"))
	}
	fresh := asStrings(t, a.json, "backup_codes")
	if len(fresh) != 5 || slices.Equal(fresh, old) {
		t.Fatalf("new codes %q after %q", fresh, old)
	}
	if !hasEvent(h, "kim", "mfa.backup_codes_regenerated") || !mailed(h, "kim@example.com", "New backup codes") {
		t.Error("the regeneration was not audited or mailed")
	}
	// The challenge worked once: the same answer again is refused and counted.
	kim.c.postRaw("/api/v1/me/mfa/backup-codes/webauthn/finish", cred).wantError(t, 401, "invalid_code")
	if n := h.user("kim").MFAFailures; n != 1 {
		t.Errorf("%d second-factor failures after a reused challenge, want 1", n)
	}
	// An earlier code no longer works; a new one does.
	c := h.client()
	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "kim", "password": kim.pw}), "mfa_verify")
	c.post("/api/v1/signin/mfa/verify", map[string]string{"backup_code": old[0]}).wantError(t, 401, "invalid_code")
	checkStep(t, c.post("/api/v1/signin/mfa/verify", map[string]string{"backup_code": fresh[0]}), "done")

	// Another key's answer, or none begun, is refused like a wrong code.
	other := newSoftKey(t, h.url0())
	opts = publicKey(t, kim.c.post("/api/v1/me/mfa/backup-codes/webauthn/begin", nil).ok(t, 200))
	kim.c.postRaw("/api/v1/me/mfa/backup-codes/webauthn/finish", other.get(opts)).wantError(t, 401, "invalid_code")
	kim.c.postRaw("/api/v1/me/mfa/backup-codes/webauthn/finish", []byte(`{"id":`)).wantError(t, 400, "invalid_request")

	// Backup codes off: refused before anything is checked or counted.
	h.setOption("enableMFABackupCodes", "no")
	kim.c.post("/api/v1/me/mfa/backup-codes/webauthn/finish", map[string]any{}).wantError(t, 403, "forbidden")
	opts = publicKey(t, kim.c.post("/api/v1/me/mfa/backup-codes/webauthn/begin", nil).ok(t, 200))
	kim.c.postRaw("/api/v1/me/mfa/backup-codes/webauthn/finish", k.get(opts)).wantError(t, 403, "forbidden")

	// Not signed in: nothing to begin.
	h.client().post("/api/v1/me/mfa/backup-codes/webauthn/begin", nil).wantError(t, 401, "not_signed_in")
}

// TestSecurityKeyRemovedWithKey: with backup codes off, an account whose only second factor is a
// key removes a key with a key's assertion: another of its keys, or the one removed itself.
func TestSecurityKeyRemovedWithKey(t *testing.T) {
	h := newHarness(t)
	kim, k, _ := keyOnly(t, h, "kim")
	h.setOption("enableMFABackupCodes", "no")
	k2 := addKey(t, kim, "second")
	list := asList(t, kim.c.get("/api/v1/me/webauthn").ok(t, 200).json, "keys")
	first, second := asString(t, list[0].(map[string]any), "id"), asString(t, list[1].(map[string]any), "id")

	// A code and a key's answer together are malformed.
	opts := publicKey(t, kim.c.post("/api/v1/me/webauthn/remove/begin", nil).ok(t, 200))
	var cred json.RawMessage = k.get(opts)
	kim.c.call("DELETE", "/api/v1/me/webauthn/"+second, map[string]any{"code": "123456", "credential": cred}).
		wantError(t, 400, "invalid_request")
	// The first key removes the second.
	if a := kim.c.call("DELETE", "/api/v1/me/webauthn/"+second, map[string]any{"credential": cred}); a.status != 204 {
		t.Fatalf("DELETE with a key: %d %s", a.status, a.raw)
	}
	if !hasEvent(h, "kim", "mfa.security_key_removed") {
		t.Error("the removal was not audited")
	}
	// The removed key can no longer prove anything.
	opts = publicKey(t, kim.c.post("/api/v1/me/webauthn/remove/begin", nil).ok(t, 200))
	kim.c.call("DELETE", "/api/v1/me/webauthn/"+first, map[string]any{"credential": json.RawMessage(k2.get(opts))}).
		wantError(t, 401, "invalid_code")
	// The last key proves its own removal.
	opts = publicKey(t, kim.c.post("/api/v1/me/webauthn/remove/begin", nil).ok(t, 200))
	if a := kim.c.call("DELETE", "/api/v1/me/webauthn/"+first, map[string]any{"credential": json.RawMessage(k.get(opts))}); a.status != 204 {
		t.Fatalf("DELETE of the key with itself: %d %s", a.status, a.raw)
	}
	if n := len(asList(t, kim.c.get("/api/v1/me/webauthn").ok(t, 200).json, "keys")); n != 0 {
		t.Errorf("%d keys after removal", n)
	}
	kim.c.post("/api/v1/me/webauthn/remove/begin", nil).wantError(t, 409, "conflict")
}

// TestSecurityKeyClonedWhenSignedIn: a copy with an older counter, used to regenerate backup
// codes, is refused with the answer of a wrong code, and the key is listed disabled, audited
// and mailed.
func TestSecurityKeyClonedWhenSignedIn(t *testing.T) {
	h := newHarness(t)
	kim, k, _ := keyOnly(t, h, "kim")
	k.SignCount = 10
	opts := publicKey(t, kim.c.post("/api/v1/me/mfa/backup-codes/webauthn/begin", nil).ok(t, 200))
	kim.c.postRaw("/api/v1/me/mfa/backup-codes/webauthn/finish", k.get(opts)).ok(t, 200)
	k.SignCount = 3
	opts = publicKey(t, kim.c.post("/api/v1/me/mfa/backup-codes/webauthn/begin", nil).ok(t, 200))
	kim.c.postRaw("/api/v1/me/mfa/backup-codes/webauthn/finish", k.get(opts)).wantError(t, 401, "invalid_code")
	list := asList(t, kim.c.get("/api/v1/me/webauthn").ok(t, 200).json, "keys")
	if !asBool(t, list[0].(map[string]any), "disabled") {
		t.Errorf("the key is not disabled: %v", list[0])
	}
	if !hasEvent(h, "kim", "mfa.security_key_cloned") || !mailed(h, "kim@example.com", "possible cloned key") {
		t.Error("the cloned key was not audited and mailed")
	}
	kim.c.post("/api/v1/me/mfa/backup-codes/webauthn/begin", nil).wantError(t, 409, "conflict")
}

// TestSecurityKeyOnlyAddsApp: an account whose only second factor is a key adds an
// authenticator app from the profile (/me/mfa/enroll): a second method, so its backup codes
// stay; it then signs in with a code or with the key.
func TestSecurityKeyOnlyAddsApp(t *testing.T) {
	h := newHarness(t)
	kim, k, codes := keyOnly(t, h, "kim")
	e := kim.c.post("/api/v1/me/mfa/enroll", map[string]string{"current_password": kim.pw}).ok(t, 200)
	key, err := otp.DecodeKey(e.str(t, "secret"))
	if err != nil {
		t.Fatal(err)
	}
	a := kim.c.post("/api/v1/me/mfa/enroll/verify", map[string]string{"code": h.code(key)}).ok(t, 200)
	if n := len(asStrings(t, a.json, "backup_codes")); n != 0 {
		t.Errorf("%d backup codes issued when adding the app beside a key, want none (kept)", n)
	}
	if !hasEvent(h, "kim", "mfa.enrolled") {
		t.Error("adding the app was not audited")
	}
	// Enrolled with the app now: a second app is refused.
	kim.c.post("/api/v1/me/mfa/enroll", map[string]string{"current_password": kim.pw}).wantError(t, 409, "conflict")
	kim.key = key
	kim.signInAgain()
	checkStep(t, keySignIn(t, h.client(), "kim", kim.pw, k), "done")
	c := h.client()
	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "kim", "password": kim.pw}), "mfa_verify")
	checkStep(t, c.post("/api/v1/signin/mfa/verify", map[string]string{"backup_code": codes[0]}), "done")
	// With the app, regeneration takes a code too.
	if n := len(asStrings(t, kim.c.post("/api/v1/me/mfa/backup-codes", map[string]string{"code": h.code(key)}).ok(t, 200).json, "backup_codes")); n != 5 {
		t.Errorf("%d codes regenerated with the app", n)
	}
}
