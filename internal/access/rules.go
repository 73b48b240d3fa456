package access

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/authz"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/store"
)

// Audit actions of an administrator's changes to the access rules.
const (
	ActionRuleAdded   = "access.rule_added"
	ActionRuleRemoved = "access.rule_removed"
	ActionRuleMoved   = "access.rule_moved"
)

// RuleSpec is an access rule as an administrator writes it (the body of POST /admin/rules,
// the flags of rule add, the page's form); AddRule checks it whole.
type RuleSpec struct {
	Hosts    []string `json:"hosts"`
	Path     string   `json:"path"`
	Methods  []string `json:"methods"`
	Subjects []string `json:"subjects"`
	Policy   string   `json:"policy"`
}

// RuleView is a rule as administrators see it: the one JSON shape of a rule for the API and
// the command line. Position is counted from 1, as people count.
type RuleView struct {
	Position  int       `json:"position"`
	Hosts     []string  `json:"hosts"`
	Path      string    `json:"path"`
	Methods   []string  `json:"methods"`
	Subjects  []string  `json:"subjects"`
	Policy    string    `json:"policy"`
	CreatedAt time.Time `json:"created_at"`
}

// String says the rule on one line, as the audit trail and the command line show it.
func (v *RuleView) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: host %s", v.Policy, strings.Join(v.Hosts, ", "))
	if v.Path != "" {
		fmt.Fprintf(&b, "; path %s", v.Path)
	}
	if len(v.Methods) > 0 {
		fmt.Fprintf(&b, "; method %s", strings.Join(v.Methods, ", "))
	}
	if len(v.Subjects) > 0 {
		fmt.Fprintf(&b, "; subject %s", strings.Join(v.Subjects, ", "))
	}
	return b.String()
}

func view(r *store.AccessRule) *RuleView {
	list := func(l []string) []string {
		if l == nil {
			return []string{}
		}
		return l
	}
	return &RuleView{Position: r.Position, Hosts: list(r.Hosts), Path: r.Path, Methods: list(r.Methods),
		Subjects: list(r.Subjects), Policy: r.Policy, CreatedAt: r.CreatedAt.UTC()}
}

func requireAdmin(a account.Actor) error {
	if !a.Admin {
		return errs.E(errs.Forbidden, "Only administrators may do this.")
	}
	return nil
}

// check answers the rule of spec, compiled, or the refusal naming the field that is wrong.
// Hosts are folded to lower case and methods to upper case, as both are read without regard
// to case; everything else is taken as typed.
func (spec RuleSpec) check() (authz.Rule, error) {
	r := authz.Rule{Path: spec.Path, Policy: strings.TrimSpace(spec.Policy)}
	for _, h := range spec.Hosts {
		r.Hosts = append(r.Hosts, strings.ToLower(strings.TrimSpace(h)))
	}
	for _, m := range spec.Methods {
		r.Methods = append(r.Methods, strings.ToUpper(strings.TrimSpace(m)))
	}
	for _, s := range spec.Subjects {
		r.Subjects = append(r.Subjects, strings.TrimSpace(s))
	}
	if !utf8.ValidString(r.Path) || strings.ContainsFunc(r.Path, account.UnsafeRune) {
		return r, errs.E(errs.Invalid, "The path expression may not contain control characters (such as line breaks, tabs or terminal escapes) or bidirectional overrides: write \\t or \\x1b for them.").About("path")
	}
	if err := r.Compile(); err != nil {
		return r, refusal(err)
	}
	return r, nil
}

// refusal makes authz's reason an invalid_request about the field it names.
func refusal(err error) error {
	msg := err.Error()
	field := "hosts"
	switch {
	case strings.HasPrefix(msg, "the policy"):
		field = "policy"
	case strings.HasPrefix(msg, "the path"), strings.HasPrefix(msg, "a path"):
		field = "path"
	case strings.HasPrefix(msg, "the method"):
		field = "methods"
	case strings.HasPrefix(msg, "the subject"):
		field = "subjects"
	}
	first, size := utf8.DecodeRuneInString(msg)
	return errs.E(errs.Invalid, "%c%s.", unicode.ToUpper(first), msg[size:]).About(field)
}

// Rules lists the rules in order.
func (s *Service) Rules(ctx context.Context, a account.Actor) ([]*RuleView, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	rs, err := s.store.AccessRules(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*RuleView, len(rs))
	for i, r := range rs {
		out[i] = view(r)
	}
	return out, nil
}

// AddRule saves the rule of spec at position (from 1; 0 appends), moving the rule there and
// those after it one down. A rule that breaks a rule of SPEC §8 is refused with the reason and
// the field, and nothing is stored.
func (s *Service) AddRule(ctx context.Context, a account.Actor, spec RuleSpec, position int) (*RuleView, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	r, err := spec.check()
	if err != nil {
		return nil, err
	}
	if position < 0 {
		return nil, s.badPosition(ctx, position, 1)
	}
	stored := &store.AccessRule{Hosts: r.Hosts, Path: r.Path, Methods: r.Methods, Subjects: r.Subjects,
		Policy: r.Policy, CreatedAt: s.now()}
	err = s.store.Update(ctx, func(q store.Queries) error {
		if err := q.AddAccessRule(ctx, stored, position); err != nil {
			return err
		}
		return s.audit(ctx, q, a, ActionRuleAdded, fmt.Sprintf("rule %d, %s", stored.Position, view(stored)))
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, s.badPosition(ctx, position, 1)
	}
	if err != nil {
		return nil, err
	}
	s.invalidate()
	return view(stored), nil
}

// RemoveRule removes the rule at position n; those after it move one up.
func (s *Service) RemoveRule(ctx context.Context, a account.Actor, n int) (*RuleView, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	var removed *store.AccessRule
	err := s.store.Update(ctx, func(q store.Queries) error {
		var err error
		if removed, err = q.RemoveAccessRule(ctx, n); err != nil {
			return err
		}
		return s.audit(ctx, q, a, ActionRuleRemoved, fmt.Sprintf("rule %d, %s", n, view(removed)))
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, errs.E(errs.NotFound, "There is no rule %d.", n)
	}
	if err != nil {
		return nil, err
	}
	s.invalidate()
	return view(removed), nil
}

// MoveRule moves the rule at position n to position m; the rules between make room.
func (s *Service) MoveRule(ctx context.Context, a account.Actor, n, m int) (*RuleView, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	var moved *store.AccessRule
	err := s.store.Update(ctx, func(q store.Queries) error {
		var err error
		if moved, err = q.MoveAccessRule(ctx, n, m); err != nil {
			return err
		}
		return s.audit(ctx, q, a, ActionRuleMoved, fmt.Sprintf("rule %d to %d, %s", n, m, view(moved)))
	})
	if errors.Is(err, store.ErrNotFound) {
		count, cerr := s.count(ctx)
		switch {
		case cerr != nil:
			return nil, cerr
		case n < 1 || n > count:
			return nil, errs.E(errs.NotFound, "There is no rule %d.", n)
		}
		return nil, s.badPosition(ctx, m, 0)
	}
	if err != nil {
		return nil, err
	}
	s.invalidate()
	return view(moved), nil
}

func (s *Service) count(ctx context.Context) (int, error) {
	rs, err := s.store.AccessRules(ctx)
	return len(rs), err
}

// badPosition refuses a position beyond the list; beyond is how many places past the last
// rule the position may go (1 for a new rule, 0 for a move).
func (s *Service) badPosition(ctx context.Context, position, beyond int) error {
	count, err := s.count(ctx)
	if err != nil {
		return err
	}
	if count+beyond == 0 {
		return errs.E(errs.Invalid, "There is no rule to move.").About("position")
	}
	return errs.E(errs.Invalid, "The position %d is not one of 1 to %d.", position, count+beyond).About("position")
}

func (s *Service) audit(ctx context.Context, q store.Queries, a account.Actor, action, detail string) error {
	return q.AddEvent(ctx, &store.Event{At: s.now(), Actor: a.Name, Action: action, Detail: detail})
}

// CheckResult is what `rule check` answers: the deciding rule and its policy, and why each
// rule before it did not match.
type CheckResult struct {
	// Decision is "rule 3: two_factor" or "default: deny".
	Decision string `json:"decision"`
	// Rule is the deciding rule's position, 0 for the default.
	Rule   int    `json:"rule"`
	Policy string `json:"policy"`
	// Outcome is authz's: allow, sign_in, second_factor or forbidden, for the person named
	// with a second factor proved, or for a request without a session.
	Outcome string `json:"outcome"`
	// Why says, for each rule before the deciding one, why it did not match.
	Why []string `json:"why"`
}

// CheckURL answers which rule decides a request of method to rawURL by username (""
// for a request without a session; the account's groups count) under the rules in force now.
func (s *Service) CheckURL(ctx context.Context, a account.Actor, rawURL, username, method string) (*CheckResult, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	t, err := authz.ParseTarget(strings.TrimSpace(method), strings.TrimSpace(rawURL))
	if err != nil {
		field := "url"
		if strings.Contains(err.Error(), "method") {
			field = "method"
		}
		return nil, refusal(err).(*errs.Error).About(field)
	}
	var who *authz.Who
	if username != "" {
		name, err := account.NormalizeUsername(strings.TrimSpace(username))
		if err != nil {
			return nil, err.(*errs.Error).About("user")
		}
		u, err := s.store.UserByName(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errs.E(errs.NotFound, "There is no account %q.", name).About("user")
		}
		if err != nil {
			return nil, err
		}
		who = &authz.Who{Username: u.Username, Groups: u.Groups, SecondFactor: true}
	}
	d, err := Check(ctx, s, t, who)
	if err != nil {
		return nil, err
	}
	res := &CheckResult{Rule: d.Rule + 1, Policy: d.Policy, Outcome: d.Outcome, Why: d.Why}
	if res.Why == nil {
		res.Why = []string{}
	}
	if d.Rule < 0 {
		res.Decision = "default: " + d.Policy
	} else {
		res.Decision = fmt.Sprintf("rule %d: %s", d.Rule+1, d.Policy)
	}
	return res, nil
}
