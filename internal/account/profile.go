package account

import (
	"context"
	"errors"
	"time"

	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/store"
)

// Principal is a finished session and its account.
type Principal struct {
	user    *store.User
	session *store.Session
}

// Actor answers who the principal is for administrative use cases.
func (p *Principal) Actor() Actor {
	return Actor{Name: p.user.Username, Admin: p.user.Role == store.RoleAdmin, UserID: p.user.ID}
}

// Authenticate answers the finished session of token, noting its use.
func (s *Service) Authenticate(ctx context.Context, token string) (*Principal, error) {
	sess, u, err := s.current(ctx, token)
	if err != nil {
		return nil, err
	}
	if !sess.Done {
		if sess, err = s.finishIfComplete(ctx, sess, u); err != nil {
			return nil, err
		}
	}
	if now := s.now(); now.Sub(sess.LastSeenAt) > touchEvery {
		if err := s.store.TouchSession(ctx, sess.IDHash, now); err != nil {
			return nil, err
		}
	}
	return &Principal{user: u, session: sess}, nil
}

// finishIfComplete turns a sign-in into a session when nothing is left to do, which happens
// when an option change removed the requirement it was at (MFA turned off, say). Its id was
// renewed at the last step it took. The sign-in is read again inside the transaction, which
// locks it: of two requests that find it unfinished, the second finds it done by the first,
// and only the first audits the sign-in.
func (s *Service) finishIfComplete(ctx context.Context, sess *store.Session, u *store.User) (*store.Session, error) {
	o, err := s.opts.Get(ctx)
	if err != nil {
		return nil, err
	}
	if nextStep(u, sess, o) != StepDone {
		return nil, errs.E(errs.NotSignedIn, "Finish signing in first.")
	}
	done := *sess
	done.Done, done.LastSeenAt = true, s.now()
	err = s.store.Update(ctx, func(q store.Queries) error {
		cur, err := q.Session(ctx, sess.IDHash)
		if err != nil {
			return err
		}
		if cur.Done {
			done = *cur
			return nil
		}
		if err := q.ReplaceSession(ctx, sess.IDHash, &done); err != nil {
			return err
		}
		return s.audit(ctx, q, u.Username, u.Username, "signin", "signed in (nothing left to do)")
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotSignedIn
	}
	return &done, err
}

// Me answers the account of a session.
func (s *Service) Me(ctx context.Context, p *Principal) (*Me, error) {
	o, err := s.opts.Get(ctx)
	if err != nil {
		return nil, err
	}
	u := p.user
	m := &Me{Username: u.Username, Email: u.Email, Name: u.Name, Kind: u.Kind, Source: u.Source, Role: u.Role,
		MFA: MFAStatus{Policy: o.Policy(u.Kind), Enrolled: hasSecondFactor(u, o), BackupCodesEnabled: o.BackupCodesEnabled()}}
	if u.Source == store.SourceSSO {
		m.MFA.Policy = options.PolicyOff
	}
	m.MFA.CanEnroll = s.canEnroll(u, o) == nil
	if m.MFA.BackupCodesEnabled {
		n, err := s.store.CountBackupCodes(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		m.MFA.BackupCodesRemaining = &n
	}
	return m, nil
}

// checkCurrentPassword proves the current password of a signed-in account; failures count
// towards the username's password lock like sign-in failures.
func (s *Service) checkCurrentPassword(ctx context.Context, u *store.User, pw, addr string) error {
	if u.Source == store.SourceSSO {
		return errs.E(errs.SSOAccount, "This account signs in through your organisation's identity provider and has no password here.")
	}
	err := s.guessPassword(ctx, u.Username, addr, func() (bool, error) { return s.verifyPassword(ctx, u, pw) })
	if errs.Code(err) == errs.InvalidCredentials {
		return errs.E(errs.InvalidCredentials, "The current password is wrong.")
	}
	return err
}

// ChangePassword sets a new password after proving the current one, and ends the account's
// other sessions. It answers the session's new token.
func (s *Service) ChangePassword(ctx context.Context, p *Principal, current, newPassword, addr string) (string, error) {
	if err := s.checkCurrentPassword(ctx, p.user, current, addr); err != nil {
		return "", err
	}
	step, err := s.setPassword(ctx, p.session, p.user, newPassword, "from the profile")
	return step.Token, err
}

// setPassword gives the account the new password its owner chose (SPEC §5 "Passwords"), after
// checking it: in one transaction the password is no longer temporary, the account's other
// sessions end, and sess moves on under a new id. detail says where it was chosen, for the audit.
func (s *Service) setPassword(ctx context.Context, sess *store.Session, user *store.User, newPassword, detail string) (Step, error) {
	if err := checkNewPassword(newPassword, user.Username); err != nil {
		return Step{}, err
	}
	hash, err := s.hashPassword(ctx, newPassword)
	if err != nil {
		return Step{}, err
	}
	o, err := s.opts.Get(ctx)
	if err != nil {
		return Step{}, err
	}
	var step Step
	err = s.store.Update(ctx, func(q store.Queries) error {
		u, err := q.User(ctx, user.ID)
		if err != nil {
			return err
		}
		if u.PasswordTemporary { // mailed to the account's address: the person reads that mail
			u.EmailVerified = true
		}
		u.PasswordHash, u.PasswordTemporary, u.PasswordExpiresAt = hash, false, time.Time{}
		if err := q.UpdateUser(ctx, u); err != nil {
			return err
		}
		if err := s.endSessions(ctx, q, u.ID, sess.IDHash); err != nil {
			return err
		}
		if err := s.audit(ctx, q, u.Username, u.Username, "password.changed", detail); err != nil {
			return err
		}
		step, err = s.advance(ctx, q, sess, u, o)
		return err
	})
	if err == nil {
		s.wakeLogouts()
	}
	return step, err
}

// BeginEnroll starts enrolment from the profile, for an account not yet enrolled, after proving
// the current password.
func (s *Service) BeginEnroll(ctx context.Context, p *Principal, current, addr string) (*Enrollment, error) {
	o, err := s.opts.Get(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.canEnroll(p.user, o); err != nil {
		return nil, err
	}
	if err := s.checkCurrentPassword(ctx, p.user, current, addr); err != nil {
		return nil, err
	}
	p.session.Reauthenticated = true
	if err := s.store.ReplaceSession(ctx, p.session.IDHash, p.session); err != nil {
		return nil, err
	}
	return s.pendingKey(ctx, p.session, p.user, o)
}

func (s *Service) canEnroll(u *store.User, o *options.Values) error {
	switch {
	case u.Source == store.SourceSSO:
		return errs.E(errs.SSOAccount, "This account signs in through your organisation's identity provider and uses its MFA.")
	case u.Enrolled():
		return errs.E(errs.Conflict, "This account is already enrolled. Ask an administrator to reset MFA for a new device.")
	case o.Policy(u.Kind) == options.PolicyOff:
		return errs.E(errs.Forbidden, "MFA is turned off for your kind of account.")
	}
	return nil
}

// FinishEnroll checks the first code of the key that BeginEnroll showed and enrols the account.
func (s *Service) FinishEnroll(ctx context.Context, p *Principal, code string) ([]string, error) {
	if err := checkTOTPFormat(code); err != nil {
		return nil, err
	}
	o, err := s.opts.Get(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.canEnroll(p.user, o); err != nil {
		return nil, err
	}
	if p.session.PendingKey == nil || !p.session.Reauthenticated {
		return nil, errs.E(errs.Conflict, "Start enrolment first: there is no key to verify yet.")
	}
	step, err := s.completeEnrollment(ctx, p.session, p.user, code, func(q store.Queries, sess *store.Session, u *store.User) (Step, error) {
		sess.Reauthenticated = false
		return Step{}, q.ReplaceSession(ctx, sess.IDHash, sess)
	})
	return step.BackupCodes, err
}
