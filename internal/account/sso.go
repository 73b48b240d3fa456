package account

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twofold-auth/twofold/internal/backupcode"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/mail"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/store"
)

// SSOIdentity is who the organisation's identity provider says signed in (package sso checked
// the provider's answer; this package decides what the person may do).
type SSOIdentity struct {
	// Username is the value of the configured claim, not yet normalised.
	Username string
	// Claim names the claim Username came from, for messages.
	Claim string
	// Email is set only when the provider verified it.
	Email string
	Name  string
	// Issuer and Subject identify the person at the provider, for the audit trail.
	Issuer  string
	Subject string
	// AMR is what the provider reported of how the person proved who they are (its amr
	// claim), kept on the session for applications (SPEC §7).
	AMR []string
}

// SSOSignInRequest is a sign-in through the identity provider that package sso verified.
type SSOSignInRequest struct {
	Identity SSOIdentity
	// Addr is the client address, for the audit trail.
	Addr string
	// Token is the cookie the client held, if any: a new sign-in replaces it.
	Token string
	// ReturnTo is where to go once signed in; see ReturnTarget.
	ReturnTo string
}

// Actions of the audit trail for sign-ins through the identity provider.
const (
	ActionSignInSSO        = "signin.sso"
	ActionSignInSSORefused = "signin.sso.refused"
	ActionSSOLinked        = "user.sso_linked"
)

// SignInSSO finishes a sign-in through the identity provider (SPEC §1). An account whose source
// is sso gets a finished session at once: no password and no MFA here, the provider vouches for
// the person. A local account is refused (an admin links it first, see LinkSSO), so that a
// provider account that happens to bear a local username cannot take that account over. An
// unknown username is refused unless the option ssoCreateAccounts lets it be created as an
// internal SSO user. Every outcome is audited.
func (s *Service) SignInSSO(ctx context.Context, r SSOSignInRequest) (Step, error) {
	id := r.Identity
	detail := ssoDetail(id, r.Addr)
	if err := s.SignOut(ctx, r.Token); err != nil { // a new sign-in replaces what the cookie held, refused or not
		return Step{}, err
	}
	username, err := NormalizeUsername(id.Username)
	if err != nil {
		shown := clip(id.Username, 64)
		if aerr := s.audit(ctx, s.store, "sso", "", ActionSignInSSORefused,
			fmt.Sprintf("invalid username %q; %s", shown, detail)); aerr != nil {
			return Step{}, aerr
		}
		return Step{}, errs.E(errs.Forbidden,
			"The identity provider names you %q (claim %s), which is not a valid username here: 1 to 64 letters, digits, '.', '_', '-' and '@'. Ask your administrator.",
			shown, id.Claim)
	}
	o, err := s.opts.Get(ctx)
	if err != nil {
		return Step{}, err
	}
	u, err := s.store.UserByName(ctx, username)
	created := false
	switch {
	case errors.Is(err, store.ErrNotFound):
		if o.Get(options.SSOCreateAccounts) != "yes" {
			return Step{}, s.refuseSSO(ctx, username, "no such account; "+detail,
				errs.E(errs.Forbidden, "There is no account %q here that signs in through the identity provider. Ask your administrator to create one.", username))
		}
		// The claims become the account's name and email: text from people, refused like
		// any other with control characters (SPEC §5), before anything is stored.
		if err := checkText("name the identity provider gives you", id.Name); err != nil {
			return Step{}, s.refuseSSO(ctx, username, "name claim with control characters; "+detail,
				ssoClaimRefused(err))
		}
		if err := checkText("email the identity provider gives you", id.Email); err != nil {
			return Step{}, s.refuseSSO(ctx, username, "email claim with control characters; "+detail,
				ssoClaimRefused(err))
		}
		if u, err = s.createSSOUser(ctx, username, id, detail); err != nil {
			return Step{}, err
		}
		created = true
	case err != nil:
		return Step{}, err
	}
	token, hash, err := s.newToken()
	if err != nil {
		return Step{}, err
	}
	sess, err := s.newSession(hash, u, ssoAMR(id.AMR))
	if err != nil {
		return Step{}, err
	}
	sess.Done = true
	var refused string
	err = s.store.Update(ctx, func(q store.Queries) error {
		// The account as it is now, locked, as the password step reads it: disabling either
		// committed before this transaction, and is seen here, or waits for it and then ends
		// the session made here.
		cur, err := q.User(ctx, u.ID)
		if err != nil {
			return err
		}
		switch {
		case cur.Source != store.SourceSSO:
			refused = "local account, not linked"
			return errs.E(errs.Forbidden, "The account %q signs in with a password here, not through the identity provider. Sign in with your password, or ask your administrator to link the account to the identity provider.", username)
		case cur.Disabled:
			refused = "account disabled"
			return errs.E(errs.AccountDisabled, "This account is disabled. Contact your administrator.")
		}
		if err := q.CreateSession(ctx, sess); err != nil {
			return err
		}
		return s.audit(ctx, q, u.Username, u.Username, ActionSignInSSO, detail)
	})
	if refused != "" {
		return Step{}, s.refuseSSO(ctx, username, refused+"; "+detail, err)
	}
	if err != nil {
		return Step{}, err
	}
	if created && u.Email != "" {
		if err := s.sendPasswordGenerated(ctx, u); err != nil {
			// The account and session are committed; the welcome mail is a courtesy.
			s.log.ErrorContext(ctx, "mail not sent", "user", u.Username, "subject", SubjectPasswordGenerated, "err", err)
		}
	}
	return finished(Step{Next: StepDone, Token: token}, s.ReturnTarget(r.ReturnTo)), nil
}

// refuseSSO audits a refused sign-in through the identity provider and answers refusal.
func (s *Service) refuseSSO(ctx context.Context, username, detail string, refusal error) error {
	if err := s.audit(ctx, s.store, "sso", username, ActionSignInSSORefused, detail); err != nil {
		return err
	}
	return refusal
}

// createSSOUser makes the internal SSO account of a first sign-in (ssoCreateAccounts=yes). Two
// first sign-ins at once both end with the one account.
func (s *Service) createSSOUser(ctx context.Context, username string, id SSOIdentity, detail string) (*store.User, error) {
	salt, err := backupcode.NewSalt(s.rand)
	if err != nil {
		return nil, err
	}
	u := &store.User{Username: username, Email: ssoEmail(id.Email), Name: clip(strings.TrimSpace(id.Name), 128),
		Kind: store.KindInternal, Source: store.SourceSSO, Role: store.RoleUser, BackupSalt: salt, CreatedAt: s.now()}
	err = s.store.Update(ctx, func(q store.Queries) error {
		if err := q.CreateUser(ctx, u); err != nil {
			return err
		}
		return s.audit(ctx, q, "sso", u.Username, "user.created",
			"kind internal, source sso, role user; made at the first sign-in through the identity provider (ssoCreateAccounts); "+detail)
	})
	if errors.Is(err, store.ErrConflict) {
		return s.store.UserByName(ctx, username)
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

// LinkSSO turns a local account into one that signs in through the identity provider: its
// password, second factor, backup codes, locks and sessions are removed, and the account is
// told by email. This is how an admin lets a local account be entered through SSO; there is
// no way back but a new account, so that a linked account never keeps a forgotten password.
func (s *Service) LinkSSO(ctx context.Context, a Actor, username string) (*UserView, error) {
	u, err := s.change(ctx, a, username, ActionSSOLinked, func(q store.Queries, u *store.User) (string, error) {
		if u.Source == store.SourceSSO {
			return "", errs.E(errs.Conflict, "The account %q already signs in through the identity provider.", u.Username)
		}
		u.Source = store.SourceSSO
		u.PasswordHash, u.PasswordTemporary, u.PasswordExpiresAt = "", false, time.Time{}
		if err := dropSecondFactors(ctx, q, u); err != nil {
			return "", err
		}
		if err := q.ClearPasswordFailures(ctx, s.nameKey(u.Username)); err != nil {
			return "", err
		}
		return "source sso; password, second factor, security keys, backup codes and sessions removed", s.endSessions(ctx, q, u.ID, nil)
	})
	if err != nil {
		return nil, err
	}
	if u.Email != "" {
		body := fmt.Sprintf("Hello %s,\n\nAn administrator linked your account to your organisation's identity provider on %s.\n\nUsername: %s\nSign in at: %s/signin with \"Login with the identity provider\".\nYour password here no longer works.\n\nIf you did not expect this, contact your administrator at once.\n",
			displayName(u), s.now().UTC().Format(time.RFC1123), u.Username, s.baseURL)
		if err := s.mailer.Send(ctx, mail.Message{To: u.Email, Subject: "Sign-in through the identity provider", Body: body}); err != nil {
			s.log.ErrorContext(ctx, "mail not sent", "user", u.Username, "subject", "sso linked", "err", err)
		}
	}
	return s.viewOf(ctx, u, nil)
}

// ssoDetail says, for the audit trail, who the provider vouched for and from where.
func ssoDetail(id SSOIdentity, addr string) string {
	d := fmt.Sprintf("issuer %s, subject %s", clip(clean(id.Issuer, 200), 200), clip(clean(id.Subject, 255), 255))
	if addr != "" {
		d += ", from " + addr
	}
	return d
}

// ssoEmail keeps an address the provider verified when it is plain enough to mail; otherwise
// the account has none (and gets no mail) rather than a doubtful one.
func ssoEmail(addr string) string {
	n := NewUser{Username: "x", Email: addr}
	if addr == "" || n.normalize() != nil {
		return ""
	}
	return n.Email
}

// ssoClaimRefused answers a claim that checkText refused as the sign-in's refusal.
func ssoClaimRefused(err error) error {
	return errs.E(errs.Forbidden, "%s Ask your administrator to correct it at the identity provider.", errs.As(err).Message)
}

// clean drops what UnsafeRune forbids (and bytes that are not UTF-8) and cuts s to at most n
// runes, for the provider's identifiers quoted in the audit trail of a sign-in.
func clean(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if UnsafeRune(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	return clip(strings.TrimSpace(s), n)
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
