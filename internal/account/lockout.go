package account

// The lockout policy (SPEC §3 "Brute force", §5 "Fail closed"), in one place: the limits, the
// order in which a password guess meets them, when failures lock and for how long, and what a
// failure that reaches a lock answers. The store only counts, reads and conditionally writes;
// the rules here are pure functions of the state read and the time, or use them.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twofold-auth/twofold/internal/clientaddr"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/store"
)

// The limits.
const (
	// Second factor: every mfaLockEvery-th failed check in a row (sign-in, enrolment,
	// regeneration; any method) locks it for mfaLockFor, and the mfaLockPermanent-th locks it
	// until an admin unlocks. The count survives temporary locks; a success or an unlock
	// resets it.
	mfaLockEvery     = 5
	mfaLockFor       = 15 * time.Minute
	mfaLockPermanent = 20

	// Password: every passwordLockAfter-th failure for a username locks its password sign-in
	// for passwordLockFor, whether or not the account exists.
	passwordLockAfter = 10
	passwordLockFor   = 15 * time.Minute

	// Client address: failedSignInsPerAddress password failures within addressWindow (a
	// sliding window) refuse its further attempts.
	addressWindow = 60 * time.Second
)

// lockedErr is the answer of every lock: 429 locked with what is locked and, unless only an
// admin can end it, when it ends, rounded up past the lock's end to a whole second so that a
// client waiting for it never comes back early.
func lockedErr(until time.Time, forever bool, what string) error {
	e := &errs.Error{Code: errs.Locked, LockSubject: what}
	if forever {
		e.Message = what + " is locked. An administrator must unlock it."
		return e
	}
	e.LockedUntil = until.UTC().Truncate(time.Second).Add(time.Second)
	e.Message = fmt.Sprintf("%s is locked until %s.", what, e.LockedUntil.Format(time.RFC3339))
	return e
}

// What a lock locks, as its answer names it; pages say the lock in words from it.
const (
	subjectSecondFactor = "Your second factor"
	subjectPassword     = "Password sign-in for this username"
)

// The second factor.

// secondFactorLock answers the lock that the failures-th failed check in a row begins at now:
// until a time, until an admin unlocks (forever), or none.
func secondFactorLock(failures int, now time.Time) (until time.Time, forever, locks bool) {
	switch {
	case failures >= mfaLockPermanent:
		return time.Time{}, true, true
	case failures%mfaLockEvery == 0:
		return now.Add(mfaLockFor), false, true
	}
	return time.Time{}, false, false
}

// SecondFactorLockedAt reports whether u's second factor is locked at now: until an admin
// unlocks it, or until the end of a temporary lock.
func SecondFactorLockedAt(u *store.User, now time.Time) bool {
	return u.MFALockedForever || now.Before(u.MFALockedUntil)
}

// secondFactorBarsPassword answers the lock a right password meets while the account's second
// factor is locked (SPEC §3): the lock, unless the account's MFA policy is off, when no
// second factor is asked.
func secondFactorBarsPassword(u *store.User, o *options.Values, now time.Time) error {
	if o.Policy(u.Kind) != options.PolicyOff && SecondFactorLockedAt(u, now) {
		return secondFactorLocked(u)
	}
	return nil
}

// secondFactorLocked is the answer while the account's second factor is locked: to a code,
// which is then neither checked nor counted, and to a right password unless the MFA policy is
// off.
func secondFactorLocked(u *store.User) error {
	return lockedErr(u.MFALockedUntil, u.MFALockedForever, subjectSecondFactor)
}

// clearSecondFactorFailures resets the count and any lock: after a success, an unlock, or a
// reset of the account's second factor.
func clearSecondFactorFailures(u *store.User) {
	u.MFAFailures, u.MFALockedUntil, u.MFALockedForever = 0, time.Time{}, false
}

// secondFactorFailed finishes a failed check by m inside its transaction: the count, raised
// before the check, is written and audited (never the code); the failure that reaches a lock
// locks, ends the unfinished sign-in it came from and is audited. It answers the refusal, and
// whether a lock began, whose notice is sent after the commit.
func (s *Service) secondFactorFailed(ctx context.Context, q store.Queries, u *store.User, sess *store.Session, m Method) (error, bool, error) {
	now := s.now()
	if err := s.audit(ctx, q, u.Username, u.Username, "mfa.code_failed",
		fmt.Sprintf("%s, %d failed in a row", m, u.MFAFailures)); err != nil {
		return nil, false, err
	}
	until, forever, locks := secondFactorLock(u.MFAFailures, now)
	if !locks {
		if err := q.UpdateUser(ctx, u); err != nil {
			return nil, false, err
		}
		return codeRefused(m), false, nil
	}
	if forever {
		u.MFALockedForever = true
	} else {
		u.MFALockedUntil = until
	}
	if err := q.UpdateUser(ctx, u); err != nil {
		return nil, false, err
	}
	if sess != nil && !sess.Done {
		if err := q.DeleteSession(ctx, sess.IDHash); err != nil {
			return nil, false, err
		}
	}
	detail := "until " + u.MFALockedUntil.UTC().Format(time.RFC3339)
	if u.MFALockedForever {
		detail = "until an administrator unlocks it"
	}
	if err := s.audit(ctx, q, "system", u.Username, "mfa.locked",
		fmt.Sprintf("after %d failed codes, %s", u.MFAFailures, detail)); err != nil {
		return nil, false, err
	}
	return secondFactorLocked(u), true, nil
}

// The password.

// nameKey is what a submitted username's password failures are kept under: its MAC under
// the server key, so that a password typed into the username box is never stored.
func (s *Service) nameKey(username string) []byte { return s.keys.UsernameMAC(username) }

// guessPassword runs one password guess for the normalised username from addr. The limits are
// met in this order, so that no guess beyond them is checked or tells anything:
//
//  1. the client address: its attempt is reserved before anything else (429 rate_limited
//     when the address is at its limit), so that guesses sent at once, to one instance or
//     several, pass the limit exactly;
//  2. the username's password lock (429 locked), before any hashing;
//  3. check, which answers whether the password is right (an error counts nothing);
//  4. a wrong password counts for the username (passwordFailed) and leaves the address's
//     attempt as a failure; a right one is refused if the username locked meanwhile, and
//     otherwise clears the username's failures (passwordSucceeded). Only failures count, so
//     the address's attempt is released unless the password was wrong.
//
// It answers nil for a right password, errBadCredentials for a wrong one, or the refusal. What
// the account's state answers after a right password (disabled, expired, second factor locked)
// is SignIn's.
func (s *Service) guessPassword(ctx context.Context, username, addr string, check func() (bool, error)) (err error) {
	release, err := s.reserveAddressAttempt(ctx, addr)
	if err != nil {
		return err
	}
	wrong := false
	defer func() {
		// A release that fails leaves the attempt counted (fail closed) and is reported.
		if rerr := release(wrong); rerr != nil && err == nil {
			err = rerr
		}
	}()
	key := s.nameKey(username)
	if _, err := s.checkPasswordLock(ctx, key); err != nil {
		return err
	}
	ok, err := check()
	if err != nil {
		return err
	}
	if !ok {
		wrong = true
		return s.passwordFailed(ctx, username, key)
	}
	return s.passwordSucceeded(ctx, key)
}

// reserveAddressAttempt counts a password attempt from addr before its password is checked,
// or refuses it when addr has had failedSignInsPerAddress attempts within addressWindow. The
// attempt stays as a failure unless release is told otherwise; release forgets it even when
// the request was cancelled meanwhile.
func (s *Service) reserveAddressAttempt(ctx context.Context, addr string) (release func(failed bool) error, err error) {
	o, err := s.opts.Get(ctx)
	if err != nil {
		return nil, err
	}
	limit := o.FailedSignInsPerAddress()
	if limit <= 0 || addr == "" {
		return func(bool) error { return nil }, nil
	}
	now := s.now()
	id, ok, err := s.store.ReserveAddressAttempt(ctx, clientaddr.LimitKey(addr), now, now.Add(-addressWindow), limit)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &errs.Error{Code: errs.RateLimited, RetryAfter: addressWindow,
			Message: "Too many failed sign-ins from your address. Please wait a minute and try again."}
	}
	return func(failed bool) error {
		if failed {
			return nil
		}
		return s.store.ReleaseAddressAttempt(context.WithoutCancel(ctx), id)
	}, nil
}

// passwordState answers the failures and lock of f that still count at now: a lock that has
// passed reads as none, and its failures with it.
func passwordState(f store.PasswordFailures, now time.Time) store.PasswordFailures {
	if !now.Before(f.CountsUntil) || !f.LockedUntil.IsZero() && !now.Before(f.LockedUntil) {
		return store.PasswordFailures{}
	}
	return f
}

// passwordLocked reports whether f, as read at now, locks password sign-in.
func passwordLocked(f store.PasswordFailures, now time.Time) bool {
	return now.Before(passwordState(f, now).LockedUntil)
}

// countPasswordFailure answers the state after one more failure at now, from the state read
// before it. Failures and a lock that no longer count are cleared first; the failure that
// reaches passwordLockAfter locks until passwordLockFor from now and starts the count again.
// The row counts until passwordLockFor after this failure, or until its lock ends if later, so
// that a guesser still gets at most passwordLockAfter guesses per passwordLockFor.
func countPasswordFailure(prev store.PasswordFailures, now time.Time) store.PasswordFailures {
	st := passwordState(prev, now)
	st.Failures++
	if st.Failures >= passwordLockAfter {
		st.Failures, st.LockedUntil = 0, now.Add(passwordLockFor)
	}
	st.CountsUntil = now.Add(passwordLockFor)
	if st.LockedUntil.After(st.CountsUntil) {
		st.CountsUntil = st.LockedUntil
	}
	return st
}

// passwordLockedErr is the answer while a username's password sign-in is locked: the same for
// every username, with an account or not.
func passwordLockedErr(f store.PasswordFailures) error {
	return lockedErr(f.LockedUntil, false, subjectPassword)
}

// checkPasswordLock refuses a guess for a username whose password sign-in is locked, and
// otherwise answers the failures that still count.
func (s *Service) checkPasswordLock(ctx context.Context, key []byte) (store.PasswordFailures, error) {
	now := s.now()
	f, err := s.store.PasswordFailures(ctx, key, now)
	if err != nil {
		return f, err
	}
	if passwordLocked(f, now) {
		return f, passwordLockedErr(f)
	}
	return passwordState(f, now), nil
}

// passwordFailed counts a failure for the username (countPasswordFailure says how). A failure that found
// the username already locked (a guess that was waiting while others locked it) answers the
// lock, so that no guess beyond the limit tells anything.
func (s *Service) passwordFailed(ctx context.Context, username string, key []byte) error {
	now := s.now()
	// A guess that was hashing while others locked the username finds the lock here: it is
	// answered as locked and not counted, so that it neither tells that its password is wrong
	// nor, with nine more like it, locks the username again (a new 15 minutes and a second
	// "locked" event) and answers 401 past the limit. The read locks the name's row until
	// commit, so that failures counted at once, on any instance, each see the one before.
	var prev store.PasswordFailures
	err := s.store.Update(ctx, func(q store.Queries) error {
		var err error
		if prev, err = q.PasswordFailures(ctx, key, now); err != nil {
			return err
		}
		if passwordLocked(prev, now) {
			return nil
		}
		st := countPasswordFailure(prev, now)
		if err := q.SetPasswordFailures(ctx, key, st, now); err != nil {
			return err
		}
		if passwordLocked(st, now) {
			return s.auditPasswordLock(ctx, q, username, st.LockedUntil)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if passwordLocked(prev, now) {
		return passwordLockedErr(prev)
	}
	return errBadCredentials
}

// auditPasswordLock records a password lock. The audit names the account only when there is
// one: a name without an account may be a password typed into the username box, which is
// never stored.
func (s *Service) auditPasswordLock(ctx context.Context, q store.Queries, username string, until time.Time) error {
	detail := "locked until " + until.UTC().Format(time.RFC3339)
	if _, err := q.UserByName(ctx, username); errors.Is(err, store.ErrNotFound) {
		username, detail = "", "a username with no account "+detail
	} else if err != nil {
		return err
	}
	return s.audit(ctx, q, "system", username, "password.locked", detail)
}

// passwordSucceeded refuses a right password that arrived while the username was locked by
// guesses running beside it, and otherwise forgets earlier failures. The failures are cleared
// under the name's lock, after reading them again there, so that a lock which guesses beside
// this one reached in between is refused, not erased. A name without failures, the usual
// case, costs one read and no write.
func (s *Service) passwordSucceeded(ctx context.Context, key []byte) error {
	f, err := s.checkPasswordLock(ctx, key)
	if err != nil || f.Failures == 0 {
		return err
	}
	return s.store.Update(ctx, func(q store.Queries) error {
		now := s.now()
		f, err := q.PasswordFailures(ctx, key, now)
		if err != nil {
			return err
		}
		if passwordLocked(f, now) {
			return passwordLockedErr(f)
		}
		return q.ClearPasswordFailures(ctx, key)
	})
}
