package account_test

import (
	"strings"
	"testing"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/store"
)

// TestSignInRacingAPasswordChange: a sign-in with the old password that was already being
// checked when the password changed (by its owner, or an MFA reset that voids it) or went (a
// link to the identity provider) makes no session: the password it checked is no longer the
// account's (SPEC §5: a password change ends the account's other sessions; §3: --with-password
// voids the password; §1: an SSO account has no password here). The change commits
// while the sign-in is between its read of the account and its session.
func TestSignInRacingAPasswordChange(t *testing.T) {
	for name, tc := range map[string]struct {
		change func(h *harness, u *testUser) error
		want   string
	}{
		"the owner's new password": {func(h *harness, u *testUser) error {
			_, err := h.svc.ChangePassword(h.ctx, h.principal(h.mustSignIn(u, account.StepDone)), u.Password, "a whole new passphrase 42", "192.0.2.9")
			return err
		}, errs.InvalidCredentials},
		"an MFA reset with the password": {func(h *harness, u *testUser) error {
			_, err := h.svc.ResetMFA(h.ctx, account.CLI, u.Name, true)
			return err
		}, errs.InvalidCredentials},
		"an administrator's new temporary password": {func(h *harness, u *testUser) error {
			_, err := h.svc.ResetPassword(h.ctx, account.CLI, u.Name)
			return err
		}, errs.InvalidCredentials},
		"a link to the identity provider": {func(h *harness, u *testUser) error {
			_, err := h.svc.LinkSSO(h.ctx, account.CLI, u.Name)
			return err
		}, errs.InvalidCredentials},
		// SPEC §5: disabling an account ends all its sessions, one being made included.
		"the account disabled": {func(h *harness, u *testUser) error {
			_, err := h.svc.SetDisabled(h.ctx, account.CLI, u.Name, true)
			return err
		}, errs.AccountDisabled},
	} {
		change := tc.change
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.setOption(options.InternalMFA, options.PolicyOff)
			u := h.user("vic")
			st := &hookedStore{Store: h.db, hook: func() {
				if err := change(h, u); err != nil {
					t.Error(err)
				}
			}}
			_, err := h.serviceOn(st, nil).SignIn(h.ctx, account.SignInRequest{Username: u.Name, Password: u.Password, Addr: "192.0.2.1"})
			wantCode(t, err, tc.want) // and so no session: it would be made in the refused transaction
		})
	}
}

// TestSSOSignInRacingADisable: an SSO sign-in that read the account just before an
// administrator disabled it makes no session, which would otherwise outlive the disabling and
// work again once the account is enabled (SPEC §5: disabling an account ends all its sessions).
func TestSSOSignInRacingADisable(t *testing.T) {
	h := newHarness(t)
	u := h.createUser("sid", userSpec{Source: store.SourceSSO})
	st := &hookedStore{Store: h.db, hook: func() {
		if _, err := h.svc.SetDisabled(h.ctx, account.CLI, u.Name, true); err != nil {
			t.Error(err)
		}
	}}
	_, err := h.serviceOn(st, nil).SignInSSO(h.ctx, account.SSOSignInRequest{Identity: account.SSOIdentity{
		Username: u.Name, Claim: "preferred_username", Issuer: "https://idp.example.org", Subject: "s-sid"}})
	wantCode(t, err, errs.AccountDisabled)
	if ev := h.events(u.Name, account.ActionSignInSSORefused); len(ev) != 1 || !strings.HasPrefix(ev[0].Detail, "account disabled; ") {
		t.Errorf("refusal audited as %+v", ev)
	}
}
