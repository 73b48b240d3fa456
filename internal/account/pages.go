package account

import "context"

// Issuer answers the issuer that authenticator apps show (option mfaIssuer), for pages that
// name what a key or a backup code is for.
func (s *Service) Issuer(ctx context.Context) (string, error) {
	o, err := s.opts.Get(ctx)
	if err != nil {
		return "", err
	}
	return o.Issuer(), nil
}

// SecondFactorLock answers the lock that a sign-in at the verification step meets: the Locked
// error a code check would answer, or nil when the second factor is not locked. Pages use it to
// show the lock instead of a code field nobody can use.
func (s *Service) SecondFactorLock(ctx context.Context, token string) (lock, err error) {
	si, err := s.load(ctx, token, StepVerify)
	if err != nil {
		return nil, err
	}
	if u := si.user; SecondFactorLockedAt(u, s.now()) {
		return secondFactorLocked(u), nil
	}
	return nil, nil
}
