package account

// Clock drift (SPEC §10): a well-formed wrong TOTP code is also compared with the codes of the
// steps up to driftSteps away from the server's clock, none of which is ever accepted. The
// account keeps where its last wrong code matched: the offset and the TOTP step. When two
// consecutive wrong codes are two different codes, of two different steps, that match the same
// offset (within one step), the refusal says that the device's clock seems off and how to fix
// it, and the audit records the drift: a phone whose clock is off shows a new code at every
// step, all at one offset. A guesser's code matches one of those 38 steps (the accepted
// window's three left out) about once in 26,000 tries, and a second, different code at the
// same offset right after it about once in 330,000 more, far beyond what the lock allows.
// The same code sent again is no second match: it matches the same step (one step nearer if
// the clock moved on meanwhile), and pairing it would tell a guesser whose code hit a far step
// that it did, and when that code will be accepted.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/otp"
	"github.com/twofold-auth/twofold/internal/store"
)

// driftSteps is how far from the server's clock a wrong code is looked for: 10 minutes of
// 30-second steps either way.
const driftSteps = 20

// driftFinder is a proof whose wrong value may still tell that the device's clock is off.
type driftFinder interface {
	// drift answers the offset, in steps from now, at which the wrong proof matched a code of
	// u beyond the accepted window, if any.
	drift(s *Service, u *store.User, now time.Time) (steps int64, found bool, err error)
}

// drift computes the codes of every step up to driftSteps either side of now and compares
// each in constant time, with no early exit, so that the work is the same whatever matched.
// Steps the accepted window holds (a reused code) and steps before the last accepted one are
// looked at alike: a slow phone shows codes of steps already passed.
func (c totpCode) drift(s *Service, u *store.User, now time.Time) (int64, bool, error) {
	if !u.Enrolled() {
		return 0, false, nil
	}
	key, err := s.keys.OpenTOTP(u.ID, u.TOTPKeyVersion, u.TOTPKey)
	if err != nil {
		return 0, false, fmt.Errorf("open totp key: %w", err)
	}
	steps, found := otp.Match(key, string(c), now, otp.Default, -driftSteps, driftSteps,
		func(_, i int64) bool { return i < -totpSkew || i > totpSkew })
	return steps, found, nil
}

// noteClockDrift runs, inside the transaction of a failed check, after the failure has been
// counted and written: it keeps where a wrong TOTP code matched (offset and step), or forgets
// an earlier one (a code that matches nothing, another proof), and when the account's previous
// failed check matched within one step of this one's offset, at another step, audits mfa.clock_drift and answers the refusal with the hint. A lock's answer stays as
// it is. Every failed check writes or forgets the match, so that the one kept is always the
// previous failure's, also after an unlock or a reset started the count again.
func (s *Service) noteClockDrift(ctx context.Context, q store.Queries, u *store.User, p proof, now time.Time, refusal error) (error, error) {
	var (
		steps int64
		found bool
	)
	if f, ok := p.(driftFinder); ok {
		var err error
		if steps, found, err = f.drift(s, u, now); err != nil {
			return nil, err
		}
	}
	if !found {
		return refusal, q.DeleteCodeDrift(ctx, u.ID)
	}
	prev, err := q.CodeDrift(ctx, u.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	step := otp.StepAt(now, otp.Default.Period) + steps
	// Consecutive: the previous failed check of the account, with no success or other
	// failure between, is the one that kept prev. Its offset is within one step of this one,
	// and it matched another step, so it was another code (a row kept before steps were has
	// 0: none to compare). One code that is the code of two neighbouring steps too is left to
	// chance: about one in 500,000 codes.
	consecutive := err == nil && prev.Failure == u.MFAFailures-1 && prev.Failure > 0 &&
		prev.Steps-steps <= 1 && steps-prev.Steps <= 1 && prev.Step > 0 && prev.Step != step
	if err := q.SetCodeDrift(ctx, u.ID, store.CodeDrift{Steps: steps, Step: step, Failure: u.MFAFailures}); err != nil {
		return nil, err
	}
	if !consecutive {
		return refusal, nil
	}
	if err := s.audit(ctx, q, "system", u.Username, "mfa.clock_drift",
		fmt.Sprintf("the device's clock seems %s (%+d steps of 30 seconds)", driftWords(steps), steps)); err != nil {
		return nil, err
	}
	if errs.Code(refusal) != errs.InvalidCode {
		return refusal, nil
	}
	return errs.E(errs.InvalidCode, "The code is wrong: your device's clock seems %s, so your app shows the codes of another time. Turn on automatic date and time in your "+
		"phone's settings (on an iPhone: Settings > General > Date & Time > Set Automatically; on Android: "+
		"Settings > System > Date & time > Set time automatically), then enter the new code your app shows.", driftWords(steps)), nil
}

// driftWords says an offset of steps in minutes: "3 minutes fast", "7 minutes slow".
func driftWords(steps int64) string {
	dir := "fast"
	if steps < 0 {
		dir, steps = "slow", -steps
	}
	minutes := (steps + 1) / 2 // 30-second steps, rounded to the nearest minute, halves up
	if minutes == 1 {
		return "about 1 minute " + dir
	}
	return fmt.Sprintf("about %d minutes %s", minutes, dir)
}
