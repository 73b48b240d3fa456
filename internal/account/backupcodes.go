package account

// Backup codes (SPEC §3 "Backup codes"): how they are issued, used, rotated, regenerated and
// turned off. Their alphabet, format and MAC are package backupcode's.

import (
	"context"
	"fmt"
	"time"

	"github.com/twofold-auth/twofold/internal/backupcode"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/store"
)

// lowBackupCodes is how few unused codes after a backup-code sign-in make the answer say so
// (backup_codes_low).
const lowBackupCodes = 2

// errBackupCodesOff answers a backup code or a regeneration while enableMFABackupCodes is no:
// it is refused before anything is checked or counted.
var errBackupCodesOff = errs.E(errs.Forbidden, "Backup codes are turned off for this application.")

// backupCode is a normalised backup code, used up by the conditional write that finds it.
type backupCode string

func (backupCode) method() Method { return MethodBackupCode }

func (c backupCode) check(ctx context.Context, s *Service, q store.Queries, u *store.User, now time.Time) (bool, error) {
	return q.UseBackupCode(ctx, u.ID, backupcode.MAC(s.keys.BackupMACKey(), u.BackupSalt, string(c)), now)
}

// addBackupCodes makes n codes, stores their MACs and answers them formatted for display.
func (s *Service) addBackupCodes(ctx context.Context, q store.Queries, u *store.User, n int) ([]string, error) {
	codes, err := backupcode.Generate(s.rand, n)
	if err != nil {
		return nil, err
	}
	macs := make([][]byte, len(codes))
	shown := make([]string, len(codes))
	for i, c := range codes {
		macs[i] = backupcode.MAC(s.keys.BackupMACKey(), u.BackupSalt, c)
		shown[i] = backupcode.Format(c)
	}
	return shown, q.AddBackupCodes(ctx, u.ID, macs)
}

// backupCodeUsed issues the replacement code when codes rotate and fills in what is left.
func (s *Service) backupCodeUsed(ctx context.Context, q store.Queries, u *store.User, o *options.Values, step *Step) error {
	step.UsedBackupCode = true
	if o.RotateBackupCodes() {
		codes, err := s.addBackupCodes(ctx, q, u, 1)
		if err != nil {
			return err
		}
		step.NewBackupCode = codes[0]
	}
	n, err := q.CountBackupCodes(ctx, u.ID)
	if err != nil {
		return err
	}
	step.BackupCodesRemaining, step.BackupCodesLow = n, n <= lowBackupCodes
	detail := fmt.Sprintf("%d left", n)
	if step.NewBackupCode != "" {
		detail += ", one new code issued"
	}
	return s.audit(ctx, q, u.Username, u.Username, "mfa.backup_code_used", detail)
}

// errNoAuthenticator answers a regeneration for an account that has no key to prove.
var errNoAuthenticator = errs.E(errs.Conflict, "Set up MFA first: this account has no authenticator.")

// RegenerateBackupCodes checks the current TOTP code and replaces every backup code with new
// ones.
func (s *Service) RegenerateBackupCodes(ctx context.Context, p *Principal, code string) ([]string, error) {
	if err := checkTOTPFormat(code); err != nil {
		return nil, err
	}
	o, err := s.opts.Get(ctx)
	switch {
	case err != nil:
		return nil, err
	case !o.BackupCodesEnabled():
		return nil, errBackupCodesOff
	case !p.user.Enrolled():
		return nil, errNoAuthenticator
	}
	return s.regenerate(ctx, p, o, totpCode(code), func(u *store.User) error {
		if !u.Enrolled() {
			return errNoAuthenticator
		}
		return nil
	})
}

// RegenerateBackupCodesWithKey is RegenerateBackupCodes with a security key's assertion as the
// proof (credential, begun by BeginKeyProof), for any account with a usable key: one whose
// only second factor is a key has no code to give.
func (s *Service) RegenerateBackupCodesWithKey(ctx context.Context, p *Principal, credential []byte) ([]string, error) {
	o, err := s.opts.Get(ctx)
	if err != nil {
		return nil, err
	}
	if !o.BackupCodesEnabled() {
		return nil, errBackupCodesOff
	}
	kp, err := s.keyProof(o, p, credential)
	if err != nil {
		return nil, err
	}
	if !p.user.SecurityKey {
		return nil, errNoKey
	}
	codes, err := s.regenerate(ctx, p, o, kp, func(u *store.User) error {
		if !u.SecurityKey {
			return errNoKey
		}
		return nil
	})
	s.clonedKey(ctx, p.user, kp.cloned)
	return codes, err
}

// regenerate replaces every backup code of p with new ones once pr is proved; ready refuses,
// before anything is checked or counted, an account that has nothing pr could prove.
func (s *Service) regenerate(ctx context.Context, p *Principal, o *options.Values, pr proof, ready func(*store.User) error) ([]string, error) {
	var codes []string
	err := s.checkSecondFactor(ctx, factorCheck{load: s.readAccount(ctx, p.session, ready), proof: pr,
		passed: func(q store.Queries, u *store.User) error {
			if err := q.DeleteBackupCodes(ctx, u.ID); err != nil {
				return err
			}
			var err error
			if codes, err = s.addBackupCodes(ctx, q, u, o.BackupCodeCount()); err != nil {
				return err
			}
			return s.audit(ctx, q, u.Username, u.Username, "mfa.backup_codes_regenerated",
				"every earlier code voided, proved with a "+string(pr.method()))
		}})
	if err != nil {
		return nil, err
	}
	s.notify(ctx, p.user, noticeRegenerated)
	return codes, nil
}

// BackupCodesEnabled reports whether backup codes may be used now (enableMFABackupCodes), so
// that a page offers "Use a backup code" only when it can work.
func (s *Service) BackupCodesEnabled(ctx context.Context) (bool, error) {
	o, err := s.opts.Get(ctx)
	if err != nil {
		return false, err
	}
	return o.BackupCodesEnabled(), nil
}
