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
