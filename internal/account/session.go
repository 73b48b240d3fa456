package account

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/store"
)

// Authentication method references (RFC 8176) that a session records (SPEC §7).
const (
	AMRPassword = "pwd"
	AMRMFA      = "mfa"
)

// ActionStepUp is the audit action of a second factor proved in a finished session because an
// application asked for one.
const ActionStepUp = "signin.step_up"

// ssoSecondFactors are the amr values by which an identity provider reports that a second
// factor was proved (SPEC §7).
var ssoSecondFactors = []string{AMRMFA, "otp", "hwk", "swk"}

// newSession is a sign-in that just proved the password (or the identity provider), with a
// stable session id of its own.
func (s *Service) newSession(hash []byte, u *store.User, amr []string) (*store.Session, error) {
	var b [16]byte
	if _, err := io.ReadFull(s.rand, b[:]); err != nil {
		return nil, fmt.Errorf("session id: %w", err)
	}
	now := s.now()
	return &store.Session{IDHash: hash, UserID: u.ID, SID: hex.EncodeToString(b[:]), AMR: amr,
		CreatedAt: now, LastSeenAt: now}, nil
}

// finished sets where a step that finished the sign-in goes next.
func finished(st Step, returnTo string) Step {
	if st.Next == StepDone {
		st.ReturnTo = returnTo
	}
	return st
}

// secondFactorAMR is amr after a second factor proved by m: "pwd", the method's value, "mfa".
func secondFactorAMR(amr []string, m Method) []string {
	out := []string{}
	for _, v := range amr {
		if v != AMRMFA && v != m.AMR() {
			out = append(out, v)
		}
	}
	return append(out, m.AMR(), AMRMFA)
}

// ssoAMR keeps of an identity provider's amr claim only short plain values, at most ten.
func ssoAMR(amr []string) []string {
	out := []string{}
	for _, v := range amr {
		if len(out) == 10 {
			break
		}
		if v != "" && len(v) <= 32 && checkText("amr", v) == nil && !strings.ContainsAny(v, " \t") {
			out = append(out, v)
		}
	}
	return out
}

// HasSecondFactor reports whether amr says a second factor was proved: for an SSO account,
// what its identity provider reported (SPEC §7).
func HasSecondFactor(amr []string) bool {
	for _, v := range amr {
		if slices.Contains(ssoSecondFactors, v) {
			return true
		}
	}
	return false
}

// maxReturnTo bounds a return target.
const maxReturnTo = 2048

// ReturnTarget answers target when it is an address on this server (a path, not "//host"),
// and "" otherwise: a sign-in never sends anyone to another site.
func ReturnTarget(target string) string {
	if len(target) > maxReturnTo || !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "//") ||
		strings.ContainsAny(target, "\\\r\n\t") || checkText("return target", target) != nil {
		return ""
	}
	return target
}

// SignedIn is a finished session as an application sees it (SPEC §7).
type SignedIn struct {
	User *store.User
	// SID is the session's stable id; AMR how the person proved who they are; AuthTime when.
	SID      string
	AMR      []string
	AuthTime time.Time
}

// SecondFactor reports whether a second factor was proved in the session.
func (si *SignedIn) SecondFactor() bool { return HasSecondFactor(si.AMR) }

// ACR answers the session's authentication context class: "mfa" when a second factor was
// proved in it, else "pwd".
func (si *SignedIn) ACR() string {
	if si.SecondFactor() {
		return AMRMFA
	}
	return AMRPassword
}

// SignedIn answers the finished session of token, or 401 not_signed_in.
func (s *Service) SignedIn(ctx context.Context, token string) (*SignedIn, error) {
	p, err := s.Authenticate(ctx, token)
	if err != nil {
		return nil, err
	}
	return &SignedIn{User: p.user, SID: p.session.SID, AMR: p.session.AMR, AuthTime: p.session.CreatedAt}, nil
}

// StepUp asks the finished session of token for a second factor because an application needs
// one (SPEC §7): the session goes through verification, or enrolment when the account has no
// authenticator, and then to returnTo. An SSO account cannot prove one here: it is refused.
func (s *Service) StepUp(ctx context.Context, token, returnTo string) (Step, error) {
	si, err := s.open(ctx, token)
	if err != nil {
		return Step{}, err
	}
	if !si.sess.Done {
		return Step{}, errNotSignedIn
	}
	if si.user.Source == store.SourceSSO {
		return Step{}, errs.E(errs.Forbidden, "This application needs a second factor, and your organisation's identity provider did not report one for this sign-in. Sign in to the identity provider with a second factor, then try again.")
	}
	var step Step
	err = s.store.Update(ctx, func(q store.Queries) error {
		sess, err := q.Session(ctx, si.sess.IDHash)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return errNotSignedIn
			}
			return err
		}
		sess.MFARequired, sess.ReturnTo = true, ReturnTarget(returnTo)
		step, err = s.advance(ctx, q, sess, si.user, si.opts)
		return err
	})
	if err != nil {
		return Step{}, err
	}
	return step, nil
}

// endSessions ends every session of the account but the one with keep (nil for none) and
// revokes every token applications hold for it (SPEC §7): the account's standing changed (a
// new password, a reset second factor, disabling, a change of source). The caller wakes the
// logout deliverer (wakeLogouts) once its transaction has committed.
func (s *Service) endSessions(ctx context.Context, q store.Queries, userID int64, keep []byte) error {
	sids, err := q.SessionSIDs(ctx, userID, keep)
	if err != nil {
		return err
	}
	if err := q.DeleteUserSessions(ctx, userID, keep); err != nil {
		return err
	}
	if _, err := s.sessionsEnded(ctx, q, userID, sids); err != nil {
		return err
	}
	_, err = q.DeleteTokens(ctx, store.TokenFilter{UserID: userID})
	return err
}

// sessionsEnded is what the end of the account's sessions sids means to applications (SPEC §7
// "Logout"): every client with a back-channel logout URI that received tokens in one of them
// is queued a logout notice, one per client and session, and the sessions' records of clients
// are forgotten. It runs in the transaction that ends the sessions, so that a session never
// ends without its notices, and answers how many it queued; the provider delivers them.
func (s *Service) sessionsEnded(ctx context.Context, q store.Queries, userID int64, sids []string) (int, error) {
	subject, queued := "", 0
	now := s.now()
	for _, sid := range sids {
		if sid == "" {
			continue
		}
		clients, err := q.SessionClients(ctx, sid)
		if err != nil {
			return queued, err
		}
		if len(clients) == 0 {
			continue
		}
		for _, id := range clients {
			c, err := q.Client(ctx, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return queued, err
			}
			if c.BackchannelLogoutURI == "" {
				continue
			}
			if subject == "" {
				u, err := q.User(ctx, userID)
				if err != nil {
					return queued, err
				}
				subject = u.Subject
			}
			n := &store.LogoutNotice{ClientID: c.ID, UserID: userID, Subject: subject, SID: sid, CreatedAt: now, NextAt: now}
			if err := q.AddLogoutNotice(ctx, n); err != nil {
				return queued, err
			}
			queued++
		}
		if err := q.DeleteSessionClients(ctx, sid); err != nil {
			return queued, err
		}
	}
	return queued, nil
}

// wakeLogouts tells the logout deliverer that notices may be waiting, after the transaction
// that queued them has committed: it sends them at once instead of at its next poll.
func (s *Service) wakeLogouts() {
	if s.logoutQueued != nil {
		s.logoutQueued()
	}
}
