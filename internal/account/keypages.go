package account

import "context"

// KeyOffered answers whether the sign-in of token is offered a security key at its current step
// (SPEC §9), for the pages: at enrolment whenever keys can be used here (mfaWebAuthn yes and a
// relying party id that is a domain name or localhost), at Verification Required when the
// account also holds a usable key. Other steps answer false.
func (s *Service) KeyOffered(ctx context.Context, token string) (bool, error) {
	si, err := s.open(ctx, token)
	if err != nil {
		return false, err
	}
	switch si.next {
	case StepEnroll, StepEnrollOptional, StepVerify:
	default:
		return false, nil
	}
	o, err := s.opts.Get(ctx)
	if err != nil {
		return false, err
	}
	if s.keysAllowed(o) != nil {
		return false, nil
	}
	return si.next != StepVerify || si.user.SecurityKey, nil
}
