package account

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/twofold-auth/twofold/internal/cookie"
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

// ACR is the authentication context class of a session that proved amr: "mfa" when a second
// factor was proved in it, else "pwd" (SPEC §7).
func ACR(amr []string) string {
	if HasSecondFactor(amr) {
		return AMRMFA
	}
	return AMRPassword
}

// maxReturnTo bounds a return target.
const maxReturnTo = 2048

// ReturnTarget answers target when a finished sign-in may go there, and "" otherwise, so
// that a sign-in never sends anyone to another site (SPEC §8, no open redirect): a path on
// this server (not "//host"), such as the OpenID provider's /oidc/continue?id=..., or, with a
// cookie domain, an absolute URL of the base URL's scheme (https, or http when the base URL
// is http) whose host is the cookie domain or below it: an application behind forward auth.
// Userinfo, backslashes, control characters and hosts that only look alike are refused.
func (s *Service) ReturnTarget(target string) string {
	if len(target) > maxReturnTo || strings.ContainsAny(target, "\\\r\n\t") || checkText("return target", target) != nil {
		return ""
	}
	if strings.HasPrefix(target, "/") {
		// Escapes that decode to "//host" or "/\host" name another site wherever the path is
		// used decoded (a form's action): refused as the plain forms are.
		u, err := url.Parse(target)
		if err != nil || strings.HasPrefix(target, "//") || strings.HasPrefix(u.Path, "//") || strings.HasPrefix(u.Path, "/\\") {
			return ""
		}
		return target
	}
	if s.cookieDomain == "" || !strings.HasPrefix(target, s.returnScheme+"://") {
		return ""
	}
	u, err := url.Parse(target)
	if err != nil || u.Scheme != s.returnScheme || u.User != nil || u.Opaque != "" || !plainHost(u.Host) {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	if !cookie.Under(host, s.cookieDomain) {
		return ""
	}
	return target
}

// plainHost accepts a host name with an optional port, written plainly: no escapes, no IP
// literal in brackets, nothing that a browser might read as another host.
func plainHost(h string) bool {
	name, port, hasPort := strings.Cut(h, ":")
	if name == "" || hasPort && port == "" {
		return false
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
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

// SignedIn answers the finished session of token, or 401 not_signed_in.
func (s *Service) SignedIn(ctx context.Context, token string) (*SignedIn, error) {
	p, err := s.Authenticate(ctx, token)
	if err != nil {
		return nil, err
	}
	return &SignedIn{User: p.user, SID: p.session.SID, AMR: p.session.AMR, AuthTime: p.session.CreatedAt}, nil
}

// SignedInNow is SignedIn inside the transaction of q, for a request that read the session
// before it (stillLive): the finished session of token as it is now, its account locked until
// commit, or 401 not_signed_in when it has ended since.
func (s *Service) SignedInNow(ctx context.Context, q store.Queries, token string) (*SignedIn, error) {
	if !validToken(token) {
		return nil, errNotSignedIn
	}
	sess, u, err := s.stillLive(ctx, q, hashToken(token))
	if err != nil {
		return nil, err
	}
	if !sess.Done {
		return nil, errNotSignedIn
	}
	return &SignedIn{User: u, SID: sess.SID, AMR: sess.AMR, AuthTime: sess.CreatedAt}, nil
}

// CheckSession is SignedIn for forward auth's check before every proxied request (SPEC §8): a
// finished session only, read without any write but its once-a-minute last use. An unfinished
// sign-in is not signed in here, even one that an option change left nothing to do for: the
// sign-in page finishes it.
func (s *Service) CheckSession(ctx context.Context, token string) (*SignedIn, error) {
	sess, u, err := s.current(ctx, token)
	if err != nil {
		return nil, err
	}
	if !sess.Done {
		return nil, errNotSignedIn
	}
	if now := s.now(); now.Sub(sess.LastSeenAt) > touchEvery {
		if err := s.store.TouchSession(ctx, sess.IDHash, now); err != nil {
			return nil, err
		}
	}
	return &SignedIn{User: u, SID: sess.SID, AMR: sess.AMR, AuthTime: sess.CreatedAt}, nil
}

// StepUp asks the finished session of token for a second factor because an application needs
// one (SPEC §7): the session goes through verification, and then to returnTo. An account with
// no second factor to prove gets ErrPasswordFirst and its session is left as it was: enrolment
// needs the password, which the session alone does not prove. An SSO account cannot prove one
// here: it is refused.
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
	if !hasSecondFactor(si.user, si.opts) {
		return Step{}, ErrPasswordFirst
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
		// The session is a sign-in again, begun now: its LastSeenAt says so (current), or a
		// session older than SignInLifetime would expire at once, and with it the person's
		// sign-in to every application.
		sess.MFARequired, sess.ReturnTo, sess.LastSeenAt = true, s.ReturnTarget(returnTo), s.now()
		step, err = s.advance(ctx, q, sess, si.user, si.opts)
		return err
	})
	if err != nil {
		return Step{}, err
	}
	return step, nil
}

// endSessions ends every session of the account but the one with keep (nil for none),
// revokes every token applications hold for it and voids the codes issued to them but not yet
// exchanged (SPEC §7: none outlives the account's standing), and forgets its remembered devices
// (SPEC §10): the account's standing changed (a
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
	if _, err := q.DeleteTokens(ctx, store.TokenFilter{UserID: userID}); err != nil {
		return err
	}
	if _, err := q.DeleteUnredeemedCodes(ctx, userID, ""); err != nil {
		return err
	}
	_, err = q.DeleteRememberedDevices(ctx, userID) // SPEC §10: the account's devices are forgotten too
	return err
}

// sessionsEnded is what the end of the account's sessions sids means to applications (SPEC §7
// "Logout"): the sessions' records of clients are removed, and every client with a
// back-channel logout URI whose record this transaction removed is queued a logout notice, one
// per client and session. It runs in the transaction that ends the sessions, so that a session
// never ends without its notices, and answers how many it queued; the provider delivers them.
// A record another transaction removed first (the sweep's, endedSessions) is told by that one.
func (s *Service) sessionsEnded(ctx context.Context, q store.Queries, userID int64, sids []string) (int, error) {
	var ended []*store.EndedSessionClient
	for _, sid := range sids {
		if sid == "" {
			continue
		}
		clients, err := q.DeleteSessionClients(ctx, sid)
		if err != nil {
			return 0, err
		}
		for _, id := range clients {
			ended = append(ended, &store.EndedSessionClient{SID: sid, ClientID: id, UserID: userID})
		}
	}
	return s.queueLogouts(ctx, q, ended)
}

// endedBatch bounds the records of ended sessions one sweep takes (endedSessions): a backlog
// goes at the next sweeps, a minute apart.
const endedBatch = 1000

// Sweep is the minute sweep of sessions that every serving instance runs (SPEC §5
// "Sessions", §7 "Logout"): it removes the sign-ins and sessions that expired, and then tells
// the applications of every session that ended without telling them (endedSessions). It
// answers how many sessions it removed and how many logout notices it queued; the second
// step runs when the first fails too.
func (s *Service) Sweep(ctx context.Context) (removed, queued int, err error) {
	now := s.now()
	removed, err = s.store.DeleteExpiredSessions(ctx, now.Add(-SignInLifetime), now.Add(-SessionIdle), now.Add(-SessionLifetime))
	if err != nil {
		err = fmt.Errorf("expired sessions: %w", err)
	}
	queued, qerr := s.endedSessions(ctx)
	if qerr != nil {
		err = errors.Join(err, fmt.Errorf("logout notices of ended sessions: %w", qerr))
	}
	return removed, queued, err
}

// endedSessions is sessionsEnded for the sessions that ended by expiry: removed by Sweep, or
// by current when next used, with no transaction of theirs to queue notices in. Their records
// of clients outlive them, and here up to endedBatch of them are removed and their clients
// queued notices, in one transaction: each record is answered to one sweep alone, so that of
// instances sweeping at once, each notice is queued once.
func (s *Service) endedSessions(ctx context.Context) (int, error) {
	queued := 0
	err := s.store.Update(ctx, func(q store.Queries) error {
		ended, err := q.DeleteEndedSessionClients(ctx, endedBatch)
		if err != nil {
			return err
		}
		queued, err = s.queueLogouts(ctx, q, ended)
		return err
	})
	if err != nil {
		return 0, err
	}
	if queued > 0 {
		s.wakeLogouts()
	}
	return queued, nil
}

// queueLogouts queues a logout notice for each record of ended whose client has a back-channel
// logout URI, inside q's transaction, and answers how many. A record without the account's
// subject has it read (once per account); a record whose client or account is gone is skipped.
func (s *Service) queueLogouts(ctx context.Context, q store.Queries, ended []*store.EndedSessionClient) (int, error) {
	now := s.now()
	clients := map[string]*store.Client{} // nil: gone
	subjects := map[int64]string{}        // "": gone
	queued := 0
	for _, e := range ended {
		c, seen := clients[e.ClientID]
		if !seen {
			var err error
			if c, err = q.Client(ctx, e.ClientID); errors.Is(err, store.ErrNotFound) {
				c = nil
			} else if err != nil {
				return queued, err
			}
			clients[e.ClientID] = c
		}
		if c == nil || c.BackchannelLogoutURI == "" {
			continue
		}
		subject := e.Subject
		if subject == "" {
			var seen bool
			if subject, seen = subjects[e.UserID]; !seen {
				u, err := q.User(ctx, e.UserID)
				if err == nil {
					subject = u.Subject
				} else if !errors.Is(err, store.ErrNotFound) {
					return queued, err
				}
				subjects[e.UserID] = subject
			}
		}
		if subject == "" {
			continue
		}
		n := &store.LogoutNotice{ClientID: c.ID, UserID: e.UserID, Subject: subject, SID: e.SID, CreatedAt: now, NextAt: now}
		if err := q.AddLogoutNotice(ctx, n); err != nil {
			return queued, err
		}
		queued++
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
