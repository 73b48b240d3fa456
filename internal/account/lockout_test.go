package account

import (
	"fmt"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
)

// The password lock's arithmetic, at fixed instants: the store only keeps what these answer.

var lockT0 = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

func TestCountPasswordFailure(t *testing.T) {
	check := func(what string, f store.PasswordFailures, now time.Time, failures int, until time.Time) {
		t.Helper()
		st := passwordState(f, now)
		if st.Failures != failures || !st.LockedUntil.Equal(until) {
			t.Errorf("%s = %d failures, locked until %v; want %d, %v", what, st.Failures, st.LockedUntil, failures, until)
		}
	}
	check("a username never seen", store.PasswordFailures{}, lockT0, 0, time.Time{})

	var f store.PasswordFailures
	for i := 1; i <= 9; i++ {
		at := lockT0.Add(time.Duration(i) * time.Second)
		f = countPasswordFailure(f, at)
		check(fmt.Sprintf("failure %d", i), f, at, i, time.Time{})
		if passwordLocked(f, at) {
			t.Fatalf("locked after %d failures", i)
		}
	}
	lockAt := lockT0.Add(10 * time.Second)
	f = countPasswordFailure(f, lockAt)
	check("the 10th failure", f, lockAt, 0, lockAt.Add(passwordLockFor))
	if !passwordLocked(f, lockAt) || !passwordLocked(f, lockAt.Add(passwordLockFor-time.Nanosecond)) {
		t.Errorf("not locked for %v after the 10th failure: %+v", passwordLockFor, f)
	}

	// After the lock passes, counting starts again, unlocked.
	after := lockAt.Add(passwordLockFor + time.Second)
	check("after the lock passed", f, after, 0, time.Time{})
	if passwordLocked(f, lockAt.Add(passwordLockFor)) {
		t.Errorf("still locked when the lock ends: %+v", f)
	}
	f = countPasswordFailure(f, after)
	check("a failure after the lock passed", f, after, 1, time.Time{})
	for i := 2; i <= 10; i++ {
		f = countPasswordFailure(f, after)
	}
	check("the 10th failure of the second round", f, after, 0, after.Add(passwordLockFor))
}

// TestPasswordFailuresStopCounting: failures stop counting passwordLockFor after the last one,
// and a lock counts until it ends, even when it ends later than that.
func TestPasswordFailuresStopCounting(t *testing.T) {
	var f store.PasswordFailures
	for i := range 3 {
		f = countPasswordFailure(f, lockT0.Add(time.Duration(i)*time.Second))
	}
	last := lockT0.Add(2 * time.Second)
	if !f.CountsUntil.Equal(last.Add(passwordLockFor)) {
		t.Errorf("CountsUntil = %v, want %v after the last failure", f.CountsUntil, passwordLockFor)
	}
	if st := passwordState(f, last.Add(passwordLockFor-time.Second)); st.Failures != 3 {
		t.Errorf("one second before they stop counting: %+v, want 3 failures", st)
	}
	gone := last.Add(passwordLockFor)
	if st := passwordState(f, gone); st != (store.PasswordFailures{}) {
		t.Errorf("once they stopped counting: %+v, want none", st)
	}
	if st := countPasswordFailure(f, gone); st.Failures != 1 {
		t.Errorf("a failure after the earlier ones stopped counting: %+v, want 1", st)
	}

	// A lock whose end is later than passwordLockFor after a failure counts until it ends.
	locked := store.PasswordFailures{Failures: 1, LockedUntil: gone.Add(time.Hour), CountsUntil: gone.Add(time.Hour)}
	if st := countPasswordFailure(locked, gone); !st.CountsUntil.Equal(locked.LockedUntil) || !st.LockedUntil.Equal(locked.LockedUntil) {
		t.Errorf("a failure during a long lock = %+v, want it to count until the lock ends at %v", st, locked.LockedUntil)
	}
	if !passwordLocked(locked, gone.Add(time.Hour-time.Nanosecond)) {
		t.Errorf("a lock read before it ends does not lock")
	}
}

// TestSecondFactorLock: the 5th, 10th and 15th failed check in a row lock for mfaLockFor, the
// 20th and any after it until an admin unlocks, and no other failure locks (SPEC §3).
func TestSecondFactorLock(t *testing.T) {
	for failures := 1; failures <= 22; failures++ {
		until, forever, locks := secondFactorLock(failures, lockT0)
		switch {
		case failures >= 20:
			if !locks || !forever || !until.IsZero() {
				t.Errorf("failure %d: locks %v forever %v until %v; want a lock only an admin ends", failures, locks, forever, until)
			}
		case failures%5 == 0:
			if !locks || forever || !until.Equal(lockT0.Add(15*time.Minute)) {
				t.Errorf("failure %d: locks %v forever %v until %v; want 15 minutes", failures, locks, forever, until)
			}
		default:
			if locks || forever || !until.IsZero() {
				t.Errorf("failure %d: locks %v forever %v until %v; want no lock", failures, locks, forever, until)
			}
		}
	}
}
