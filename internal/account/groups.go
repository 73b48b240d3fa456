package account

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/store"
)

// ActionGroupsChanged is the audit action of a change of an account's groups.
const ActionGroupsChanged = "user.groups_changed"

// groupRE is a group name (SPEC §8): 1 to 64 characters of a-z, 0-9, '.', '_' and '-'. Unlike
// a username it is not folded to lower case: a name that is not typed as it is kept is refused,
// so that what an access rule or a client restriction names is exactly what an account holds.
var groupRE = regexp.MustCompile(`^[a-z0-9._-]{1,64}$`)

// CheckGroupName refuses a name that is not a group name, saying the rule; field names the
// request's field in the refusal.
func CheckGroupName(field, name string) error {
	if !groupRE.MatchString(name) {
		return errs.E(errs.Invalid, "A group name is 1 to 64 characters of a-z (lower case), 0-9, '.', '_' and '-': %q in %s is not one.",
			name, field).About(field)
	}
	return nil
}

// InGroup reports whether the principal's account belonged to the group name when the session
// was read (store.User.InGroup), for the parts that decide by group: forward auth's rules, the
// provider's claims and client restrictions.
func (p *Principal) InGroup(name string) bool { return p.user.InGroup(name) }

// Groups answers the principal's groups, sorted (a copy; empty when none).
func (p *Principal) Groups() []string { return append([]string{}, p.user.Groups...) }

// GroupList reads the names typed into one field, a command line flag's value or a page's text
// box, separated by commas. Nothing is trimmed or dropped: the names are checked as typed.
func GroupList(text string) []string { return strings.Split(text, ",") }

// GroupChange is a change of an account's groups as an administrator asks for it (the body of
// POST /admin/users/{username}/groups): the groups to add and the groups to remove.
type GroupChange struct {
	Add    []string `json:"add"`
	Remove []string `json:"remove"`
}

// check refuses a change that names a group badly, or one group both to add and to remove.
func (c GroupChange) check() error {
	for _, n := range c.Add {
		if err := CheckGroupName("add", n); err != nil {
			return err
		}
	}
	for _, n := range c.Remove {
		if err := CheckGroupName("remove", n); err != nil {
			return err
		}
		if slices.Contains(c.Add, n) {
			return errs.E(errs.Invalid, "The group %q is both to add and to remove.", n).About("remove")
		}
	}
	return nil
}

// apply answers groups with the change made (sorted, each once), and what it added and removed
// that was not so already.
func (c GroupChange) apply(groups []string) (out, added, removed []string) {
	for _, n := range groups {
		if slices.Contains(c.Remove, n) {
			removed = append(removed, n)
		} else {
			out = append(out, n)
		}
	}
	for _, n := range c.Add {
		if !slices.Contains(out, n) {
			out, added = append(out, n), append(added, n)
		}
	}
	slices.Sort(out)
	slices.Sort(added)
	return out, added, removed
}

// ChangeGroups adds and removes groups of an account in one transaction, under the account's
// lock, so that changes made at once are all kept. Adding a group the account has, or removing
// one it has not, changes nothing; a change that changes nothing is not audited. Every name is
// checked first: one refused name changes nothing.
func (s *Service) ChangeGroups(ctx context.Context, a Actor, username string, c GroupChange) (*UserView, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	var user *store.User
	err := s.store.Update(ctx, func(q store.Queries) error {
		u, err := s.userByName(ctx, q, username)
		if err != nil {
			return err
		}
		if u, err = q.User(ctx, u.ID); err != nil { // lock the row
			return err
		}
		user = u
		groups, added, removed := c.apply(u.Groups)
		if len(added) == 0 && len(removed) == 0 {
			return nil
		}
		u.Groups = groups
		if err := q.UpdateUser(ctx, u); err != nil {
			return err
		}
		var detail []string
		if len(added) > 0 {
			detail = append(detail, "added "+strings.Join(added, ","))
		}
		if len(removed) > 0 {
			detail = append(detail, "removed "+strings.Join(removed, ","))
		}
		return s.audit(ctx, q, a.Name, u.Username, ActionGroupsChanged, strings.Join(detail, "; "))
	})
	return s.viewOf(ctx, user, err)
}
