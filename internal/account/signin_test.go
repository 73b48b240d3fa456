package account_test

// SPEC §3, steps 1 (password), 2 (policy) and the step machine; §5 sessions.

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/store"
)

func TestPasswordStep(t *testing.T) {
	h := newHarness(t)
	alice := h.user("alice")

	t.Run("wrong password and unknown username answer alike", func(t *testing.T) {
		_, err1 := h.signIn("alice", "not the password at all")
		e1 := wantCode(t, err1, errs.InvalidCredentials)
		_, err2 := h.signIn("nobody-here", "not the password at all")
		e2 := wantCode(t, err2, errs.InvalidCredentials)
		if e1.Message != e2.Message {
			t.Fatalf("messages differ: %q vs %q", e1.Message, e2.Message)
		}
		h.clearPasswordFailures("alice", "nobody-here")
	})

	t.Run("empty and overlong passwords are counted failures", func(t *testing.T) {
		for _, tc := range []struct{ name, pw string }{
			{"empty", ""},
			{"257 characters", strings.Repeat("é", 257)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := h.passwordFailures("alice")
				_, err := h.signIn("alice", tc.pw)
				wantCode(t, err, errs.InvalidCredentials)
				if got := h.passwordFailures("alice"); got != before+1 {
					t.Fatalf("failures %d -> %d, want +1", before, got)
				}
			})
		}
		h.clearPasswordFailures("alice")
	})

	t.Run("username is case-insensitive", func(t *testing.T) {
		st, err := h.signIn("ALICE", goodPassword)
		mustNo(t, err)
		if st.Next != account.StepEnroll {
			t.Fatalf("next %q", st.Next)
		}
	})

	t.Run("invalid usernames are refused with the rule and change nothing", func(t *testing.T) {
		held := h.mustSignIn(alice, account.StepEnroll)
		for _, tc := range []struct{ name, username string }{
			{"empty", ""},
			{"65 characters", strings.Repeat("a", 65)},
			{"space", "al ice"},
			{"slash", "al/ice"},
			{"non-ASCII", "alicé"},
			{"newline", "alice\n"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := h.svc.SignIn(h.ctx, account.SignInRequest{Username: tc.username, Password: "whatever",
					Addr: "198.51.100.77", Token: held})
				e := wantCode(t, err, errs.Invalid)
				if !strings.Contains(e.Message, "1 to 64") {
					t.Fatalf("message %q does not state the rule", e.Message)
				}
				if n, err := h.db.CountAddressFailures(h.ctx, "198.51.100.77", start.Add(-time.Hour)); err != nil || n != 0 {
					t.Fatalf("address failures %d, %v; want 0", n, err)
				}
				if !h.alive(held) {
					t.Fatal("the sign-in held by the cookie was ended by a malformed request")
				}
			})
		}
		if n := h.passwordFailures("alice"); n != 0 {
			t.Fatalf("alice failures %d", n)
		}
	})

	t.Run("a 64-character username is valid", func(t *testing.T) {
		name := strings.Repeat("b", 63) + "@"
		_, err := h.signIn(name, "x")
		wantCode(t, err, errs.InvalidCredentials)
	})

	t.Run("disabled account is told only after a correct password", func(t *testing.T) {
		h.user("dora")
		_, err := h.svc.SetDisabled(h.ctx, account.CLI, "dora", true)
		mustNo(t, err)
		_, err = h.signIn("dora", "wrong password here")
		wantCode(t, err, errs.InvalidCredentials)
		_, err = h.signIn("dora", goodPassword)
		wantCode(t, err, errs.AccountDisabled)
		_, err = h.svc.SetDisabled(h.ctx, account.CLI, "dora", false)
		mustNo(t, err)
		_, err = h.signIn("dora", goodPassword)
		mustNo(t, err)
	})

	t.Run("SSO account answers sso_account for any password", func(t *testing.T) {
		h.createUser("sam", userSpec{Source: store.SourceSSO})
		for _, pw := range []string{"", "anything", goodPassword, strings.Repeat("x", 300)} {
			_, err := h.signIn("sam", pw)
			e := wantCode(t, err, errs.SSOAccount)
			if !strings.Contains(e.Message, "Login with the identity provider") {
				t.Fatalf("message %q", e.Message)
			}
		}
		if n := h.passwordFailures("sam"); n != 0 {
			t.Fatalf("SSO attempts counted as failures: %d", n)
		}
	})
}

func TestTemporaryPasswordExpiry(t *testing.T) {
	h := newHarness(t)
	h.setOption(options.TemporaryPasswordLifetime, "2h")
	h.setOption(options.InternalMFA, options.PolicyOff)
	u := h.createUser("tina", userSpec{Temporary: true})
	if u.Password == "" {
		t.Fatal("no temporary password")
	}
	su := h.storeUser("tina")
	if !su.PasswordTemporary || !su.PasswordExpiresAt.Equal(start.Add(2*time.Hour)) {
		t.Fatalf("stored temporary %v until %v, want until issue time + 2h", su.PasswordTemporary, su.PasswordExpiresAt)
	}
	// A later change of the lifetime does not move an issued password's expiry.
	h.setOption(options.TemporaryPasswordLifetime, "30d")

	h.clock.Advance(2*time.Hour - time.Second)
	tok := h.mustSignIn(u, account.StepChangePassword)
	mustNo(t, h.svc.SignOut(h.ctx, tok))

	h.clock.Advance(time.Second)
	_, err := h.signIn("tina", "wrong wrong wrong")
	wantCode(t, err, errs.InvalidCredentials) // a stranger learns nothing
	_, err = h.signIn("tina", u.Password)
	e := wantCode(t, err, errs.TemporaryExpired)
	if !strings.Contains(e.Message, "expired") {
		t.Fatalf("message %q does not say it expired", e.Message)
	}
}

func TestSecondFactorLockAtPasswordStep(t *testing.T) {
	h := newHarness(t)
	u := h.enrolledUser("lou")
	h.lockMFA(u)

	_, err := h.signIn("lou", "wrong password 123")
	wantCode(t, err, errs.InvalidCredentials) // only after a correct password
	_, err = h.signIn("lou", goodPassword)
	e := wantCode(t, err, errs.Locked)
	about(t, "LockedUntil", e.LockedUntil, h.clock.Now().Add(15*time.Minute))

	// Policy off: the second factor is not asked for, so its lock does not apply.
	h.setOption(options.InternalMFA, options.PolicyOff)
	h.mustSignIn(u, account.StepDone)
}

func TestPasswordLock(t *testing.T) {
	for _, tc := range []struct {
		name   string
		exists bool
	}{{"existing account", true}, {"unknown username", false}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			name := "ghost"
			if tc.exists {
				h.user(name)
			}
			for i := 1; i <= 10; i++ {
				_, err := h.svc.SignIn(h.ctx, account.SignInRequest{Username: name, Password: "bad guess " + string(rune('a'+i)),
					Addr: "203.0.113." + string(rune('0'+i%10))})
				wantCode(t, err, errs.InvalidCredentials)
			}
			// The 11th attempt is refused, even with the right password.
			_, err := h.signIn(name, goodPassword)
			e := wantCode(t, err, errs.Locked)
			about(t, "LockedUntil", e.LockedUntil, h.clock.Now().Add(15*time.Minute))
			_, err = h.signIn(strings.ToUpper(name), "bad guess")
			wantCode(t, err, errs.Locked)
			// A name with no account may be a password typed into the username box: the audit
			// records the lock without it.
			who := name
			if !tc.exists {
				who = ""
			}
			if ev := h.events(who, "password.locked"); len(ev) != 1 || ev[0].User != who || strings.Contains(ev[0].Detail, name) {
				t.Fatalf("password.locked events %+v, want one of user %q that does not name %q", ev, who, name)
			}
			if msgs := h.mail.all(); tc.exists && len(msgs) != 2 || !tc.exists && len(msgs) != 0 {
				t.Fatalf("password lock sent mail: %d messages", len(msgs))
			}

			h.clock.Advance(14*time.Minute + 58*time.Second)
			_, err = h.signIn(name, goodPassword)
			wantCode(t, err, errs.Locked)

			// After 15 minutes the count starts again: 9 failures do not lock, the 10th does.
			h.clock.Advance(3 * time.Second)
			for i := 1; i <= 10; i++ {
				_, err := h.signIn(name, "bad again")
				wantCode(t, err, errs.InvalidCredentials)
			}
			_, err = h.signIn(name, goodPassword)
			wantCode(t, err, errs.Locked)
		})
	}

	t.Run("the same message for existing and unknown usernames", func(t *testing.T) {
		h := newHarness(t)
		h.user("real")
		var msgs []string
		for _, name := range []string{"real", "fake"} {
			for i := 0; i < 10; i++ {
				h.signIn(name, "guess")
			}
			_, err := h.signIn(name, "guess")
			e := wantCode(t, err, errs.Locked)
			msgs = append(msgs, e.Message)
		}
		if msgs[0] != msgs[1] {
			t.Fatalf("lock messages differ: %q vs %q", msgs[0], msgs[1])
		}
	})

	t.Run("a correct password resets the count", func(t *testing.T) {
		h := newHarness(t)
		u := h.user("rita")
		for i := 0; i < 9; i++ {
			h.signIn("rita", "guess")
		}
		h.mustSignIn(u, account.StepEnroll)
		if n := h.passwordFailures("rita"); n != 0 {
			t.Fatalf("failures %d after success, want 0", n)
		}
		for i := 0; i < 9; i++ {
			_, err := h.signIn("rita", "guess")
			wantCode(t, err, errs.InvalidCredentials)
		}
		h.mustSignIn(u, account.StepEnroll)
	})

	t.Run("unlock clears it", func(t *testing.T) {
		h := newHarness(t)
		u := h.user("uma")
		for i := 0; i < 10; i++ {
			h.signIn("uma", "guess")
		}
		_, err := h.signIn("uma", goodPassword)
		wantCode(t, err, errs.Locked)
		v, err := h.svc.User(h.ctx, account.CLI, "uma")
		mustNo(t, err)
		if v.PasswordLockedUntil == nil {
			t.Fatal("admin view shows no password lock")
		}
		v, err = h.svc.Unlock(h.ctx, account.CLI, "uma")
		mustNo(t, err)
		if v.PasswordLockedUntil != nil {
			t.Fatal("admin view still shows a password lock")
		}
		h.mustSignIn(u, account.StepEnroll)
		if ev := h.events("uma", "user.unlocked"); len(ev) != 1 {
			t.Fatalf("%d user.unlocked events", len(ev))
		}
	})
}

func TestAddressLimit(t *testing.T) {
	from := func(h *harness, addr, name, pw string) error {
		_, err := h.svc.SignIn(h.ctx, account.SignInRequest{Username: name, Password: pw, Addr: addr})
		return err
	}
	const a, b = "198.51.100.1", "198.51.100.2"

	t.Run("limit, other address, sliding window", func(t *testing.T) {
		h := newHarness(t)
		h.setOption(options.FailedSignInsPerAddress, "3")
		h.user("ann")
		// Failures at +0s, +10s and +30s.
		wantCode(t, from(h, a, "ann", "wrong"), errs.InvalidCredentials)
		h.clock.Advance(10 * time.Second)
		wantCode(t, from(h, a, "x1", "wrong"), errs.InvalidCredentials)
		h.clock.Advance(20 * time.Second)
		wantCode(t, from(h, a, "x2", "wrong"), errs.InvalidCredentials)
		// Refused, even with a right password.
		e := wantCode(t, from(h, a, "ann", goodPassword), errs.RateLimited)
		if e.RetryAfter <= 0 {
			t.Fatal("no Retry-After")
		}
		if n := h.passwordFailures("ann"); n != 1 {
			t.Fatalf("a refused attempt was counted against the username: %d failures", n)
		}
		// Another address is not affected.
		mustNo(t, from(h, b, "ann", goodPassword))
		h.clock.Advance(29 * time.Second) // +59s: all three within the last 60 s
		wantCode(t, from(h, a, "ann", goodPassword), errs.RateLimited)
		h.clock.Advance(time.Second) // +60s: the failure at +0 has left the window
		mustNo(t, from(h, a, "ann", goodPassword))
		wantCode(t, from(h, a, "x3", "wrong"), errs.InvalidCredentials) // +10, +30, +60
		wantCode(t, from(h, a, "ann", goodPassword), errs.RateLimited)
		h.clock.Advance(30 * time.Second) // +90s: only +60 is left
		mustNo(t, from(h, a, "ann", goodPassword))
	})

	t.Run("successes do not count", func(t *testing.T) {
		h := newHarness(t)
		h.setOption(options.FailedSignInsPerAddress, "3")
		h.user("ben")
		for i := 0; i < 10; i++ {
			mustNo(t, from(h, a, "ben", goodPassword))
		}
		for i := 0; i < 3; i++ {
			wantCode(t, from(h, a, "ben", "wrong"), errs.InvalidCredentials)
		}
		wantCode(t, from(h, a, "ben", goodPassword), errs.RateLimited)
	})

	t.Run("0 turns it off", func(t *testing.T) {
		h := newHarness(t)
		h.setOption(options.FailedSignInsPerAddress, "0")
		h.user("cat")
		for i := 0; i < 9; i++ {
			wantCode(t, from(h, a, "cat", "wrong"), errs.InvalidCredentials)
		}
		for i := 0; i < 5; i++ {
			wantCode(t, from(h, a, "other"+string(rune('a'+i)), "wrong"), errs.InvalidCredentials)
		}
		mustNo(t, from(h, a, "cat", goodPassword))
	})
}

func TestNextStep(t *testing.T) {
	t.Run("policies", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			internal string
			external string
			spec     userSpec
			enrolled bool
			want     string
		}{
			{"required, not enrolled", options.PolicyRequired, "", userSpec{}, false, account.StepEnroll},
			{"optional, not enrolled", options.PolicyOptional, "", userSpec{}, false, account.StepEnrollOptional},
			{"off", options.PolicyOff, "", userSpec{}, false, account.StepDone},
			{"off, temporary password", options.PolicyOff, "", userSpec{Temporary: true}, false, account.StepChangePassword},
			{"enrolled, optional", options.PolicyOptional, "", userSpec{}, true, account.StepVerify},
			{"enrolled, required", options.PolicyRequired, "", userSpec{}, true, account.StepVerify},
			{"enrolled, off", options.PolicyOff, "", userSpec{}, true, account.StepDone},
			{"external follows externalMFA", options.PolicyOff, options.PolicyRequired, userSpec{Kind: store.KindExternal}, false, account.StepEnroll},
			{"external default optional", options.PolicyRequired, "", userSpec{Kind: store.KindExternal}, false, account.StepEnrollOptional},
			{"external off", options.PolicyRequired, options.PolicyOff, userSpec{Kind: store.KindExternal}, false, account.StepDone},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h := newHarness(t)
				var u *testUser
				if tc.enrolled {
					u = h.enrolledUser("eve")
				} else {
					u = h.createUser("eve", tc.spec)
				}
				h.setOption(options.InternalMFA, tc.internal)
				if tc.external != "" {
					h.setOption(options.ExternalMFA, tc.external)
				}
				tok := h.mustSignIn(u, tc.want)
				if got := h.state(tok); got != tc.want {
					t.Fatalf("State %q, want %q", got, tc.want)
				}
			})
		}
	})

	t.Run("optional: skip moves on and is offered again", func(t *testing.T) {
		h := newHarness(t)
		h.setOption(options.InternalMFA, options.PolicyOptional)
		u := h.user("olga")
		tok := h.mustSignIn(u, account.StepEnrollOptional)
		st, err := h.svc.SkipEnroll(h.ctx, tok)
		mustNo(t, err)
		if st.Next != account.StepDone || st.Token == tok {
			t.Fatalf("skip: next %q, new token %v", st.Next, st.Token != tok)
		}
		h.principal(st.Token)
		h.mustSignIn(u, account.StepEnrollOptional)
	})

	t.Run("required: skip refused", func(t *testing.T) {
		h := newHarness(t)
		u := h.user("rex")
		tok := h.mustSignIn(u, account.StepEnroll)
		_, err := h.svc.SkipEnroll(h.ctx, tok)
		wantConflict(t, err, account.StepEnroll)
	})

	t.Run("temporary password: new password after MFA", func(t *testing.T) {
		h := newHarness(t)
		u := h.createUser("tom", userSpec{Temporary: true})
		tok := h.mustSignIn(u, account.StepEnroll)
		st := h.enrollAndVerify(u, tok)
		if st.Next != account.StepChangePassword {
			t.Fatalf("after enrolment: %q", st.Next)
		}
		if _, err := h.svc.Authenticate(h.ctx, st.Token); errs.Code(err) != errs.NotSignedIn {
			t.Fatalf("a sign-in waiting for a new password authenticates: %v", err)
		}
		st2, err := h.svc.ChangeTemporaryPassword(h.ctx, st.Token, "a brand new passphrase")
		mustNo(t, err)
		if st2.Next != account.StepDone {
			t.Fatalf("after new password: %q", st2.Next)
		}
		h.principal(st2.Token)
		if su := h.storeUser("tom"); su.PasswordTemporary || !su.PasswordExpiresAt.IsZero() {
			t.Fatal("password still temporary")
		}
	})

	t.Run("an option change reaches an unfinished sign-in", func(t *testing.T) {
		h := newHarness(t)
		temp := h.createUser("tess", userSpec{Temporary: true})
		perm := h.user("pete")
		tokTemp := h.mustSignIn(temp, account.StepEnroll)
		tokPerm := h.mustSignIn(perm, account.StepEnroll)
		h.setOption(options.InternalMFA, options.PolicyOff)
		if got := h.state(tokTemp); got != account.StepChangePassword {
			t.Fatalf("temporary: %q, want change_password", got)
		}
		if got := h.state(tokPerm); got != account.StepDone {
			t.Fatalf("permanent: %q, want done", got)
		}
		_, err := h.svc.Enroll(h.ctx, tokTemp)
		wantConflict(t, err, account.StepChangePassword)
		st, err := h.svc.ChangeTemporaryPassword(h.ctx, tokTemp, "a brand new passphrase")
		mustNo(t, err)
		if st.Next != account.StepDone {
			t.Fatalf("%q", st.Next)
		}
		// And back: required again reaches a sign-in that was at change_password.
		h.setOption(options.InternalMFA, options.PolicyRequired)
		temp2 := h.createUser("tara", userSpec{Temporary: true})
		h.setOption(options.InternalMFA, options.PolicyOff)
		tok := h.mustSignIn(temp2, account.StepChangePassword)
		h.setOption(options.InternalMFA, options.PolicyRequired)
		if got := h.state(tok); got != account.StepEnroll {
			t.Fatalf("after required again: %q", got)
		}
		_, err = h.svc.ChangeTemporaryPassword(h.ctx, tok, "a brand new passphrase")
		wantConflict(t, err, account.StepEnroll)
	})

	t.Run("a sign-in whose next step became done can finish", func(t *testing.T) {
		h := newHarness(t)
		perm := h.user("pete")
		tok := h.mustSignIn(perm, account.StepEnroll)
		h.setOption(options.InternalMFA, options.PolicyOff)
		h.principal(tok)
	})

	t.Run("finished sessions are not affected", func(t *testing.T) {
		h := newHarness(t)
		h.setOption(options.InternalMFA, options.PolicyOff)
		u := h.user("finn")
		tok := h.mustSignIn(u, account.StepDone)
		h.setOption(options.InternalMFA, options.PolicyRequired)
		if got := h.state(tok); got != account.StepDone {
			t.Fatalf("finished session now at %q", got)
		}
		h.principal(tok)
		// New sign-ins do meet the policy.
		h.mustSignIn(u, account.StepEnroll)
	})
}

func TestWrongStep(t *testing.T) {
	h := newHarness(t)
	h.setOption(options.InternalMFA, options.PolicyRequired)

	enrolled := h.enrolledUser("ed")
	fresh := h.createUser("fay", userSpec{Temporary: true})
	tokFresh := h.mustSignIn(fresh, account.StepEnroll)
	tokEnrolled := h.mustSignIn(enrolled, account.StepVerify)
	session := h.session(enrolled)
	before := map[string]*store.User{"ed": h.storeUser("ed"), "fay": h.storeUser("fay")}

	for _, tc := range []struct {
		name string
		tok  *string
		call func(tok string) error
		want string
	}{
		{"verify enrolment before enrolment", &tokFresh, func(tok string) error {
			_, err := h.svc.VerifyEnroll(h.ctx, tok, "123456")
			return err
		}, account.StepEnroll},
		{"verify while at mfa_enroll", &tokFresh, func(tok string) error {
			_, err := h.svc.Verify(h.ctx, tok, "123456", "")
			return err
		}, account.StepEnroll},
		{"new password while at mfa_enroll", &tokFresh, func(tok string) error {
			_, err := h.svc.ChangeTemporaryPassword(h.ctx, tok, "a brand new passphrase")
			return err
		}, account.StepEnroll},
		{"new password at mfa_verify", &tokEnrolled, func(tok string) error {
			_, err := h.svc.ChangeTemporaryPassword(h.ctx, tok, "a brand new passphrase")
			return err
		}, account.StepVerify},
		{"enrol at mfa_verify", &tokEnrolled, func(tok string) error {
			_, err := h.svc.Enroll(h.ctx, tok)
			return err
		}, account.StepVerify},
		{"verify enrolment at mfa_verify", &tokEnrolled, func(tok string) error {
			_, err := h.svc.VerifyEnroll(h.ctx, tok, "123456")
			return err
		}, account.StepVerify},
		{"skip at mfa_verify", &tokEnrolled, func(tok string) error {
			_, err := h.svc.SkipEnroll(h.ctx, tok)
			return err
		}, account.StepVerify},
		{"verify on a finished session", &session, func(tok string) error {
			_, err := h.svc.Verify(h.ctx, tok, h.codeAt(enrolled.Key, 1), "")
			return err
		}, account.StepDone},
		{"enrol on a finished session", &session, func(tok string) error {
			_, err := h.svc.Enroll(h.ctx, tok)
			return err
		}, account.StepDone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stateBefore := h.state(*tc.tok)
			wantConflict(t, tc.call(*tc.tok), tc.want)
			if got := h.state(*tc.tok); got != stateBefore {
				t.Fatalf("state moved %q -> %q", stateBefore, got)
			}
		})
	}
	for name, b := range before {
		a := h.storeUser(name)
		if a.MFAFailures != b.MFAFailures || a.TOTPLastStep != b.TOTPLastStep || a.PasswordHash != b.PasswordHash ||
			string(a.TOTPKey) != string(b.TOTPKey) {
			t.Fatalf("%s changed by refused requests", name)
		}
	}
	// Enroll at the wrong step made no pending key either: the sign-in still has none.
	_, err := h.svc.VerifyEnroll(h.ctx, tokFresh, "123456")
	wantConflict(t, err, account.StepEnroll)
}

func TestSessionIDs(t *testing.T) {
	h := newHarness(t)
	u := h.createUser("ivy", userSpec{Temporary: true})

	t.Run("the id changes at every step and the old one stops working", func(t *testing.T) {
		t1 := h.mustSignIn(u, account.StepEnroll)
		h.enroll(t1) // showing the key is not a step
		if !h.alive(t1) {
			t.Fatal("Enroll ended the sign-in")
		}
		st := h.enrollAndVerify(u, t1)
		t2 := st.Token
		if t2 == "" || t2 == t1 || h.alive(t1) {
			t.Fatalf("enrolment: new token %v, old alive %v", t2 != t1, h.alive(t1))
		}
		st, err := h.svc.ChangeTemporaryPassword(h.ctx, t2, "a brand new passphrase")
		mustNo(t, err)
		t3 := st.Token
		if t3 == t2 || h.alive(t2) {
			t.Fatal("new password step kept the id")
		}
		h.principal(t3)
		u.Password = "a brand new passphrase"

		h.clock.Advance(30 * time.Second)
		t4 := h.mustSignIn(u, account.StepVerify)
		st, err = h.svc.Verify(h.ctx, t4, h.codeAt(u.Key, 0), "")
		mustNo(t, err)
		if st.Token == t4 || h.alive(t4) {
			t.Fatal("verify step kept the id")
		}
	})

	t.Run("a new sign-in replaces what the cookie held", func(t *testing.T) {
		sess := h.session(u)
		h.user("jon")
		st, err := h.svc.SignIn(h.ctx, account.SignInRequest{Username: "jon", Password: goodPassword, Token: sess})
		mustNo(t, err)
		if h.alive(sess) {
			t.Fatal("the session the cookie held survived a new sign-in")
		}
		st2, err := h.svc.SignIn(h.ctx, account.SignInRequest{Username: "jon", Password: goodPassword, Token: st.Token})
		mustNo(t, err)
		if h.alive(st.Token) || !h.alive(st2.Token) {
			t.Fatal("the unfinished sign-in the cookie held survived a new sign-in")
		}
	})

	t.Run("sign out ends the session", func(t *testing.T) {
		sess := h.session(u)
		h.principal(sess)
		mustNo(t, h.svc.SignOut(h.ctx, sess))
		if _, err := h.svc.Authenticate(h.ctx, sess); errs.Code(err) != errs.NotSignedIn {
			t.Fatalf("after sign-out: %v", err)
		}
		mustNo(t, h.svc.SignOut(h.ctx, "junk"))
	})

	t.Run("an unfinished sign-in is no session", func(t *testing.T) {
		h.clock.Advance(30 * time.Second)
		tok := h.mustSignIn(u, account.StepVerify)
		_, err := h.svc.Authenticate(h.ctx, tok)
		wantCode(t, err, errs.NotSignedIn)
	})

	t.Run("sign-ins expire after 10 minutes", func(t *testing.T) {
		h.clock.Advance(30 * time.Second)
		tok := h.mustSignIn(u, account.StepVerify)
		h.clock.Advance(10 * time.Minute)
		if !h.alive(tok) {
			t.Fatal("expired at exactly 10 minutes")
		}
		before, err := h.db.User(h.ctx, u.ID)
		mustNo(t, err)
		h.clock.Advance(time.Second)
		_, err = h.svc.Verify(h.ctx, tok, h.codeAt(u.Key, 0), "")
		wantCode(t, err, errs.NotSignedIn)
		// The expired sign-in is removed, and the code was neither checked nor counted.
		sum := sha256.Sum256([]byte(tok))
		if _, err := h.db.Session(h.ctx, sum[:]); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the expired sign-in is still stored: %v", err)
		}
		after, err := h.db.User(h.ctx, u.ID)
		mustNo(t, err)
		if after.MFAFailures != before.MFAFailures || after.TOTPLastStep != before.TOTPLastStep {
			t.Fatalf("the refused code changed the account: failures %d to %d, last step %d to %d",
				before.MFAFailures, after.MFAFailures, before.TOTPLastStep, after.TOTPLastStep)
		}
	})

	t.Run("sessions expire after 30 minutes idle", func(t *testing.T) {
		sess := h.session(u)
		for i := 0; i < 4; i++ { // used every 29 minutes: stays
			h.clock.Advance(29 * time.Minute)
			h.principal(sess)
		}
		h.clock.Advance(30*time.Minute + time.Second)
		_, err := h.svc.Authenticate(h.ctx, sess)
		wantCode(t, err, errs.NotSignedIn)
	})

	t.Run("sessions end 12 hours after sign-in however busy", func(t *testing.T) {
		sess := h.session(u)
		signedIn := h.clock.Now()
		for h.clock.Now().Sub(signedIn) < 12*time.Hour-20*time.Minute {
			h.clock.Advance(20 * time.Minute)
			h.principal(sess)
		}
		h.clock.Advance(12*time.Hour - h.clock.Now().Sub(signedIn))
		h.principal(sess) // at exactly 12 hours it still works
		h.clock.Advance(time.Second)
		_, err := h.svc.Authenticate(h.ctx, sess)
		wantCode(t, err, errs.NotSignedIn)
	})
}

func TestPasswordLockConcurrent(t *testing.T) {
	// Guesses that were in flight when the lock began must not get past it: of many wrong
	// passwords sent at once, only the first ten counted are answered 401, and the lock lasts
	// 15 minutes from when it began.
	const n = 40
	h := newHarness(t)
	h.setOption(options.FailedSignInsPerAddress, "0")
	h.user("pat")
	got := race(n, func(i int) error {
		_, err := h.signIn("pat", "wrong guess number "+string(rune('A'+i)))
		return err
	})
	c := tally(got)
	if c[errs.InvalidCredentials] != 10 || c[errs.Locked] != n-10 {
		t.Fatalf("results %v, want 10 invalid_credentials and %d locked", c, n-10)
	}
	if ev := h.events("pat", "password.locked"); len(ev) != 1 {
		t.Fatalf("%d password.locked events, want 1", len(ev))
	}
	h.clock.Advance(15*time.Minute + time.Second)
	h.mustSignIn(&testUser{Name: "pat", Password: goodPassword}, account.StepEnroll)
}
