package account_test

// SPEC §3 steps 3 and 4, TOTP, brute force on the second factor, new device; §5 "fail closed".

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/otp"
	"github.com/twofold-auth/twofold/internal/store"
)

var shownCode = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$`)

func TestEnrollment(t *testing.T) {
	t.Run("the pending key belongs to the sign-in", func(t *testing.T) {
		h := newHarness(t)
		h.setOption(options.MFAIssuer, "Acme Corp")
		u := h.user("kim")
		tok := h.mustSignIn(u, account.StepEnroll)
		e1, err := h.svc.Enroll(h.ctx, tok)
		mustNo(t, err)
		e2, err := h.svc.Enroll(h.ctx, tok)
		mustNo(t, err)
		if e1.Secret != e2.Secret || e1.URI != e2.URI {
			t.Fatal("the pending key changed between two requests of one sign-in")
		}
		if e1.AccountName != "kim" || e1.Issuer != "Acme Corp" || e1.Algorithm != "SHA1" || e1.Digits != 6 || e1.Period != 30 {
			t.Fatalf("enrolment %+v", e1)
		}
		if !regexp.MustCompile(`^[A-Z2-7]{32}$`).MatchString(e1.Secret) {
			t.Fatalf("secret %q is not 160 bits of upper-case base32 without padding", e1.Secret)
		}
		if !strings.HasPrefix(e1.URI, "otpauth://totp/") || !strings.Contains(e1.URI, "secret="+e1.Secret) {
			t.Fatalf("uri %q", e1.URI)
		}
		if !bytes.HasPrefix(e1.QRPNG, []byte("\x89PNG\r\n\x1a\n")) || !strings.HasPrefix(e1.QRDataURI(), "data:image/png;base64,") {
			t.Fatal("no PNG QR code")
		}
		other := h.mustSignIn(u, account.StepEnroll)
		e3, err := h.svc.Enroll(h.ctx, other)
		mustNo(t, err)
		if e3.Secret == e1.Secret {
			t.Fatal("two sign-ins share a pending key")
		}
		// The first sign-in's key does not enrol the second sign-in.
		key1, _ := otp.DecodeKey(e1.Secret)
		_, err = h.svc.VerifyEnroll(h.ctx, other, h.codeAt(key1, 0))
		wantCode(t, err, errs.InvalidCode)
	})

	t.Run("enrolment accepts one step either side", func(t *testing.T) {
		h := newHarness(t)
		for _, tc := range []struct {
			offset int
			ok     bool
		}{{-2, false}, {-1, true}, {0, true}, {1, true}, {2, false}} {
			u := h.user("en" + string(rune('a'+tc.offset+2)))
			tok := h.mustSignIn(u, account.StepEnroll)
			key := h.enroll(tok)
			_, err := h.svc.VerifyEnroll(h.ctx, tok, h.codeAt(key, tc.offset))
			if tc.ok {
				mustNo(t, err)
			} else {
				wantCode(t, err, errs.InvalidCode)
			}
		}
	})

	t.Run("skipping discards the pending key", func(t *testing.T) {
		h := newHarness(t)
		h.setOption(options.InternalMFA, options.PolicyOptional)
		u := h.user("sid")
		tok := h.mustSignIn(u, account.StepEnrollOptional)
		shown := h.enroll(tok)
		st, err := h.svc.SkipEnroll(h.ctx, tok)
		mustNo(t, err)
		e, err := h.svc.BeginEnroll(h.ctx, h.principal(st.Token), goodPassword, "")
		mustNo(t, err)
		if e.Secret == otp.EncodeKey(shown) {
			t.Fatal("the key of the finished sign-in was kept")
		}
	})

	t.Run("a wrong code counts and does not enrol; a malformed one is not counted", func(t *testing.T) {
		h := newHarness(t)
		u := h.user("lee")
		tok := h.mustSignIn(u, account.StepEnroll)
		key := h.enroll(tok)
		for _, bad := range []string{"12345", "1234567", "12345a", " 123456", ""} {
			_, err := h.svc.VerifyEnroll(h.ctx, tok, bad)
			wantCode(t, err, errs.Invalid)
		}
		if n := h.storeUser("lee").MFAFailures; n != 0 {
			t.Fatalf("malformed codes counted: %d", n)
		}
		_, err := h.svc.VerifyEnroll(h.ctx, tok, h.wrongCode(key))
		wantCode(t, err, errs.InvalidCode)
		su := h.storeUser("lee")
		if su.MFAFailures != 1 || su.Enrolled() {
			t.Fatalf("after a wrong code: failures %d, enrolled %v", su.MFAFailures, su.Enrolled())
		}
		if got := h.state(tok); got != account.StepEnroll {
			t.Fatalf("state %q", got)
		}
		if n, _ := h.db.CountBackupCodes(h.ctx, su.ID); n != 0 {
			t.Fatalf("%d backup codes after a failed enrolment", n)
		}
		// The same key still works afterwards, and the success clears the count.
		st, err := h.svc.VerifyEnroll(h.ctx, tok, h.codeAt(key, 0))
		mustNo(t, err)
		if st.Next != account.StepDone {
			t.Fatalf("next %q", st.Next)
		}
		if n := h.storeUser("lee").MFAFailures; n != 0 {
			t.Fatalf("failures %d after success", n)
		}
	})

	t.Run("a right code enrols key and backup codes at once", func(t *testing.T) {
		h := newHarness(t)
		h.setOption(options.MFABackupCodeCount, "7")
		u := h.user("max")
		tok := h.mustSignIn(u, account.StepEnroll)
		st := h.enrollAndVerify(u, tok)
		if st.Next != account.StepDone {
			t.Fatalf("next %q", st.Next)
		}
		if len(st.BackupCodes) != 7 {
			t.Fatalf("%d backup codes, want 7", len(st.BackupCodes))
		}
		seen := map[string]bool{}
		for _, c := range st.BackupCodes {
			if !shownCode.MatchString(c) || seen[c] {
				t.Fatalf("backup code %q malformed or repeated", c)
			}
			seen[c] = true
		}
		su := h.storeUser("max")
		if n, _ := h.db.CountBackupCodes(h.ctx, su.ID); n != 7 {
			t.Fatalf("%d codes stored", n)
		}
		key, err := h.keys.OpenTOTP(su.ID, su.TOTPKeyVersion, su.TOTPKey)
		if err != nil || !bytes.Equal(key, u.Key) {
			t.Fatalf("stored key does not open to the enrolled key: %v", err)
		}
		if want := otp.StepAt(h.clock.Now(), 30); su.TOTPLastStep != want {
			t.Fatalf("last step %d, want %d", su.TOTPLastStep, want)
		}
		if h.mail.count(u.Email, subjEnrolled) != 1 {
			t.Fatal("no enrolment email")
		}
		if msgs := h.mail.to(u.Email); !strings.Contains(msgs[len(msgs)-1].Body, h.clock.Now().UTC().Format(time.RFC1123)) {
			t.Fatalf("the enrolment email does not say when: %q", msgs[len(msgs)-1].Body)
		}
		if len(h.events("max", "mfa.enrolled")) != 1 {
			t.Fatal("enrolment not audited")
		}
		p := h.principal(st.Token)
		me, err := h.svc.Me(h.ctx, p)
		mustNo(t, err)
		if !me.MFA.Enrolled || me.MFA.BackupCodesRemaining == nil || *me.MFA.BackupCodesRemaining != 7 {
			t.Fatalf("me %+v", me.MFA)
		}
	})

	t.Run("no codes when backup codes are disabled", func(t *testing.T) {
		h := newHarness(t)
		h.setOption(options.EnableMFABackupCodes, "no")
		u := h.user("ned")
		tok := h.mustSignIn(u, account.StepEnroll)
		st := h.enrollAndVerify(u, tok)
		if len(st.BackupCodes) != 0 {
			t.Fatalf("%d codes issued while disabled", len(st.BackupCodes))
		}
		if n, _ := h.db.CountBackupCodes(h.ctx, u.ID); n != 0 {
			t.Fatalf("%d codes stored while disabled", n)
		}
		if !h.storeUser("ned").Enrolled() {
			t.Fatal("not enrolled")
		}
	})

	t.Run("optional policy: enrol from the profile later", func(t *testing.T) {
		h := newHarness(t)
		h.setOption(options.InternalMFA, options.PolicyOptional)
		u := h.user("opal")
		tok := h.mustSignIn(u, account.StepEnrollOptional)
		st, err := h.svc.SkipEnroll(h.ctx, tok)
		mustNo(t, err)
		p := h.principal(st.Token)
		_, err = h.svc.FinishEnroll(h.ctx, p, "123456")
		wantCode(t, err, errs.Conflict) // not started
		_, err = h.svc.BeginEnroll(h.ctx, p, "not my password", "192.0.2.9")
		wantCode(t, err, errs.InvalidCredentials)
		if n := h.passwordFailures("opal"); n != 1 {
			t.Fatalf("a wrong current password was not counted: %d", n)
		}
		e, err := h.svc.BeginEnroll(h.ctx, p, goodPassword, "192.0.2.9")
		mustNo(t, err)
		key, _ := otp.DecodeKey(e.Secret)
		codes, err := h.svc.FinishEnroll(h.ctx, p, otp.TOTP(key, h.clock.Now(), otp.Default))
		mustNo(t, err)
		if len(codes) != 5 {
			t.Fatalf("%d codes", len(codes))
		}
		h.clock.Advance(30 * time.Second)
		u.Key = key
		h.session(u)
	})
}

func TestTOTPWindow(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name   string
		offset int
		ok     bool
	}{
		{"previous step", -1, true},
		{"current step", 0, true},
		{"next step", 1, true},
		{"two steps back", -2, false},
		{"two steps ahead", 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := h.enrolledUser("w" + strings.ReplaceAll(tc.name, " ", ""))
			h.clock.Advance(3 * 30 * time.Second) // the enrolment step is well behind
			tok := h.mustSignIn(u, account.StepVerify)
			st, err := h.svc.Verify(h.ctx, tok, h.codeAt(u.Key, tc.offset), "")
			if tc.ok {
				mustNo(t, err)
				if st.Next != account.StepDone {
					t.Fatalf("next %q", st.Next)
				}
				if want := otp.StepAt(h.clock.Now(), 30) + int64(tc.offset); h.storeUser(u.Name).TOTPLastStep != want {
					t.Fatalf("recorded step %d, want %d", h.storeUser(u.Name).TOTPLastStep, want)
				}
				return
			}
			wantCode(t, err, errs.InvalidCode)
			if n := h.storeUser(u.Name).MFAFailures; n != 1 {
				t.Fatalf("failures %d", n)
			}
		})
	}
}

func TestTOTPReplay(t *testing.T) {
	t.Run("same step on another sign-in", func(t *testing.T) {
		h := newHarness(t)
		u := h.enrolledUser("ray")
		code := h.codeAt(u.Key, 0)
		t1 := h.mustSignIn(u, account.StepVerify)
		t2 := h.mustSignIn(u, account.StepVerify)
		_, err := h.svc.Verify(h.ctx, t1, code, "")
		mustNo(t, err)
		_, err = h.svc.Verify(h.ctx, t2, code, "")
		e := wantCode(t, err, errs.InvalidCode)
		// A reused code and a wrong code get the same answer.
		t3 := h.mustSignIn(u, account.StepVerify)
		_, err = h.svc.Verify(h.ctx, t3, h.wrongCode(u.Key), "")
		if e2 := wantCode(t, err, errs.InvalidCode); e2.Message != e.Message {
			t.Fatalf("replay %q vs wrong %q", e.Message, e2.Message)
		}
		if n := h.storeUser("ray").MFAFailures; n != 2 {
			t.Fatalf("failures %d, want 2 (the replay counts)", n)
		}
	})

	t.Run("earlier step after a later one", func(t *testing.T) {
		h := newHarness(t)
		u := h.enrolledUser("rob")
		t1 := h.mustSignIn(u, account.StepVerify)
		t2 := h.mustSignIn(u, account.StepVerify)
		_, err := h.svc.Verify(h.ctx, t1, h.codeAt(u.Key, 1), "")
		mustNo(t, err)
		for _, off := range []int{0, -1} {
			_, err = h.svc.Verify(h.ctx, t2, h.codeAt(u.Key, off), "")
			wantCode(t, err, errs.InvalidCode)
		}
		// Two steps on, the code of the then-current step works again.
		h.clock.Advance(60 * time.Second)
		_, err = h.svc.Verify(h.ctx, t2, h.codeAt(u.Key, 0), "")
		mustNo(t, err)
	})

	t.Run("the enrolment code is not accepted at the next sign-in", func(t *testing.T) {
		h := newHarness(t)
		u := h.user("roy")
		tok := h.mustSignIn(u, account.StepEnroll)
		h.enrollAndVerify(u, tok)
		tok = h.mustSignIn(u, account.StepVerify)
		_, err := h.svc.Verify(h.ctx, tok, h.codeAt(u.Key, 0), "")
		wantCode(t, err, errs.InvalidCode)
		_, err = h.svc.Verify(h.ctx, tok, h.codeAt(u.Key, -1), "")
		wantCode(t, err, errs.InvalidCode)
	})

	t.Run("the regeneration code is not accepted at a sign-in", func(t *testing.T) {
		h := newHarness(t)
		u := h.enrolledUser("rue")
		sess := h.session(u)
		h.clock.Advance(30 * time.Second)
		code := h.codeAt(u.Key, 0)
		_, err := h.svc.RegenerateBackupCodes(h.ctx, h.principal(sess), code)
		mustNo(t, err)
		tok := h.mustSignIn(u, account.StepVerify)
		_, err = h.svc.Verify(h.ctx, tok, code, "")
		wantCode(t, err, errs.InvalidCode)
		_, err = h.svc.RegenerateBackupCodes(h.ctx, h.principal(sess), code)
		wantCode(t, err, errs.InvalidCode)
	})
}

// race runs fn(i) for i in 0..n-1 on n goroutines released together, and answers the error codes
// ("" for success) in order.
func race(n int, fn func(i int) error) []string {
	var wg sync.WaitGroup
	out := make([]string, n)
	gate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			if err := fn(i); err != nil {
				out[i] = errs.Code(err)
			}
		}()
	}
	close(gate)
	wg.Wait()
	return out
}

func tally(codes []string) map[string]int {
	m := map[string]int{}
	for _, c := range codes {
		m[c]++
	}
	return m
}

// signIns makes n unfinished sign-ins of u, each at the verification step.
func (h *harness) signIns(u *testUser, n int) []string {
	toks := make([]string, n)
	for i := range toks {
		toks[i] = h.mustSignIn(u, account.StepVerify)
	}
	return toks
}

func TestConcurrentSameCode(t *testing.T) {
	// 20 sign-ins of one account, served by two instances on one database, send the same code
	// at once: exactly one is accepted.
	const n = 20
	t.Run("TOTP", func(t *testing.T) {
		h := newHarness(t)
		svcs := []*account.Service{h.svc, h.secondInstance()}
		u := h.enrolledUser("cora")
		toks := h.signIns(u, n)
		code := h.codeAt(u.Key, 0)
		got := race(n, func(i int) error {
			_, err := svcs[i%2].Verify(h.ctx, toks[i], code, "")
			return err
		})
		c := tally(got)
		if c[""] != 1 || c[""]+c[errs.InvalidCode]+c[errs.Locked] != n {
			t.Fatalf("results %v, want exactly one success and the rest refused", c)
		}
		if su := h.storeUser("cora"); su.TOTPLastStep != otp.StepAt(h.clock.Now(), 30) {
			t.Fatalf("last step %d", su.TOTPLastStep)
		}
	})

	t.Run("backup code", func(t *testing.T) {
		h := newHarness(t)
		svcs := []*account.Service{h.svc, h.secondInstance()}
		u := h.enrolledUser("cody")
		toks := h.signIns(u, n)
		got := race(n, func(i int) error {
			_, err := svcs[i%2].Verify(h.ctx, toks[i], "", u.Codes[0])
			return err
		})
		c := tally(got)
		if c[""] != 1 || c[""]+c[errs.InvalidCode]+c[errs.Locked] != n {
			t.Fatalf("results %v, want exactly one success and the rest refused", c)
		}
		if left, _ := h.db.CountBackupCodes(h.ctx, u.ID); left != len(u.Codes)-1 {
			t.Fatalf("%d codes left, want %d", left, len(u.Codes)-1)
		}
	})
}

func TestConcurrentWrongCodes(t *testing.T) {
	const n = 50
	h := newHarness(t)
	u := h.enrolledUser("gus")
	toks := h.signIns(u, n)
	wrong := h.wrongCode(u.Key)
	got := race(n, func(i int) error {
		_, err := h.svc.Verify(h.ctx, toks[i], wrong, "")
		return err
	})
	c := tally(got)
	if c[errs.InvalidCode] != 4 || c[errs.Locked] != n-4 {
		t.Fatalf("results %v, want 4 invalid_code and %d locked", c, n-4)
	}
	// Exactly one locked answer came from the failure that reached the lock: it alone ended its
	// sign-in. The others met the lock without their code being checked.
	ended := 0
	for i, tok := range toks {
		if !h.alive(tok) {
			ended++
			if got[i] != errs.Locked {
				t.Fatalf("sign-in %d ended after %q", i, got[i])
			}
		}
	}
	if ended != 1 {
		t.Fatalf("%d sign-ins ended, want 1", ended)
	}
	su := h.storeUser("gus")
	if su.MFAFailures != 5 {
		t.Fatalf("MFAFailures %d, want 5", su.MFAFailures)
	}
	if h.mail.count(u.Email, subjLocked) != 1 || len(h.events("gus", "mfa.locked")) != 1 {
		t.Fatal("want one lock email and one lock event")
	}
}

func TestSecondFactorLockLadder(t *testing.T) {
	h := newHarness(t)
	u := h.enrolledUser("lara")
	failures := 0

	// fail makes one wrong guess on a new sign-in and checks the answer.
	fail := func(want string) string {
		t.Helper()
		tok := h.mustSignIn(u, account.StepVerify)
		_, err := h.svc.Verify(h.ctx, tok, h.wrongCode(u.Key), "")
		wantCode(t, err, want)
		failures++
		if n := h.storeUser("lara").MFAFailures; n != failures {
			t.Fatalf("count %d, want %d", n, failures)
		}
		if want == errs.Locked {
			if h.alive(tok) {
				t.Fatal("the failure that locked did not end its sign-in")
			}
		} else if !h.alive(tok) {
			t.Fatal("a failure below the lock ended its sign-in")
		}
		return tok
	}

	for lock := 1; lock <= 3; lock++ {
		for i := 0; i < 4; i++ {
			fail(errs.InvalidCode)
		}
		bystander := h.mustSignIn(u, account.StepVerify)
		h.clock.Advance(time.Second)
		fail(errs.Locked)
		lockedAt := h.clock.Now()
		su := h.storeUser("lara")
		about(t, "MFALockedUntil", su.MFALockedUntil, lockedAt.Add(15*time.Minute))

		// Another sign-in meets the lock: a right code is neither checked nor counted.
		_, err := h.svc.Verify(h.ctx, bystander, h.codeAt(u.Key, 0), "")
		e := wantCode(t, err, errs.Locked)
		about(t, "LockedUntil", e.LockedUntil, lockedAt.Add(15*time.Minute))
		_, err = h.svc.Verify(h.ctx, bystander, "", u.Codes[0])
		wantCode(t, err, errs.Locked)
		if !h.alive(bystander) {
			t.Fatal("meeting the lock ended the sign-in")
		}
		if su := h.storeUser("lara"); su.MFAFailures != failures || su.TOTPLastStep == otp.StepAt(h.clock.Now(), 30) {
			t.Fatal("a code was checked or counted while locked")
		}
		if n, _ := h.db.CountBackupCodes(h.ctx, u.ID); n != len(u.Codes) {
			t.Fatal("a backup code was used while locked")
		}
		// A correct password meets the lock too.
		_, err = h.signIn("lara", goodPassword)
		wantCode(t, err, errs.Locked)
		if h.mail.count(u.Email, subjLocked) != lock || len(h.events("lara", "mfa.locked")) != lock {
			t.Fatalf("lock %d: want %d lock emails and events", lock, lock)
		}

		h.clock.Advance(14*time.Minute + 58*time.Second)
		_, err = h.signIn("lara", goodPassword)
		wantCode(t, err, errs.Locked)
		h.clock.Advance(3 * time.Second) // the count survives the lock
		mustNo(t, h.svc.SignOut(h.ctx, bystander))
	}

	// 16..19 wrong, the 20th locks for good.
	for i := 0; i < 4; i++ {
		fail(errs.InvalidCode)
	}
	tok := h.mustSignIn(u, account.StepVerify)
	_, err := h.svc.Verify(h.ctx, tok, h.wrongCode(u.Key), "")
	e := wantCode(t, err, errs.Locked)
	if !e.LockedUntil.IsZero() {
		t.Fatalf("permanent lock answers LockedUntil %v, want zero", e.LockedUntil)
	}
	if su := h.storeUser("lara"); !su.MFALockedForever || su.MFAFailures != 20 {
		t.Fatalf("forever %v failures %d", su.MFALockedForever, su.MFAFailures)
	}
	v, err := h.svc.User(h.ctx, account.CLI, "lara")
	mustNo(t, err)
	if !v.MFALocked || v.MFALockedUntil != nil {
		t.Fatalf("admin view: locked %v until %v", v.MFALocked, v.MFALockedUntil)
	}
	h.clock.Advance(48 * time.Hour)
	_, err = h.signIn("lara", goodPassword)
	if e := wantCode(t, err, errs.Locked); !e.LockedUntil.IsZero() {
		t.Fatal("permanent lock has an end")
	}
	if h.mail.count(u.Email, subjLocked) != 4 {
		t.Fatal("want 4 lock emails")
	}

	_, err = h.svc.Unlock(h.ctx, account.CLI, "lara")
	mustNo(t, err)
	if su := h.storeUser("lara"); su.MFALockedForever || su.MFAFailures != 0 || !su.MFALockedUntil.IsZero() && h.clock.Now().Before(su.MFALockedUntil) {
		t.Fatal("unlock left a lock or a count")
	}
	if len(h.events("lara", "user.unlocked")) != 1 {
		t.Fatal("unlock not audited")
	}
	h.session(u)
}

func TestSecondFactorCount(t *testing.T) {
	t.Run("a success resets the count", func(t *testing.T) {
		h := newHarness(t)
		u := h.enrolledUser("sue")
		for i := 0; i < 4; i++ {
			tok := h.mustSignIn(u, account.StepVerify)
			_, err := h.svc.Verify(h.ctx, tok, h.wrongCode(u.Key), "")
			wantCode(t, err, errs.InvalidCode)
		}
		h.session(u)
		if n := h.storeUser("sue").MFAFailures; n != 0 {
			t.Fatalf("count %d after success", n)
		}
		for i := 0; i < 4; i++ {
			tok := h.mustSignIn(u, account.StepVerify)
			_, err := h.svc.Verify(h.ctx, tok, h.wrongCode(u.Key), "")
			wantCode(t, err, errs.InvalidCode)
		}
	})

	t.Run("every kind of code check counts", func(t *testing.T) {
		h := newHarness(t)
		u := h.enrolledUser("val")
		sess := h.session(u)
		tok := h.mustSignIn(u, account.StepVerify)
		_, err := h.svc.Verify(h.ctx, tok, "", "2222-2222-2222-2222") // well-formed, not hers
		wantCode(t, err, errs.InvalidCode)
		_, err = h.svc.RegenerateBackupCodes(h.ctx, h.principal(sess), h.wrongCode(u.Key))
		wantCode(t, err, errs.InvalidCode)
		if n := h.storeUser("val").MFAFailures; n != 2 {
			t.Fatalf("count %d, want 2", n)
		}
		// enrolment checks count too
		w := h.user("wes")
		tok = h.mustSignIn(w, account.StepEnroll)
		key := h.enroll(tok)
		for i := 1; i <= 5; i++ {
			_, err := h.svc.VerifyEnroll(h.ctx, tok, h.wrongCode(key))
			if i < 5 {
				wantCode(t, err, errs.InvalidCode)
			} else {
				wantCode(t, err, errs.Locked)
			}
		}
		if h.alive(tok) {
			t.Fatal("the enrolment failure that locked did not end its sign-in")
		}
		_, err = h.signIn("wes", goodPassword)
		wantCode(t, err, errs.Locked)
	})

	t.Run("regeneration meets the lock", func(t *testing.T) {
		h := newHarness(t)
		u := h.enrolledUser("yan")
		sess := h.session(u)
		h.lockMFA(u)
		h.clock.Advance(30 * time.Second)
		_, err := h.svc.RegenerateBackupCodes(h.ctx, h.principal(sess), h.codeAt(u.Key, 0))
		wantCode(t, err, errs.Locked)
		if su := h.storeUser("yan"); su.MFAFailures != 5 || su.TOTPLastStep == otp.StepAt(h.clock.Now(), 30) {
			t.Fatal("a regeneration code was checked or counted while locked")
		}
		if n, _ := h.db.CountBackupCodes(h.ctx, u.ID); n != len(u.Codes) {
			t.Fatal("codes regenerated while locked")
		}
	})

	t.Run("malformed codes are not counted", func(t *testing.T) {
		h := newHarness(t)
		u := h.enrolledUser("xia")
		tok := h.mustSignIn(u, account.StepVerify)
		for _, tc := range []struct{ name, code, backup string }{
			{"no code", "", ""},
			{"both", h.codeAt(u.Key, 0), u.Codes[0]},
			{"5 digits", "12345", ""},
			{"7 digits", "1234567", ""},
			{"letters", "12a456", ""},
			{"backup 15 characters", "", "abcd-efgh-jkmn-pqr"},
			{"backup 17 characters", "", "abcd-efgh-jkmn-pqrst"},
			{"backup 16 characters outside the alphabet", "", "uuuu-uuuu-uuuu-uuuu"},
			{"backup with punctuation", "", "abcd.efgh.jkmn.pqrs"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := h.svc.Verify(h.ctx, tok, tc.code, tc.backup)
				wantCode(t, err, errs.Invalid)
			})
		}
		if n := h.storeUser("xia").MFAFailures; n != 0 {
			t.Fatalf("malformed requests counted: %d", n)
		}
		if n, _ := h.db.CountBackupCodes(h.ctx, u.ID); n != len(u.Codes) {
			t.Fatal("a malformed request used a backup code")
		}
		if !h.alive(tok) || h.state(tok) != account.StepVerify {
			t.Fatal("malformed requests moved the sign-in")
		}
	})
}

func TestBackupCodes(t *testing.T) {
	t.Run("typed forms, once each, remaining and low", func(t *testing.T) {
		h := newHarness(t)
		u := h.enrolledUser("bea")
		c := u.Codes
		forms := []struct{ name, typed string }{
			{"as shown", c[0]},
			{"upper case without dashes", strings.ToUpper(strings.ReplaceAll(c[1], "-", ""))},
			{"with spaces", strings.ReplaceAll(c[2], "-", " ")},
			{"mixed", strings.ToUpper(c[3][:9]) + " " + c[3][10:]},
		}
		for i, f := range forms {
			t.Run(f.name, func(t *testing.T) {
				tok := h.mustSignIn(u, account.StepVerify)
				st, err := h.svc.Verify(h.ctx, tok, "", f.typed)
				mustNo(t, err)
				left := len(c) - 1 - i
				if st.Next != account.StepDone || !st.UsedBackupCode || st.BackupCodesRemaining != left ||
					st.BackupCodesLow != (left <= 2) || st.NewBackupCode != "" {
					t.Fatalf("step %+v, want %d left", st, left)
				}
				h.principal(st.Token)
				if h.mail.count(u.Email, subjBackupUsed) != i+1 {
					t.Fatal("no backup-code email")
				}
			})
		}
		t.Run("each works once", func(t *testing.T) {
			tok := h.mustSignIn(u, account.StepVerify)
			_, err := h.svc.Verify(h.ctx, tok, "", c[0])
			wantCode(t, err, errs.InvalidCode)
			if n := h.storeUser("bea").MFAFailures; n != 1 {
				t.Fatalf("reuse not counted: %d", n)
			}
		})
		if len(h.events("bea", "mfa.backup_code_used")) != len(forms) {
			t.Fatal("backup-code use not audited")
		}
	})

	t.Run("rotation issues one new code", func(t *testing.T) {
		h := newHarness(t)
		h.setOption(options.MFARotateBackupCodes, "yes")
		u := h.enrolledUser("ria")
		tok := h.mustSignIn(u, account.StepVerify)
		st, err := h.svc.Verify(h.ctx, tok, "", u.Codes[0])
		mustNo(t, err)
		if !shownCode.MatchString(st.NewBackupCode) || st.BackupCodesRemaining != len(u.Codes) || st.BackupCodesLow {
			t.Fatalf("step %+v", st)
		}
		if h.mail.count(u.Email, subjBackupIssued) != 1 {
			t.Fatal("no email for the replacement code")
		}
		tok = h.mustSignIn(u, account.StepVerify)
		_, err = h.svc.Verify(h.ctx, tok, "", st.NewBackupCode)
		mustNo(t, err)

		// With one rotating recovery code, the count stays one.
		h2 := newHarness(t)
		h2.setOption(options.MFARotateBackupCodes, "yes")
		h2.setOption(options.MFABackupCodeCount, "1")
		v := h2.enrolledUser("rio")
		code := v.Codes[0]
		for i := 0; i < 3; i++ {
			tok := h2.mustSignIn(v, account.StepVerify)
			st, err := h2.svc.Verify(h2.ctx, tok, "", code)
			mustNo(t, err)
			if st.BackupCodesRemaining != 1 || !st.BackupCodesLow || st.NewBackupCode == "" {
				t.Fatalf("step %+v", st)
			}
			code = st.NewBackupCode
		}
	})

	t.Run("disabled: forbidden, not counted, hidden; enabled again: unused codes work", func(t *testing.T) {
		h := newHarness(t)
		u := h.enrolledUser("dee")
		sess := h.session(u)
		h.setOption(options.EnableMFABackupCodes, "no")
		tok := h.mustSignIn(u, account.StepVerify)
		_, err := h.svc.Verify(h.ctx, tok, "", u.Codes[0])
		wantCode(t, err, errs.Forbidden)
		_, err = h.svc.Verify(h.ctx, tok, "", "2222-2222-2222-2222")
		wantCode(t, err, errs.Forbidden)
		// Whether there is such a sign-in, at this step, is answered first.
		_, err = h.svc.Verify(h.ctx, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "", u.Codes[0])
		wantCode(t, err, errs.NotSignedIn)
		_, err = h.svc.Verify(h.ctx, sess, "", u.Codes[0])
		wantCode(t, err, errs.Conflict)
		if n := h.storeUser("dee").MFAFailures; n != 0 {
			t.Fatalf("counted while disabled: %d", n)
		}
		if n, _ := h.db.CountBackupCodes(h.ctx, u.ID); n != len(u.Codes) {
			t.Fatal("a code was used while disabled")
		}
		me, err := h.svc.Me(h.ctx, h.principal(sess))
		mustNo(t, err)
		if me.MFA.BackupCodesEnabled || me.MFA.BackupCodesRemaining != nil {
			t.Fatalf("me shows codes while disabled: %+v", me.MFA)
		}
		h.clock.Advance(30 * time.Second)
		_, err = h.svc.RegenerateBackupCodes(h.ctx, h.principal(sess), h.codeAt(u.Key, 0))
		wantCode(t, err, errs.Forbidden)
		if su := h.storeUser("dee"); su.MFAFailures != 0 || su.TOTPLastStep == otp.StepAt(h.clock.Now(), 30) {
			t.Fatal("a refused regeneration checked the code")
		}
		// TOTP still works while backup codes are off.
		_, err = h.svc.Verify(h.ctx, tok, h.codeAt(u.Key, 0), "")
		mustNo(t, err)

		h.setOption(options.EnableMFABackupCodes, "yes")
		me, err = h.svc.Me(h.ctx, h.principal(sess))
		mustNo(t, err)
		if me.MFA.BackupCodesRemaining == nil || *me.MFA.BackupCodesRemaining != len(u.Codes) {
			t.Fatalf("me after enabling again: %+v", me.MFA)
		}
		tok = h.mustSignIn(u, account.StepVerify)
		_, err = h.svc.Verify(h.ctx, tok, "", u.Codes[0])
		mustNo(t, err)
	})

	t.Run("regeneration", func(t *testing.T) {
		h := newHarness(t)
		u := h.enrolledUser("reg")
		sess := h.session(u)
		h.setOption(options.MFABackupCodeCount, "8")
		p := h.principal(sess)
		_, err := h.svc.RegenerateBackupCodes(h.ctx, p, "12345")
		wantCode(t, err, errs.Invalid)
		_, err = h.svc.RegenerateBackupCodes(h.ctx, p, h.wrongCode(u.Key))
		wantCode(t, err, errs.InvalidCode)
		if n, _ := h.db.CountBackupCodes(h.ctx, u.ID); n != len(u.Codes) {
			t.Fatal("a failed regeneration changed the codes")
		}
		h.clock.Advance(30 * time.Second)
		codes, err := h.svc.RegenerateBackupCodes(h.ctx, p, h.codeAt(u.Key, 0))
		mustNo(t, err)
		if len(codes) != 8 {
			t.Fatalf("%d codes, want 8", len(codes))
		}
		if h.mail.count(u.Email, subjRegenerated) != 1 || len(h.events("reg", "mfa.backup_codes_regenerated")) != 1 {
			t.Fatal("regeneration not told or not audited")
		}
		if n := h.storeUser("reg").MFAFailures; n != 0 {
			t.Fatalf("count %d after a success", n)
		}
		for _, old := range u.Codes[:2] {
			tok := h.mustSignIn(u, account.StepVerify)
			_, err := h.svc.Verify(h.ctx, tok, "", old)
			wantCode(t, err, errs.InvalidCode)
		}
		tok := h.mustSignIn(u, account.StepVerify)
		st, err := h.svc.Verify(h.ctx, tok, "", codes[7])
		mustNo(t, err)
		if st.BackupCodesRemaining != 7 {
			t.Fatalf("remaining %d", st.BackupCodesRemaining)
		}
	})
}

func TestResetMFA(t *testing.T) {
	t.Run("removes everything and the next sign-in enrols a new key", func(t *testing.T) {
		h := newHarness(t)
		u := h.enrolledUser("nia")
		sess := h.session(u)
		pending := h.mustSignIn(u, account.StepVerify)
		_, err := h.svc.Verify(h.ctx, pending, h.wrongCode(u.Key), "")
		wantCode(t, err, errs.InvalidCode)
		oldSecret := otp.EncodeKey(u.Key)

		v, err := h.svc.ResetMFA(h.ctx, account.CLI, "NIA", false)
		mustNo(t, err)
		if v.MFA.Enrolled {
			t.Fatal("view still enrolled")
		}
		su := h.storeUser("nia")
		if su.TOTPKey != nil || su.TOTPLastStep != 0 || su.MFAFailures != 0 || su.MFALockedForever || !su.MFALockedUntil.IsZero() {
			t.Fatalf("after reset: %+v", su)
		}
		if n, _ := h.db.CountBackupCodes(h.ctx, u.ID); n != 0 {
			t.Fatalf("%d backup codes survive", n)
		}
		if h.alive(sess) || h.alive(pending) {
			t.Fatal("a session or sign-in survived the reset")
		}
		if h.mail.count(u.Email, subjReset) != 1 || len(h.events("nia", "mfa.reset")) != 1 {
			t.Fatal("reset not told or not audited")
		}
		tok := h.mustSignIn(u, account.StepEnroll) // the password still works
		e, err := h.svc.Enroll(h.ctx, tok)
		mustNo(t, err)
		if e.Secret == oldSecret {
			t.Fatal("re-enrolment offers the old key")
		}
		oldKey := u.Key
		h.enrollAndVerify(u, tok)
		h.clock.Advance(30 * time.Second)
		tok = h.mustSignIn(u, account.StepVerify)
		_, err = h.svc.Verify(h.ctx, tok, h.codeAt(oldKey, 0), "")
		wantCode(t, err, errs.InvalidCode) // the old device no longer works
	})

	t.Run("clears a lock", func(t *testing.T) {
		h := newHarness(t)
		u := h.enrolledUser("lin")
		h.lockMFA(u)
		_, err := h.svc.ResetMFA(h.ctx, account.CLI, "lin", false)
		mustNo(t, err)
		h.mustSignIn(u, account.StepEnroll)
	})

	t.Run("with password", func(t *testing.T) {
		h := newHarness(t)
		u := h.enrolledUser("pam")
		_, err := h.svc.ResetMFA(h.ctx, account.CLI, "pam", true)
		mustNo(t, err)
		_, err = h.signIn("pam", goodPassword)
		wantCode(t, err, errs.InvalidCredentials)
		msgs := h.mail.to(u.Email)
		last := msgs[len(msgs)-1]
		if last.Subject != account.SubjectNewPassword {
			t.Fatalf("last mail %q", last.Subject)
		}
		pw := temporaryPasswordIn(t, last.Body)
		if h.mail.count(u.Email, subjReset) != 1 {
			t.Fatal("no reset email")
		}
		u.Password = pw
		tok := h.mustSignIn(u, account.StepEnroll)
		st := h.enrollAndVerify(u, tok)
		if st.Next != account.StepChangePassword {
			t.Fatalf("next %q", st.Next)
		}
	})

	t.Run("SSO and non-admins", func(t *testing.T) {
		h := newHarness(t)
		h.createUser("sso", userSpec{Source: store.SourceSSO})
		_, err := h.svc.ResetMFA(h.ctx, account.CLI, "sso", false)
		wantCode(t, err, errs.Conflict)
		h.user("joe")
		for _, wp := range []bool{false, true} {
			_, err = h.svc.ResetMFA(h.ctx, account.Actor{Name: "joe"}, "joe", wp)
			wantCode(t, err, errs.Forbidden)
		}
		_, err = h.svc.ResetMFA(h.ctx, account.CLI, "nobody", false)
		wantCode(t, err, errs.NotFound)
	})
}

// temporaryPasswordIn finds the "Temporary password: SECRET" line of a mail body.
func temporaryPasswordIn(t testing.TB, body string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^Temporary password: (\S+)\r?$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no temporary password line in %q", body)
	}
	return m[1]
}
