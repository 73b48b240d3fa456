package account

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/keys"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/otp"
	"github.com/twofold-auth/twofold/internal/password"
	"github.com/twofold-auth/twofold/internal/store"
)

// Step is the answer to a sign-in step: what comes next and the new session token (the id
// changes at every step).
type Step struct {
	Next  string
	Token string
	// BackupCodes are shown once, after enrolment.
	BackupCodes []string
	// After a backup-code sign-in: how many codes are left, whether that is few, and the code
	// issued in place of the used one when codes rotate.
	BackupCodesRemaining int
	BackupCodesLow       bool
	NewBackupCode        string
	UsedBackupCode       bool
	// ReturnTo is where a finished sign-in goes (an application's authorization, a protected
	// address), when it was started on the way there; empty for the profile.
	ReturnTo string
	// DeviceToken, after a second factor proved with "Remember this device" ticked, is the
	// device cookie to set for DeviceMaxAge (SPEC §10).
	DeviceToken  string
	DeviceMaxAge time.Duration
}

// Enrollment is what an authenticator app needs to add the account.
type Enrollment struct {
	AccountName string
	Issuer      string
	Secret      string // base32, upper case, no padding
	Algorithm   string
	Digits      int
	Period      int
	URI         string
	QRPNG       []byte
}

// QRDataURI answers the QR code as a data: URI for an <img> or JSON.
func (e *Enrollment) QRDataURI() string {
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(e.QRPNG)
}

// SignInRequest is the password step.
type SignInRequest struct {
	Username string
	Password string
	// Addr is the client address, for the per-address limit.
	Addr string
	// Token is the cookie the client held, if any: a new sign-in replaces it.
	Token string
	// ReturnTo is where to go once the sign-in is done; see ReturnTarget.
	ReturnTo string
	// RequireMFA says the sign-in is for an application that needs a second factor (SPEC §7):
	// one is asked whatever the policy, and "Skip for now" is not offered.
	RequireMFA bool
	// DeviceToken is the remembered-device cookie the client held, if any (SPEC §10).
	DeviceToken string
}

var errBadCredentials = errs.E(errs.InvalidCredentials, "The username or password is wrong.")

// SignIn is the password step (SPEC §3.1). Its checks come in this order: the limits that
// guessPassword applies (client address, username lock, then the hash; lockout.go), an SSO
// account answered without hashing whatever the password (SPEC §1), and only after a right
// password the refusals that tell an account exists: disabled, temporary password expired,
// second factor locked.
func (s *Service) SignIn(ctx context.Context, r SignInRequest) (Step, error) {
	username, err := NormalizeUsername(r.Username)
	if err != nil {
		return Step{}, err
	}
	if err := s.SignOut(ctx, r.Token); err != nil { // a new sign-in replaces what the cookie held
		return Step{}, err
	}
	o, err := s.opts.Get(ctx)
	if err != nil {
		return Step{}, err
	}
	now := s.now()
	var u *store.User
	err = s.guessPassword(ctx, username, r.Addr, func() (bool, error) {
		var err error
		u, err = s.store.UserByName(ctx, username)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return false, err
		}
		if u != nil && u.Source == store.SourceSSO {
			return false, errs.E(errs.SSOAccount, "This account signs in through your organisation's identity provider: use \"Login with the identity provider\".")
		}
		return s.verifyPassword(ctx, u, r.Password)
	})
	if err != nil {
		return Step{}, err
	}

	token, hash, err := s.newToken()
	if err != nil {
		return Step{}, err
	}
	returnTo := s.ReturnTarget(r.ReturnTo)
	var next string
	err = s.store.Update(ctx, func(q store.Queries) error {
		// The account as it is now, locked: a new password, an MFA reset or disabling either
		// committed before this transaction, and is seen here, or waits for it and then ends
		// the session made here. The password was checked against the hash read before
		// hashing: another hash now (none, too, once linked to the identity provider) means it
		// is no longer the account's password.
		cur, err := q.User(ctx, u.ID)
		if errors.Is(err, store.ErrNotFound) {
			return errBadCredentials
		}
		if err != nil {
			return err
		}
		if cur.PasswordHash != u.PasswordHash {
			return errBadCredentials
		}
		switch {
		case cur.Disabled:
			return errs.E(errs.AccountDisabled, "This account is disabled. Contact your administrator.")
		case cur.PasswordTemporary && !now.Before(cur.PasswordExpiresAt):
			return errs.EAt(errs.TemporaryExpired, cur.PasswordExpiresAt,
				"Your temporary password expired on %s. Ask your administrator for a new one.")
		}
		if err := secondFactorBarsPassword(cur, o, now); err != nil {
			return err
		}
		sess, err := s.newSession(hash, cur, []string{AMRPassword})
		if err != nil {
			return err
		}
		sess.MFARequired = r.RequireMFA
		device, err := s.rememberedDevice(ctx, q, cur, o, r.DeviceToken)
		if err != nil {
			return err
		}
		sess.DeviceRemembered = device != nil
		next = nextStep(cur, sess, o)
		sess.Done = next == StepDone
		if !sess.Done {
			sess.ReturnTo = returnTo
		}
		if err := q.CreateSession(ctx, sess); err != nil {
			return err
		}
		if deviceSkips(cur, sess, o) && next != StepVerify {
			if err := q.TouchRememberedDevice(ctx, device.ID, now); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		if sess.Done {
			return s.audit(ctx, q, cur.Username, cur.Username, "signin", signinDetail(sess, ""))
		}
		return nil
	})
	if err != nil {
		return Step{}, err
	}
	return finished(Step{Next: next, Token: token}, returnTo), nil
}

// verifyPassword checks pw against the account's hash, or spends the same work when there is
// no account, so that the answer takes about as long either way.
func (s *Service) verifyPassword(ctx context.Context, u *store.User, pw string) (bool, error) {
	if pw == "" || utf8.RuneCountInString(pw) > password.MaxLength {
		return false, nil
	}
	var ok, replace bool
	var err error
	if u == nil || u.PasswordHash == "" {
		err = s.hasher.VerifyDummy(ctx, pw)
	} else {
		ok, replace, err = s.hasher.Verify(ctx, pw, u.PasswordHash)
	}
	if errors.Is(err, password.ErrBusy) {
		return false, busy()
	}
	if replace {
		s.upgradeHash(ctx, u, pw)
	}
	return ok, err
}

// upgradeHash replaces the hash of u's right password pw, made at a lower cost than the
// server's (serve --argon2), with one at the server's cost (SPEC §5), and updates u to match.
// It replaces only the hash it was given: a password changed meanwhile is left alone, and u
// keeps the hash it was given, which the sign-in then finds replaced. A hash replaced
// meanwhile by another sign-in's upgrade of the same password is taken as the account's, once
// pw is checked against it, so that two right passwords at once both sign in. The upgrade is
// best effort: when it fails the old hash still works, and the next sign-in tries again; it
// never fails the caller.
func (s *Service) upgradeHash(ctx context.Context, u *store.User, pw string) {
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		s.log.Warn("password hash not upgraded", "user", u.Username, "error", err)
		return
	}
	var now string
	err = s.store.Update(ctx, func(q store.Queries) error {
		cur, err := q.User(ctx, u.ID)
		if err != nil {
			return err
		}
		if now = cur.PasswordHash; now != u.PasswordHash {
			return nil
		}
		cur.PasswordHash, now = hash, hash
		return q.UpdateUser(ctx, cur)
	})
	if err != nil {
		s.log.Warn("password hash not upgraded", "user", u.Username, "error", err)
		return
	}
	if now != hash {
		if ok, _, err := s.hasher.Verify(ctx, pw, now); err != nil || !ok {
			return // a new password: the sign-in with this one is refused
		}
	}
	u.PasswordHash = now
}

// nextStep computes the first requirement not yet met, from the current options and account.
// An application's demand for a second factor (MFARequired, SPEC §7) comes first and is met
// only by proving one, whatever the policy: it never offers "Skip for now", and a remembered
// device never meets it. The policy's second factor is skipped by a remembered device
// (deviceSkips), never its enrolment.
func nextStep(u *store.User, sess *store.Session, o *options.Values) string {
	if sess.MFARequired && !sess.MFAPassed {
		if hasSecondFactor(u, o) {
			return StepVerify
		}
		return StepEnroll
	}
	if sess.Done {
		return StepDone
	}
	if policy := o.Policy(u.Kind); policy != options.PolicyOff && !sess.MFAPassed && !deviceSkips(u, sess, o) {
		switch {
		case hasSecondFactor(u, o):
			return StepVerify
		case policy == options.PolicyRequired:
			return StepEnroll
		case !sess.MFASkipped:
			return StepEnrollOptional
		}
	}
	if u.PasswordTemporary {
		return StepChangePassword
	}
	return StepDone
}

// signin is an unfinished sign-in with its account and the current options.
type signin struct {
	sess *store.Session
	user *store.User
	opts *options.Values
	next string
}

// open answers the sign-in or session of token with its account, the current options and its
// current step.
func (s *Service) open(ctx context.Context, token string) (*signin, error) {
	sess, u, err := s.current(ctx, token)
	if err != nil {
		return nil, err
	}
	o, err := s.opts.Get(ctx)
	if err != nil {
		return nil, err
	}
	return &signin{sess: sess, user: u, opts: o, next: nextStep(u, sess, o)}, nil
}

// load answers the sign-in of token, refusing with 409 conflict unless its current step is one
// of want.
func (s *Service) load(ctx context.Context, token string, want ...string) (*signin, error) {
	si, err := s.open(ctx, token)
	if err != nil {
		return nil, err
	}
	for _, w := range want {
		if si.next == w {
			return si, nil
		}
	}
	return nil, conflictStep(si.next)
}

func conflictStep(next string) error {
	return &errs.Error{Code: errs.Conflict, Next: next,
		Message: fmt.Sprintf("This is not the current step of your sign-in; the current step is %s.", next)}
}

// State answers the current step and username of a sign-in or session.
func (s *Service) State(ctx context.Context, token string) (next, username string, err error) {
	si, err := s.load(ctx, token, StepEnroll, StepEnrollOptional, StepVerify, StepChangePassword, StepDone)
	if err != nil {
		return "", "", err
	}
	return si.next, si.user.Username, nil
}

// advance moves a sign-in on inside a transaction: it gives the session a new id, marks it done
// when nothing is left, and writes it in place of the old one.
func (s *Service) advance(ctx context.Context, q store.Queries, sess *store.Session, u *store.User, o *options.Values) (Step, error) {
	return s.advanceWith(ctx, q, sess, u, o, "", "")
}

// advanceWith is advance after a second factor passed by method m, which how names in the
// "signin" audit event (MethodTOTP, MethodBackupCode, or "totp (enrolment)").
func (s *Service) advanceWith(ctx context.Context, q store.Queries, sess *store.Session, u *store.User, o *options.Values, m Method, how string) (Step, error) {
	old := sess.IDHash
	token, hash, err := s.newToken()
	if err != nil {
		return Step{}, err
	}
	ns := *sess
	if m != "" {
		ns.AMR = secondFactorAMR(sess.AMR, m)
	}
	next := nextStep(u, &ns, o)
	ns.IDHash, ns.Done = hash, next == StepDone
	if ns.Done {
		ns.MFARequired, ns.ReturnTo, ns.LastSeenAt = false, "", s.now()
	} // else it keeps when it began: a sign-in expires SignInLifetime after that, however many steps it takes (current)
	if err := q.ReplaceSession(ctx, old, &ns); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Step{}, errNotSignedIn
		}
		return Step{}, err
	}
	if ns.Done && !sess.Done {
		if err := s.audit(ctx, q, u.Username, u.Username, "signin", signinDetail(sess, how)); err != nil {
			return Step{}, err
		}
	} else if ns.Done && sess.MFARequired && how != "" {
		if err := s.audit(ctx, q, u.Username, u.Username, ActionStepUp, how); err != nil {
			return Step{}, err
		}
	}
	return finished(Step{Next: next, Token: token}, sess.ReturnTo), nil
}

// signinDetail is the detail of the "signin" audit event of sess finished by a second factor
// how names, if any.
func signinDetail(sess *store.Session, how string) string {
	detail := "password"
	switch {
	case how != "":
		detail += " and " + how
	case sess.MFAPassed: // proved earlier in this sign-in, before a new password was chosen
		detail += " and a second factor"
	case sess.DeviceRemembered:
		detail += " on a remembered device"
	}
	return detail
}

// Enroll shows the key that this sign-in offers for enrolment, making it on the first call.
func (s *Service) Enroll(ctx context.Context, token string) (*Enrollment, error) {
	si, err := s.load(ctx, token, StepEnroll, StepEnrollOptional)
	if err != nil {
		return nil, err
	}
	return s.pendingKey(ctx, si.sess, si.user, si.opts)
}

// PendingEnrollment answers the key that Enroll (during sign-in) or BeginEnroll (from the
// profile) made for this sign-in or session, without making one: nil when there is none yet.
// It changes nothing, so a page can show the key again on every GET.
func (s *Service) PendingEnrollment(ctx context.Context, token string) (*Enrollment, error) {
	si, err := s.open(ctx, token)
	if err != nil {
		return nil, err
	}
	sess, u, o := si.sess, si.user, si.opts
	if !sess.Done {
		if si.next != StepEnroll && si.next != StepEnrollOptional {
			return nil, conflictStep(si.next)
		}
	} else if !sess.Reauthenticated || s.canEnroll(u, o) != nil {
		return nil, nil
	}
	if sess.PendingKey == nil {
		return nil, nil
	}
	key, err := s.keys.OpenPending(pendingLabel(u), sess.PendingKey)
	if err != nil {
		return nil, fmt.Errorf("open pending key: %w", err)
	}
	return enrollment(u.Username, o.Issuer(), key)
}

// pendingKey answers the session's pending enrolment key, making and storing one if it has none.
func (s *Service) pendingKey(ctx context.Context, sess *store.Session, u *store.User, o *options.Values) (*Enrollment, error) {
	if sess.PendingKey == nil {
		key, err := otp.GenerateKey(s.rand)
		if err != nil {
			return nil, err
		}
		sealed, err := s.keys.SealPending(pendingLabel(u), key, s.rand)
		if err != nil {
			return nil, err
		}
		err = s.store.Update(ctx, func(q store.Queries) error {
			cur, err := q.Session(ctx, sess.IDHash)
			if errors.Is(err, store.ErrNotFound) {
				return errNotSignedIn
			}
			if err != nil {
				return err
			}
			if cur.PendingKey == nil { // a request beside this one may have made it first
				cur.PendingKey = sealed
				if err := q.ReplaceSession(ctx, cur.IDHash, cur); err != nil {
					return err
				}
			}
			*sess = *cur
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	key, err := s.keys.OpenPending(pendingLabel(u), sess.PendingKey)
	if err != nil {
		return nil, fmt.Errorf("open pending key: %w", err)
	}
	return enrollment(u.Username, o.Issuer(), key)
}

func pendingLabel(u *store.User) string { return "user " + strconv.FormatInt(u.ID, 10) }

func enrollment(account, issuer string, key []byte) (*Enrollment, error) {
	uri := otp.KeyURI(issuer, account, key, otp.Default)
	png, err := otp.QRPNG(uri, 256)
	if err != nil {
		return nil, err
	}
	return &Enrollment{AccountName: account, Issuer: issuer, Secret: otp.EncodeKey(key),
		Algorithm: otp.Default.Algorithm.String(), Digits: otp.Default.Digits, Period: otp.Default.Period,
		URI: uri, QRPNG: png}, nil
}

// VerifyEnroll checks the first code of the pending key and, when it is right, enrols the
// account: key, backup codes and enrolled flag in one transaction.
func (s *Service) VerifyEnroll(ctx context.Context, token, code string) (Step, error) {
	if err := checkTOTPFormat(code); err != nil {
		return Step{}, err
	}
	si, err := s.load(ctx, token, StepEnroll, StepEnrollOptional)
	if err != nil {
		return Step{}, err
	}
	if si.sess.PendingKey == nil {
		return Step{}, &errs.Error{Code: errs.Conflict, Next: si.next,
			Message: "Start enrolment first: there is no key to verify yet."}
	}
	return s.completeEnrollment(ctx, si.sess, si.user, code, func(q store.Queries, sess *store.Session, u *store.User) (Step, error) {
		sess.MFAPassed = true
		return s.advanceWith(ctx, q, sess, u, si.opts, MethodTOTP, string(MethodTOTP)+" (enrolment)")
	})
}

// completeEnrollment is the enrolment shared by sign-in and profile: the code of the pending key
// goes through the second-factor check, and a success stores the key and codes and lets then
// finish the session's part in the same transaction.
func (s *Service) completeEnrollment(ctx context.Context, sess *store.Session, user *store.User, code string,
	then func(q store.Queries, sess *store.Session, u *store.User) (Step, error)) (Step, error) {
	key, err := s.keys.OpenPending(pendingLabel(user), sess.PendingKey)
	if err != nil {
		return Step{}, fmt.Errorf("open pending key: %w", err)
	}
	o, err := s.opts.Get(ctx)
	if err != nil {
		return Step{}, err
	}
	var step Step
	err = s.checkSecondFactor(ctx, factorCheck{proof: enrolmentCode{key: key, code: code},
		load: s.readAccount(ctx, sess, func(u *store.User) error {
			if u.Enrolled() {
				return &errs.Error{Code: errs.Conflict, Next: StepVerify, Message: "This account is already enrolled."}
			}
			return nil
		}),
		passed: func(q store.Queries, u *store.User) error {
			// An account whose second factor is a usable security key adds the app as a second
			// method (from the profile): its backup codes stay as they are.
			beside := hasSecondFactor(u, o)
			var err error
			if u.TOTPKey, err = s.keys.SealTOTP(u.ID, keys.Version, key, s.rand); err != nil {
				return err
			}
			u.TOTPKeyVersion = keys.Version
			if err := q.UpdateUser(ctx, u); err != nil {
				return err
			}
			if beside {
				sess.PendingKey = nil
				if step, err = then(q, sess, u); err != nil {
					return err
				}
				return s.audit(ctx, q, u.Username, u.Username, "mfa.enrolled",
					"authenticator app added beside a security key, backup codes kept")
			}
			step, err = s.enrolled(ctx, q, sess, u, o, "", func(sess *store.Session) (Step, error) { return then(q, sess, u) })
			return err
		}})
	if err != nil {
		return Step{}, err
	}
	s.notify(ctx, user, noticeEnrolled)
	return step, nil
}

// enrolled finishes an enrolment inside its transaction, once the second factor (a TOTP key,
// or a security key when how says so) is stored: new backup codes in place of any earlier
// ones, the pending TOTP key discarded, then's part of the session, and the audit.
func (s *Service) enrolled(ctx context.Context, q store.Queries, sess *store.Session, u *store.User, o *options.Values,
	how string, then func(sess *store.Session) (Step, error)) (Step, error) {
	if err := q.DeleteBackupCodes(ctx, u.ID); err != nil {
		return Step{}, err
	}
	var codes []string
	if o.BackupCodesEnabled() {
		var err error
		if codes, err = s.addBackupCodes(ctx, q, u, o.BackupCodeCount()); err != nil {
			return Step{}, err
		}
	}
	sess.PendingKey = nil
	step, err := then(sess)
	if err != nil {
		return Step{}, err
	}
	step.BackupCodes = codes
	detail := fmt.Sprintf("%d backup codes issued", len(codes))
	if how != "" {
		detail = how + ", " + detail
	}
	return step, s.audit(ctx, q, u.Username, u.Username, "mfa.enrolled", detail)
}

// SkipEnroll is "Skip for now" under an optional policy.
func (s *Service) SkipEnroll(ctx context.Context, token string) (Step, error) {
	si, err := s.load(ctx, token, StepEnrollOptional)
	if err != nil {
		return Step{}, err
	}
	var step Step
	err = s.store.Update(ctx, func(q store.Queries) error {
		si.sess.MFASkipped, si.sess.PendingKey = true, nil
		step, err = s.advance(ctx, q, si.sess, si.user, si.opts)
		return err
	})
	return step, err
}

// Verify is the "Verification Required" step: a TOTP code or a backup code.
func (s *Service) Verify(ctx context.Context, token, code, backup string) (Step, error) {
	return s.VerifyDevice(ctx, token, code, backup, DeviceRequest{})
}

// verifySignIn is the "Verification Required" step of the sign-in of token, with p, whatever
// its method (a code, a backup code, a security key). The sign-in and its account
// are read inside the transaction that checks p, after the account's lock, so the step costs
// no read before it and acts on the sign-in as it is then: one that has expired, was moved on
// by another request or is not at this step, or a method the options turn off, is refused in
// that order, before anything is checked or counted. checkSecondFactor checks p, and a success
// moves the sign-in on, remembers the browser when dev asks for it and, for a backup code, does
// what its use asks (backupCodeUsed), in the same transaction; the mails of a used backup code
// follow the commit. The account is answered once the sign-in was read and found live, for the
// caller's notices.
func (s *Service) verifySignIn(ctx context.Context, token string, p proof, dev DeviceRequest) (Step, *store.User, error) {
	if !validToken(token) {
		return Step{}, nil, errNotSignedIn
	}
	o, err := s.opts.Get(ctx)
	if err != nil {
		return Step{}, nil, err
	}
	hash := hashToken(token)
	var step Step
	var sess *store.Session
	var user *store.User
	err = s.checkSecondFactor(ctx, factorCheck{proof: p,
		load: func(q store.Queries) (*store.User, *store.Session, error) {
			var err error
			if sess, user, err = s.liveSession(ctx, q, hash); err != nil {
				return nil, nil, err
			}
			if next := nextStep(user, sess, o); next != StepVerify {
				return nil, nil, conflictStep(next)
			}
			if err := s.methodAllowed(p.method(), o); err != nil {
				return nil, nil, err
			}
			return user, sess, nil
		},
		passed: func(q store.Queries, u *store.User) error {
			sess.MFAPassed = true
			var err error
			if step, err = s.advanceWith(ctx, q, sess, u, o, p.method(), string(p.method())); err != nil {
				return err
			}
			if err := s.rememberDevice(ctx, q, u, o, dev, &step); err != nil {
				return err
			}
			if p.method() == MethodBackupCode {
				return s.backupCodeUsed(ctx, q, u, o, &step)
			}
			return nil
		}})
	if err != nil {
		return Step{}, user, s.endExpired(ctx, hash, err)
	}
	if step.UsedBackupCode {
		s.notify(ctx, user, noticeBackupUsed)
		if step.NewBackupCode != "" {
			s.notify(ctx, user, noticeBackupReplaced)
		}
	}
	return step, user, nil
}

// VerifyDevice is Verify that also remembers the browser when dev asks for it (SPEC §10):
// the step then carries the device cookie.
func (s *Service) VerifyDevice(ctx context.Context, token, code, backup string, dev DeviceRequest) (Step, error) {
	p, err := parseProof(code, backup)
	if err != nil {
		return Step{}, err
	}
	step, _, err := s.verifySignIn(ctx, token, p, dev)
	return step, err
}

// methodAllowed refuses a second factor of method m that the options turn off.
func (s *Service) methodAllowed(m Method, o *options.Values) error {
	switch m {
	case MethodBackupCode:
		if !o.BackupCodesEnabled() {
			return errBackupCodesOff
		}
	case MethodSecurityKey:
		return s.keysAllowed(o)
	}
	return nil
}

// ChangeTemporaryPassword is the new-password step of a first sign-in.
func (s *Service) ChangeTemporaryPassword(ctx context.Context, token, newPassword string) (Step, error) {
	si, err := s.load(ctx, token, StepChangePassword)
	if err != nil {
		return Step{}, err
	}
	return s.setPassword(ctx, si.sess, si.user, newPassword, "temporary password replaced")
}

// SignOut ends the sign-in or session of token on the server, and queues the back-channel
// logout of the applications that received tokens in it (SPEC §7 "Logout").
func (s *Service) SignOut(ctx context.Context, token string) error {
	if !validToken(token) {
		return nil
	}
	hash := hashToken(token)
	sess, err := s.store.Session(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	queued := 0
	err = s.store.Update(ctx, func(q store.Queries) error {
		// The account first, then the session: the order of every transaction that locks both.
		if err := store.LockUser(ctx, q, sess.UserID); err != nil {
			return err
		}
		cur, err := q.Session(ctx, hash)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := q.DeleteSession(ctx, hash); err != nil {
			return err
		}
		queued, err = s.sessionsEnded(ctx, q, cur.UserID, []string{cur.SID})
		return err
	})
	if err != nil {
		return err
	}
	if queued > 0 {
		s.wakeLogouts()
	}
	return nil
}
