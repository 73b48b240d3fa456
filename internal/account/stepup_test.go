package account_test

import (
	"errors"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/options"
)

// TestStepUpTimesFromItsStart: a step-up turns a session back into a sign-in in progress, and
// that sign-in's 10 minutes count from the step-up, not from the password step hours before:
// a session older than 10 minutes can still prove a second factor, and an abandoned step-up
// ends 10 minutes after it began.
func TestStepUpTimesFromItsStart(t *testing.T) {
	h := newHarness(t)
	h.setOption(options.MFARememberDevice, "30d")
	u := h.enrolledUser("alice")
	dev := h.remember(u)

	// A session without a second factor (from a remembered device), used for 25 minutes, then
	// left alone for 9.
	session := func() string {
		t.Helper()
		st, err := h.signInOn(u, u.Password, dev, false)
		if err != nil || st.Next != account.StepDone {
			t.Fatalf("SignIn from a remembered device = %+v, %v; want done", st, err)
		}
		for range 5 {
			h.clock.Advance(5 * time.Minute)
			h.principal(st.Token)
		}
		h.clock.Advance(9 * time.Minute)
		return st.Token
	}

	t.Run("finished", func(t *testing.T) {
		up, err := h.svc.StepUp(h.ctx, session(), "/oidc/continue?id=x")
		if err != nil || up.Next != account.StepVerify {
			t.Fatalf("StepUp = %+v, %v; want verify", up, err)
		}
		h.clock.Advance(5 * time.Minute)
		done, err := h.svc.Verify(h.ctx, up.Token, h.codeAt(u.Key, 0), "")
		if err != nil || done.Next != account.StepDone {
			t.Fatalf("Verify 5 minutes into a step-up of a 34-minute-old session = %+v, %v; want done", done, err)
		}
		si, err := h.svc.SignedIn(h.ctx, done.Token)
		if err != nil || !si.SecondFactor() {
			t.Fatalf("after the step-up: %+v, %v; want a session with a second factor", si, err)
		}
	})

	t.Run("abandoned", func(t *testing.T) {
		up, err := h.svc.StepUp(h.ctx, session(), "/oidc/continue?id=x")
		if err != nil || up.Next != account.StepVerify {
			t.Fatalf("StepUp = %+v, %v; want verify", up, err)
		}
		h.clock.Advance(10 * time.Minute)
		if !h.alive(up.Token) {
			t.Fatal("a step-up ended at exactly 10 minutes")
		}
		h.clock.Advance(time.Second)
		_, err = h.svc.Verify(h.ctx, up.Token, h.codeAt(u.Key, 0), "")
		wantCode(t, err, errs.NotSignedIn)
	})

	// SPEC §5: a session ends 12 hours after its sign-in however busy; a step-up 5 minutes
	// before that does not carry it past them.
	t.Run("at the 12 hours", func(t *testing.T) {
		st, err := h.signInOn(u, u.Password, dev, false)
		if err != nil || st.Next != account.StepDone {
			t.Fatalf("SignIn from a remembered device = %+v, %v; want done", st, err)
		}
		for range 143 { // used every 5 minutes for 11 hours 55 minutes
			h.clock.Advance(5 * time.Minute)
			h.principal(st.Token)
		}
		up, err := h.svc.StepUp(h.ctx, st.Token, "/oidc/continue?id=x")
		if err != nil || up.Next != account.StepVerify {
			t.Fatalf("StepUp = %+v, %v; want verify", up, err)
		}
		h.clock.Advance(5*time.Minute + time.Second)
		_, err = h.svc.Verify(h.ctx, up.Token, h.codeAt(u.Key, 0), "")
		wantCode(t, err, errs.NotSignedIn)
	})
}

// TestSignInStepsDoNotExtendIt: the steps of a sign-in in progress do not move its start, so
// it ends 10 minutes after the password step however many steps it took.
func TestSignInStepsDoNotExtendIt(t *testing.T) {
	h := newHarness(t)
	u := h.createUser("newcomer", userSpec{Temporary: true})
	tok := h.mustSignIn(u, account.StepEnroll)
	h.clock.Advance(9 * time.Minute)
	st := h.enrollAndVerify(u, tok)
	if st.Next != account.StepChangePassword {
		t.Fatalf("after enrolment: next %q, want the new password", st.Next)
	}
	h.clock.Advance(time.Minute)
	if !h.alive(st.Token) {
		t.Fatal("the sign-in ended at exactly 10 minutes")
	}
	h.clock.Advance(time.Second)
	if h.alive(st.Token) {
		t.Fatal("a step 9 minutes in kept the sign-in alive past its 10 minutes")
	}
}

// TestStepUpToEnrolmentAsksThePassword: a session of an account with no second factor, sent to
// prove one (an application needs it), is not turned into an enrolment: adding a second factor
// needs the password (SPEC §4, §9), which whoever holds the session cookie may not know. The
// step-up answers ErrPasswordFirst and leaves the session as it was; a new sign-in for such an
// application, with the password, enrols without "Skip for now".
func TestStepUpToEnrolmentAsksThePassword(t *testing.T) {
	for _, policy := range []string{options.PolicyOff, options.PolicyOptional} {
		t.Run(policy, func(t *testing.T) {
			h := newHarness(t)
			h.setOption(options.InternalMFA, policy)
			u := h.user("nell")
			tok := h.mustSignIn(u, map[string]string{options.PolicyOff: account.StepDone,
				options.PolicyOptional: account.StepEnrollOptional}[policy])
			if policy == options.PolicyOptional {
				st, err := h.svc.SkipEnroll(h.ctx, tok)
				if err != nil || st.Next != account.StepDone {
					t.Fatalf("SkipEnroll = %+v, %v; want done", st, err)
				}
				tok = st.Token
			}

			if _, err := h.svc.StepUp(h.ctx, tok, "/oidc/continue?id=x"); !errors.Is(err, account.ErrPasswordFirst) {
				t.Fatalf("StepUp of an account with no second factor: %v, want ErrPasswordFirst", err)
			}
			if st := h.state(tok); st != account.StepDone {
				t.Errorf("after the refused step-up the session is %q, want done as it was", st)
			}
			if _, err := h.svc.Enroll(h.ctx, tok); err == nil {
				t.Error("the session could enrol a second factor without the password")
			}
			if _, err := h.svc.BeginKeyEnroll(h.ctx, tok); err == nil {
				t.Error("the session could register a security key without the password")
			}

			st, err := h.signInOn(u, u.Password, "", true)
			if err != nil || st.Next != account.StepEnroll {
				t.Fatalf("a sign-in with the password for an application that needs a second factor = %+v, %v; want %s",
					st, err, account.StepEnroll)
			}
		})
	}
}
