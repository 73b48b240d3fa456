package account_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/store/storetest"
	"github.com/twofold-auth/twofold/internal/webauthntest"
)

// TestNothingAddedByAnEndedSession: a request that read its session before a change of the
// account's standing (a reset second factor, disabling, a new password) ended it, and does its
// work after, adds nothing: no security key, no backup codes (SPEC §3, §5, §9). The change
// commits between the request's reading of its session and its transaction, as it would on
// another instance.
func TestNothingAddedByAnEndedSession(t *testing.T) {
	for _, change := range []string{"reset", "disable", "password"} {
		t.Run(change, func(t *testing.T) {
			h := newHarness(t)
			u := h.enrolledUser("kim")
			tok := h.session(u)
			p := h.principal(tok)
			opts, err := h.svc.BeginKeyRegister(h.ctx, p, "k1", u.Password, "192.0.2.1")
			mustNo(t, err)
			begin, _ := json.Marshal(opts)
			k, err := webauthntest.New("https://twofold.example.org")
			mustNo(t, err)
			cred, err := k.Create(begin)
			mustNo(t, err)
			switch change {
			case "reset":
				_, err = h.svc.ResetMFA(h.ctx, account.CLI, "kim", false)
			case "disable":
				_, err = h.svc.SetDisabled(h.ctx, account.CLI, "kim", true)
			case "password":
				_, err = h.svc.ChangePassword(h.ctx, h.principal(h.session(u)), u.Password, "another fine password 77", "192.0.2.9")
			}
			mustNo(t, err)

			reg, err := h.svc.FinishKeyRegister(h.ctx, p, cred)
			wantCode(t, err, errs.NotSignedIn)
			if reg != nil || h.storeUser("kim").SecurityKey {
				t.Errorf("the ended session registered a key (%v)", reg)
			}
			if change == "password" { // the account's own authenticator still works
				h.clock.Advance(30 * time.Second)
				if codes, err := h.svc.RegenerateBackupCodes(h.ctx, p, h.codeAt(u.Key, 0)); err == nil || len(codes) > 0 {
					t.Errorf("the ended session made %d new backup codes (%v)", len(codes), err)
				}
			}
		})
	}
}

// TestSignInFinishedOnce: a sign-in that an option change left with nothing to do is finished
// by the first request that finds it so; a second that read it unfinished too finds it done,
// and the sign-in is audited once.
func TestSignInFinishedOnce(t *testing.T) {
	h := newHarness(t)
	h.setOption(options.InternalMFA, options.PolicyOptional)
	u := h.user("fin")
	tok := h.mustSignIn(u, account.StepEnrollOptional)
	h.setOption(options.InternalMFA, options.PolicyOff) // nothing left to do
	st := &storetest.Before{Store: h.db}
	st.Arm(func() {
		if _, err := h.svc.Authenticate(h.ctx, tok); err != nil {
			t.Errorf("the first request: %v", err)
		}
	})
	if _, err := h.serviceOn(st, nil).Authenticate(h.ctx, tok); err != nil {
		t.Fatalf("the second request: %v", err)
	}
	if n := len(h.events("fin", "signin")); n != 1 {
		t.Errorf("the sign-in was audited %d times, want once", n)
	}
}
