package account

import (
	"time"

	"github.com/twofold-auth/twofold/internal/store"
)

// The lockout policy (SPEC §3 and §5). The store only reads and writes the counters; every
// rule of when failures lock, for how long, and when they stop counting is here, as pure
// functions of the state read and the time.

// The password lock: every passwordLockAfter-th failure for a username locks its password
// sign-in for passwordLockFor, whether or not the account exists.
const (
	passwordLockAfter = 10
	passwordLockFor   = 15 * time.Minute
)

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
