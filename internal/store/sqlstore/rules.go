package sqlstore

import (
	"context"
	"errors"
	"strconv"

	"github.com/twofold-auth/twofold/internal/store"
)

// The access rules of forward auth (SPEC §8): an ordered list renumbered in one transaction.

// AccessRuleColumns are the columns an access rule is read with, in order.
const AccessRuleColumns = `id, position, hosts, path, methods, subjects, policy, created_at`

// accessRulesVersion is the meta key that counts the changes of the rules.
const accessRulesVersion = "access_rules_version"

// AccessRules answers every rule, in position order.
func (q Queries) AccessRules(ctx context.Context) ([]*store.AccessRule, error) {
	return list(ctx, q, "access rules", accessRule, `SELECT `+AccessRuleColumns+` FROM access_rules ORDER BY position`)
}

// AccessRulesVersion answers the count of changes kept in meta, 0 before the first.
func (q Queries) AccessRulesVersion(ctx context.Context) (int64, error) {
	v, err := q.Meta(ctx, accessRulesVersion)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}

// lockRules moves the version on as the first write of a change (lockMeta), so that the
// changes of several instances take turns and each reads the list the one before it left.
func (q Queries) lockRules(ctx context.Context) error {
	return q.lockMeta(ctx, accessRulesVersion)
}

// countRules answers how many rules there are.
func (q Queries) countRules(ctx context.Context) (int, error) {
	var n int
	err := q.queryRow(ctx, `SELECT count(*) FROM access_rules`).Scan(&n)
	return n, q.err("count access rules", err)
}

// shiftRules adds delta to the positions from lo to hi. It goes through negative positions,
// so that the unique index never meets two rules at one position in the middle of the
// statement, whatever order the database updates the rows in.
func (q Queries) shiftRules(ctx context.Context, lo, hi, delta int) error {
	if lo > hi {
		return nil
	}
	if _, err := q.exec(ctx, `UPDATE access_rules SET position = -(position + ?) WHERE position >= ? AND position <= ?`,
		delta, lo, hi); err != nil {
		return q.err("renumber access rules", err)
	}
	_, err := q.exec(ctx, `UPDATE access_rules SET position = -position WHERE position < 0`)
	return q.err("renumber access rules", err)
}

// ruleAt answers the rule at position n.
func (q Queries) ruleAt(ctx context.Context, n int) (*store.AccessRule, error) {
	r, err := accessRule(q.queryRow(ctx, `SELECT `+AccessRuleColumns+` FROM access_rules WHERE position = ?`, n))
	if err != nil {
		return nil, q.err("access rule "+strconv.Itoa(n), err)
	}
	return r, nil
}

// AddAccessRule inserts r at position, or appends it when position is 0.
func (q Queries) AddAccessRule(ctx context.Context, r *store.AccessRule, position int) error {
	return q.atomic(ctx, func(q Queries) error {
		if err := q.lockRules(ctx); err != nil {
			return err
		}
		n, err := q.countRules(ctx)
		if err != nil {
			return err
		}
		if position == 0 {
			position = n + 1
		}
		if position < 1 || position > n+1 {
			return store.ErrNotFound
		}
		if err := q.shiftRules(ctx, position, n, 1); err != nil {
			return err
		}
		err = q.queryRow(ctx, `INSERT INTO access_rules (position, hosts, path, methods, subjects, policy, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			position, ListText(r.Hosts), r.Path, ListText(r.Methods), ListText(r.Subjects), r.Policy, Nanos(r.CreatedAt)).Scan(&r.ID)
		if err != nil {
			return q.err("add access rule", err)
		}
		r.Position = position
		return nil
	})
}

// RemoveAccessRule removes the rule at n and closes the gap.
func (q Queries) RemoveAccessRule(ctx context.Context, n int) (*store.AccessRule, error) {
	var removed *store.AccessRule
	err := q.atomic(ctx, func(q Queries) error {
		if err := q.lockRules(ctx); err != nil {
			return err
		}
		r, err := q.ruleAt(ctx, n)
		if err != nil {
			return err
		}
		if _, err := q.exec(ctx, `DELETE FROM access_rules WHERE id = ?`, r.ID); err != nil {
			return q.err("remove access rule", err)
		}
		count, err := q.countRules(ctx)
		if err != nil {
			return err
		}
		removed = r
		return q.shiftRules(ctx, n+1, count+1, -1)
	})
	return removed, err
}

// MoveAccessRule moves the rule at n to m.
func (q Queries) MoveAccessRule(ctx context.Context, n, m int) (*store.AccessRule, error) {
	var moved *store.AccessRule
	err := q.atomic(ctx, func(q Queries) error {
		if err := q.lockRules(ctx); err != nil {
			return err
		}
		count, err := q.countRules(ctx)
		if err != nil {
			return err
		}
		if m < 1 || m > count {
			return store.ErrNotFound
		}
		r, err := q.ruleAt(ctx, n)
		if err != nil {
			return err
		}
		if n == m {
			moved = r
			return nil
		}
		// Out of the way at 0, which no rule holds, while the others make room.
		if _, err := q.exec(ctx, `UPDATE access_rules SET position = 0 WHERE id = ?`, r.ID); err != nil {
			return q.err("move access rule", err)
		}
		if m > n {
			err = q.shiftRules(ctx, n+1, m, -1)
		} else {
			err = q.shiftRules(ctx, m, n-1, 1)
		}
		if err != nil {
			return err
		}
		if _, err := q.exec(ctx, `UPDATE access_rules SET position = ? WHERE id = ?`, m, r.ID); err != nil {
			return q.err("move access rule", err)
		}
		r.Position, moved = m, r
		return nil
	})
	return moved, err
}

// accessRule reads a row of AccessRuleColumns.
func accessRule(row Scanner) (*store.AccessRule, error) {
	var (
		r                        store.AccessRule
		hosts, methods, subjects string
		created                  int64
	)
	if err := row.Scan(&r.ID, &r.Position, &hosts, &r.Path, &methods, &subjects, &r.Policy, &created); err != nil {
		return nil, err
	}
	r.CreatedAt = Time(created)
	var err error
	if r.Hosts, err = List(hosts); err != nil {
		return nil, err
	}
	if r.Methods, err = List(methods); err != nil {
		return nil, err
	}
	if r.Subjects, err = List(subjects); err != nil {
		return nil, err
	}
	return &r, nil
}

func accessRuleValues(r *store.AccessRule) []any {
	return []any{r.ID, r.Position, ListText(r.Hosts), r.Path, ListText(r.Methods), ListText(r.Subjects), r.Policy, Nanos(r.CreatedAt)}
}
