package store

import (
	"context"
	"time"
)

// AccessRule is one access rule of forward auth (SPEC §8) as it is kept. What a rule may say
// (hosts, path expression, methods, subjects, policy) is package authz's rule; the store keeps
// the text and the order.
type AccessRule struct {
	ID int64
	// Position is the rule's place in the ordered list, from 1; positions are 1 to the number
	// of rules, each once.
	Position int
	Hosts    []string
	// Path is a regular expression, "" for any path.
	Path string
	// Methods and Subjects are nil for any method and anyone.
	Methods   []string
	Subjects  []string
	Policy    string
	CreatedAt time.Time
}

// AccessRuleQueries keep the ordered list of access rules. Every change renumbers the rules in
// one transaction that first takes the list's lock (on every backend, across instances), so
// that changes made at once never leave two rules at one position or a gap, and every change
// moves AccessRulesVersion on.
type AccessRuleQueries interface {
	// AccessRules answers every rule, in position order.
	AccessRules(ctx context.Context) ([]*AccessRule, error)
	// AccessRulesVersion answers a number that changes with every committed change of the
	// rules (0 before the first), so that a cache can tell cheaply whether to read them again.
	AccessRulesVersion(ctx context.Context) (int64, error)
	// AddAccessRule inserts r at position (1 to the number of rules plus one), moving the rule
	// there and those after it one down; position 0 appends. It sets r.ID and r.Position.
	// ErrNotFound when position is beyond the end plus one.
	AddAccessRule(ctx context.Context, r *AccessRule, position int) error
	// RemoveAccessRule removes the rule at position n, moves those after it one up and
	// answers the rule removed. ErrNotFound when there is no rule at n.
	RemoveAccessRule(ctx context.Context, n int) (*AccessRule, error)
	// MoveAccessRule moves the rule at position n to position m, the rules between moving one
	// place to make room, and answers the rule moved (at m). ErrNotFound when there is no rule
	// at n or at m.
	MoveAccessRule(ctx context.Context, n, m int) (*AccessRule, error)
}
