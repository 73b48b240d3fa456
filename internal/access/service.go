package access

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twofold-auth/twofold/internal/authz"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/store"
)

// MaxAge is how long the cache trusts the rules it read before it asks the store whether they
// changed (one small read of their version; the rules themselves are read and compiled again
// only when it moved). A change saved by another instance or by the command line is therefore
// in force everywhere within MaxAge, well within the 5 seconds of SPEC §8; one saved through
// this Service is in force here at once.
const MaxAge = time.Second

// Config is what a Service is made of.
type Config struct {
	Store store.Store
	// Options is the options cache, for accessDefaultPolicy.
	Options *options.Cache
	// Now is the time of the cache and of the audit trail (time.Now).
	Now func() time.Time
}

// Service keeps the access rules: the administrators' use cases (rules.go) and, as a Source,
// the rules in force for every proxied request, from a cache.
type Service struct {
	store store.Store
	opts  *options.Cache
	now   func() time.Time

	mu        sync.Mutex
	rules     []authz.Rule // compiled, in order; nil until first read
	version   int64        // the store's AccessRulesVersion that rules were read at
	checkedAt time.Time    // when version was last compared with the store's
	set       *Set         // rules with the default last answered, reused while both hold
}

var _ Source = (*Service)(nil)

// New makes a Service.
func New(c Config) *Service {
	s := &Service{store: c.Store, opts: c.Options, now: c.Now}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Current answers the rules in force and the default policy. When either cannot be read the
// error is returned, never an older reading: the caller refuses (fails closed).
func (s *Service) Current(ctx context.Context) (*Set, error) {
	vals, err := s.opts.Get(ctx)
	if err != nil {
		return nil, err
	}
	def := vals.AccessDefaultPolicy()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refresh(ctx); err != nil {
		return nil, err
	}
	if s.set == nil || s.set.Default != def {
		s.set = &Set{Rules: s.rules, Default: def}
	}
	return s.set, nil
}

// refresh reads the rules again when they are older than MaxAge and the store's version moved;
// s.mu is held.
func (s *Service) refresh(ctx context.Context) error {
	now := s.now()
	if s.rules != nil && now.Sub(s.checkedAt) < MaxAge && !now.Before(s.checkedAt) {
		return nil
	}
	// The version first: a change committed between the two reads leaves a newer list under
	// an older version, which only costs one more reading next time.
	v, err := s.store.AccessRulesVersion(ctx)
	if err != nil {
		return fmt.Errorf("access rules: %w", err)
	}
	if s.rules != nil && v == s.version {
		s.checkedAt = now
		return nil
	}
	stored, err := s.store.AccessRules(ctx)
	if err != nil {
		return fmt.Errorf("access rules: %w", err)
	}
	rules := make([]authz.Rule, len(stored))
	for i, r := range stored {
		rules[i] = ruleOf(r)
		// A stored rule this version cannot compile is not skipped: skipping a deny rule would
		// let through what it denies.
		if err := rules[i].Compile(); err != nil {
			return fmt.Errorf("access rule %d: %w", i+1, err)
		}
	}
	s.rules, s.version, s.checkedAt, s.set = rules, v, now, nil
	return nil
}

// invalidate makes the next Current read the rules: a change of this instance is in force at
// once.
func (s *Service) invalidate() {
	s.mu.Lock()
	s.rules, s.set = nil, nil
	s.mu.Unlock()
}

func ruleOf(r *store.AccessRule) authz.Rule {
	return authz.Rule{Hosts: r.Hosts, Path: r.Path, Methods: r.Methods, Subjects: r.Subjects, Policy: r.Policy}
}
