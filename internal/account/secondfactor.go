package account

// The second-factor check (SPEC §3 "TOTP", "Backup codes", "Brute force", §5 "Fail closed"):
// every place that accepts a code (sign-in, enrolment from sign-in or profile, regeneration)
// goes through checkSecondFactor, and each way of proving a second factor is one proof type.

import (
	"context"
	"fmt"
	"time"

	"github.com/twofold-auth/twofold/internal/backupcode"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/otp"
	"github.com/twofold-auth/twofold/internal/store"
)

// Method is a way to prove a second factor. Its text names it in audit details
// ("mfa.code_failed", "signin").
type Method string

// MethodTOTP and MethodBackupCode are the methods of SPEC §3, MethodSecurityKey that of §9.
const (
	MethodTOTP        Method = "totp"
	MethodBackupCode  Method = "backup code"
	MethodSecurityKey Method = "security key"
)

// AMR answers the authentication method reference (RFC 8176) that a second factor proved by m
// adds beside "pwd" and "mfa" (SPEC §7): "otp" for either kind of code, "hwk" for a security key.
func (m Method) AMR() string {
	switch m {
	case MethodTOTP, MethodBackupCode:
		return "otp"
	case MethodSecurityKey:
		return "hwk"
	}
	return ""
}

// hasSecondFactor reports whether u has a second factor it may use now: a TOTP key, or a
// security key not disabled while mfaWebAuthn is yes (SPEC §9: with no, an account whose only
// factor is a key enrols an authenticator app).
func hasSecondFactor(u *store.User, o *options.Values) bool {
	return u.Enrolled() || u.SecurityKey && o.WebAuthnEnabled()
}

// totpSkew is how many 30-second steps either side of the server's clock a code may be from.
const totpSkew = 1

// A proof is what someone offers as their second factor. A new method (a security key, SPEC §9)
// is one more proof, checked, counted and locked by the same checkSecondFactor.
type proof interface {
	method() Method
	// check answers whether the proof is right for u at now. A single-use proof is used up by
	// it in q with a conditional write, so that it works once on every instance; what the
	// check learns for the account (the step of a code) it sets in u.
	check(ctx context.Context, s *Service, q store.Queries, u *store.User, now time.Time) (bool, error)
}

// totpCode is a 6-digit code of the account's key.
type totpCode string

func (totpCode) method() Method { return MethodTOTP }

func (c totpCode) check(ctx context.Context, s *Service, q store.Queries, u *store.User, now time.Time) (bool, error) {
	if !u.Enrolled() { // an account whose second factor is a security key only
		return false, nil
	}
	key, err := s.keys.OpenTOTP(u.ID, u.TOTPKeyVersion, u.TOTPKey)
	if err != nil {
		return false, fmt.Errorf("open totp key: %w", err)
	}
	step, ok := otp.Verify(key, string(c), now, otp.Default, totpSkew, u.TOTPLastStep)
	if !ok {
		return false, nil
	}
	// The conditional write, not the comparison above, is what makes a code single-use on
	// every instance.
	if recorded, err := q.SetTOTPStep(ctx, u.ID, step); err != nil || !recorded {
		return false, err
	}
	u.TOTPLastStep = step
	return true, nil
}

// enrolmentCode is the first code of a key the account does not hold yet: the one its sign-in
// or profile offered. Any step is new to a new key; the step is kept with the key.
type enrolmentCode struct {
	key  []byte
	code string
}

func (enrolmentCode) method() Method { return MethodTOTP }

func (c enrolmentCode) check(_ context.Context, _ *Service, _ store.Queries, u *store.User, now time.Time) (bool, error) {
	step, ok := otp.Verify(c.key, c.code, now, otp.Default, totpSkew, -1)
	if ok {
		u.TOTPLastStep = step
	}
	return ok, nil
}

// Malformed versus wrong (SPEC §3): input that cannot be a code is refused with 400
// invalid_request before anything is read, checked or counted; a well-formed code that is
// wrong goes through checkSecondFactor and is counted.

// checkTOTPFormat refuses a TOTP code that is not exactly 6 digits.
func checkTOTPFormat(code string) error {
	if len(code) != 6 {
		return errs.E(errs.Invalid, "A code is exactly 6 digits.")
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return errs.E(errs.Invalid, "A code is exactly 6 digits.")
		}
	}
	return nil
}

// parseProof answers the proof sent to the verification step: exactly one of a TOTP code and
// a backup code (in any case, with or without dashes and spaces).
func parseProof(code, backup string) (proof, error) {
	switch {
	case code != "" && backup != "":
		return nil, errs.E(errs.Invalid, "Send either code or backup_code, not both.")
	case code == "" && backup == "":
		return nil, errs.E(errs.Invalid, "Send a 6-digit code or a backup code.")
	case code != "":
		if err := checkTOTPFormat(code); err != nil {
			return nil, err
		}
		return totpCode(code), nil
	}
	normalized, err := backupcode.Normalize(backup)
	if err != nil {
		return nil, errs.E(errs.Invalid, "A backup code is 16 letters and digits, as xxxx-xxxx-xxxx-xxxx.")
	}
	return backupCode(normalized), nil
}

// codeRefused is the one answer to a well-formed code that is refused, wrong or reused alike
// (SPEC §3): it says that a code works once, so that someone who typed a code twice within its
// 30 seconds knows to wait for the next one.
func codeRefused(m Method) error {
	if m == MethodSecurityKey {
		return errs.E(errs.InvalidCode, "The security key was refused. Try again: each attempt needs a new request from this page.")
	}
	if m == MethodBackupCode {
		return errs.E(errs.InvalidCode, "The backup code is wrong or was already used. Each backup code works once.")
	}
	return errs.E(errs.InvalidCode, "The code is wrong or was already used. Each code works once: "+
		"if you have just used this one, wait for your app to show the next code and enter that.")
}

// factorCheck is one second-factor check: whose, with what proof, and what a success does.
type factorCheck struct {
	// load reads and locks the account, inside the check's transaction, with the sign-in or
	// session the proof came with (the failure that locks ends it when it is an unfinished
	// sign-in), and refuses, before anything is checked or counted, a check that their current
	// state no longer allows. readAccount is the load of a request that has read its session.
	load  func(q store.Queries) (*store.User, *store.Session, error)
	proof proof
	// passed finishes a success in the same transaction.
	passed func(q store.Queries, u *store.User) error
}

// readAccount is the load of a check made by a request that has read its sign-in or session,
// sess, already: it reads the account again and locks it, with the sign-in or session still
// there (stillLive), and ready, when set, refuses what the account's current state no longer
// allows (enrolled or reset since the request began).
func (s *Service) readAccount(ctx context.Context, sess *store.Session, ready func(u *store.User) error) func(q store.Queries) (*store.User, *store.Session, error) {
	return func(q store.Queries) (*store.User, *store.Session, error) {
		_, u, err := s.stillLive(ctx, q, sess.IDHash)
		if err != nil {
			return nil, nil, err
		}
		if ready != nil {
			if err := ready(u); err != nil {
				return nil, nil, err
			}
		}
		return u, sess, nil
	}
}

// checkSecondFactor runs c in one transaction that reads and locks the account, refuses while
// its second factor is locked (neither checking nor counting), counts the failure before the
// check, checks the proof, and either resets the count and runs c.passed or writes the failure
// and the lock it reaches (lockout.go). A refusal commits what it counted and is answered after
// the commit, with the notice of a lock it began; the caller sends a success's notices.
func (s *Service) checkSecondFactor(ctx context.Context, c factorCheck) error {
	var refusal error
	var locked *store.User
	err := s.store.Update(ctx, func(q store.Queries) error {
		refusal, locked = nil, nil
		u, sess, err := c.load(q)
		if err != nil {
			return err
		}
		now := s.now()
		if SecondFactorLockedAt(u, now) {
			return secondFactorLocked(u)
		}
		u.MFAFailures++ // counted before the check: nothing is checked that is not counted
		ok, err := c.proof.check(ctx, s, q, u, now)
		if err != nil {
			return err
		}
		if !ok {
			var lockedNow bool
			if refusal, lockedNow, err = s.secondFactorFailed(ctx, q, u, sess, c.proof.method()); lockedNow {
				locked = u
			}
			if err != nil {
				return err
			}
			refusal, err = s.noteClockDrift(ctx, q, u, c.proof, now, refusal)
			return err
		}
		// A success resets the count and any lock. When there is nothing to reset (the stored
		// count was 0, no lock), the row already holds the count that UpdateUser would write (a
		// code's step is written by its conditional write; enrolment writes the account in
		// passed): skipping it spares the usual sign-in one statement inside the serialised
		// write transaction.
		reset := u.MFAFailures > 1 || !u.MFALockedUntil.IsZero() || u.MFALockedForever
		clearSecondFactorFailures(u)
		if reset {
			if err := q.UpdateUser(ctx, u); err != nil {
				return err
			}
			// A failure since the last success may have kept a wrong code's offset (drift.go).
			if err := q.DeleteCodeDrift(ctx, u.ID); err != nil {
				return err
			}
		}
		return c.passed(q, u)
	})
	if err != nil {
		return err
	}
	if locked != nil {
		s.notify(ctx, locked, noticeLocked)
	}
	return refusal
}
