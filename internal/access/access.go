// Package access holds the access rules of forward auth (SPEC §8): their storage, their
// administration and the cache through which every proxied request meets them. The decision
// itself is package authz's pure function.
package access

import (
	"context"

	"github.com/twofold-auth/twofold/internal/authz"
)

// Set is the rules in force and the default policy (the option accessDefaultPolicy).
type Set struct {
	Rules   []authz.Rule // compiled, in order
	Default string
}

// Source answers the rules in force; the service's cache is one, and tests give fixed ones.
type Source interface {
	Current(ctx context.Context) (*Set, error)
}

// Static is a fixed Set, for tests.
type Static Set

// Current answers the fixed set.
func (s *Static) Current(context.Context) (*Set, error) { return (*Set)(s), nil }

// Check decides a proxied request for who (nil without a session) by the rules in force.
func Check(ctx context.Context, src Source, t authz.Target, who *authz.Who) (authz.Decision, error) {
	set, err := src.Current(ctx)
	if err != nil {
		return authz.Decision{}, err
	}
	return authz.Decide(set.Rules, set.Default, t, who), nil
}
