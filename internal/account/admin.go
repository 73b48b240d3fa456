package account

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twofold-auth/twofold/internal/backupcode"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/store"
)

func requireAdmin(a Actor) error {
	if !a.Admin {
		return errs.E(errs.Forbidden, "Only administrators may do this.")
	}
	return nil
}

// Options lists the options whose key or description contains search.
func (s *Service) Options(ctx context.Context, a Actor, search string) ([]OptionView, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	stored, err := s.store.Options(ctx)
	if err != nil {
		return nil, err
	}
	v := options.NewValues(stored)
	out := []OptionView{} // a list, also when nothing matches
	for _, o := range options.Search(search) {
		out = append(out, OptionView{Option: o, Value: v.Get(o.Key)})
	}
	return out, nil
}

// OptionChange is one option's value before and after a change.
type OptionChange struct {
	options.Option
	Old, New string
}

// OptionErrors says, per option key, why a typed value was refused. It unwraps to the first
// refusal in the registry's order, so that it answers like that one error.
type OptionErrors map[string]error

func (e OptionErrors) Error() string { return e.Unwrap().Error() }

// Unwrap answers the first refusal in the registry's order.
func (e OptionErrors) Unwrap() error {
	for _, o := range options.All() {
		if err, ok := e[o.Key]; ok {
			return err
		}
	}
	for _, err := range e { // a key that is no option
		return err
	}
	return nil
}

// CheckOptions normalises and validates typed values (key to value) and answers the changes
// they would make to the current values, in the registry's order; nothing is saved. Every
// refused value is named in an OptionErrors.
func (s *Service) CheckOptions(ctx context.Context, a Actor, typed map[string]string) ([]OptionChange, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	stored, err := s.store.Options(ctx)
	if err != nil {
		return nil, err
	}
	return planOptions(options.NewValues(stored), typed)
}

// planOptions is CheckOptions against the values current.
func planOptions(current *options.Values, typed map[string]string) ([]OptionChange, error) {
	bad := OptionErrors{}
	values := map[string]string{}
	for key, value := range typed {
		if err := checkText("value of "+key, value); err != nil {
			bad[key] = err
			continue
		}
		v, err := options.Validate(key, value)
		if err != nil {
			bad[key] = err
			continue
		}
		values[key] = v
	}
	if len(bad) > 0 {
		return nil, bad
	}
	var changes []OptionChange
	for _, o := range options.All() {
		if v, ok := values[o.Key]; ok && v != current.Get(o.Key) {
			changes = append(changes, OptionChange{Option: o, Old: current.Get(o.Key), New: v})
		}
	}
	return changes, nil
}

// SetOptions validates typed values (key to value) and saves them all in one transaction,
// auditing each change with its old and new value: either every value is saved or, when one
// is refused, none is. It answers the changes made.
func (s *Service) SetOptions(ctx context.Context, a Actor, typed map[string]string) ([]OptionChange, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	var changes []OptionChange
	err := s.store.Update(ctx, func(q store.Queries) error {
		stored, err := q.LockOptions(ctx)
		if err != nil {
			return err
		}
		if changes, err = planOptions(options.NewValues(stored), typed); err != nil {
			return err
		}
		for _, c := range changes {
			if err := q.SetOption(ctx, c.Key, c.New); err != nil {
				return err
			}
			if err := s.audit(ctx, q, a.Name, "", "option.changed", fmt.Sprintf("%s: %s -> %s", c.Key, c.Old, c.New)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.opts.Invalidate()
	return changes, nil
}

// SetOption validates and saves one option, auditing the old and new value.
func (s *Service) SetOption(ctx context.Context, a Actor, key, value string) (*OptionView, error) {
	if _, err := s.SetOptions(ctx, a, map[string]string{key: value}); err != nil {
		return nil, err
	}
	o, _ := options.Lookup(key)
	v, err := options.Validate(key, value)
	if err != nil {
		return nil, err
	}
	return &OptionView{Option: o, Value: v}, nil
}

func (s *Service) view(ctx context.Context, u *store.User) (*UserView, error) {
	me, err := s.Me(ctx, &Principal{user: u})
	if err != nil {
		return nil, err
	}
	now := s.now()
	v := &UserView{Me: *me, Disabled: u.Disabled, MFALocked: SecondFactorLockedAt(u, now),
		Groups: append([]string{}, u.Groups...), CreatedAt: u.CreatedAt.UTC()}
	if SecondFactorLockedAt(u, now) && !u.MFALockedForever {
		t := u.MFALockedUntil.UTC()
		v.MFALockedUntil = &t
	}
	pl, err := s.store.PasswordFailures(ctx, s.nameKey(u.Username), now)
	if err != nil {
		return nil, err
	}
	if passwordLocked(pl, now) {
		t := pl.LockedUntil.UTC()
		v.PasswordLockedUntil = &t
	}
	return v, nil
}

// Users lists every account, newest first.
func (s *Service) Users(ctx context.Context, a Actor) ([]*UserView, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	users, err := s.store.Users(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*UserView, 0, len(users))
	for _, u := range users {
		v, err := s.view(ctx, u)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// User answers one account.
func (s *Service) User(ctx context.Context, a Actor, username string) (*UserView, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	u, err := s.userByName(ctx, s.store, username)
	if err != nil {
		return nil, err
	}
	return s.view(ctx, u)
}

func (s *Service) userByName(ctx context.Context, q store.Queries, username string) (*store.User, error) {
	name, err := NormalizeUsername(username)
	if err != nil {
		return nil, err
	}
	u, err := q.UserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errs.E(errs.NotFound, "There is no account %q.", name)
	}
	return u, err
}

func (n *NewUser) normalize() error {
	var err error
	if n.Username, err = NormalizeUsername(n.Username); err != nil {
		return errs.As(err).About("username")
	}
	if err := checkText("email", n.Email); err != nil {
		return err
	}
	addr, err := mail.ParseAddress(n.Email)
	if err != nil || addr.Name != "" || addr.Address != strings.TrimSpace(n.Email) || len(n.Email) > 254 {
		return errs.E(errs.Invalid, "The email must be a plain address such as name@example.com.")
	}
	n.Email = addr.Address
	// White space around a name is never meant (a form's field keeps what was pasted into it).
	n.Name = strings.TrimSpace(n.Name)
	if err := checkText("name", n.Name); err != nil {
		return err
	}
	if utf8.RuneCountInString(n.Name) > 128 {
		return errs.E(errs.Invalid, "The name may have at most 128 characters.")
	}
	choose := func(v *string, field, def string, allowed ...string) error {
		if *v == "" {
			*v = def
		}
		for _, a := range allowed {
			if *v == a {
				return nil
			}
		}
		return errs.E(errs.Invalid, "%s must be one of %s.", field, strings.Join(allowed, ", "))
	}
	if err := choose(&n.Kind, "kind", store.KindInternal, store.KindInternal, store.KindExternal); err != nil {
		return err
	}
	if err := choose(&n.Source, "source", store.SourceLocal, store.SourceLocal, store.SourceSSO); err != nil {
		return err
	}
	return choose(&n.Role, "role", store.RoleUser, store.RoleUser, store.RoleAdmin)
}

// CreateUser makes an account with a temporary password (none for SSO accounts) and sends the
// "Password Generated" and "New Password" emails. It answers the temporary password too, for
// the bootstrap admin; other callers drop it.
func (s *Service) CreateUser(ctx context.Context, a Actor, n NewUser) (*UserView, string, error) {
	if err := requireAdmin(a); err != nil {
		return nil, "", err
	}
	if err := n.normalize(); err != nil {
		return nil, "", err
	}
	o, err := s.opts.Get(ctx)
	if err != nil {
		return nil, "", err
	}
	salt, err := backupcode.NewSalt(s.rand)
	if err != nil {
		return nil, "", err
	}
	u := &store.User{Username: n.Username, Email: n.Email, Name: n.Name, Kind: n.Kind, Source: n.Source,
		Role: n.Role, BackupSalt: salt, CreatedAt: s.now()}
	var pw string
	if n.Source == store.SourceLocal {
		if pw, u.PasswordHash, u.PasswordExpiresAt, err = s.temporaryPassword(ctx, o); err != nil {
			return nil, "", err
		}
		u.PasswordTemporary = true
	}
	err = s.store.Update(ctx, func(q store.Queries) error {
		if err := q.CreateUser(ctx, u); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return errs.E(errs.Conflict, "The username %q is taken.", u.Username).About("username")
			}
			return err
		}
		return s.audit(ctx, q, a.Name, u.Username, "user.created",
			fmt.Sprintf("kind %s, source %s, role %s", u.Kind, u.Source, u.Role))
	})
	if err != nil {
		return nil, "", err
	}
	if err := s.sendPasswordGenerated(ctx, u); err != nil {
		return nil, "", err
	}
	if pw != "" {
		if err := s.sendNewPassword(ctx, u, pw, u.PasswordExpiresAt); err != nil {
			return nil, "", err
		}
	}
	v, err := s.view(ctx, u)
	return v, pw, err
}

// change loads an account by name inside a transaction, applies fn and audits action.
func (s *Service) change(ctx context.Context, a Actor, username, action string, fn func(q store.Queries, u *store.User) (string, error)) (*store.User, error) {
	if err := requireAdmin(a); err != nil {
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
		detail, err := fn(q, u)
		if err != nil {
			return err
		}
		user = u
		return s.audit(ctx, q, a.Name, u.Username, action, detail)
	})
	if err == nil {
		s.wakeLogouts() // the change may have ended the account's sessions
	}
	return user, err
}

func (s *Service) viewOf(ctx context.Context, u *store.User, err error) (*UserView, error) {
	if err != nil {
		return nil, err
	}
	return s.view(ctx, u)
}

// ResetMFA removes the account's key, last step, backup codes, sign-ins and sessions and clears
// its second-factor count, for a new device. withPassword also voids the password and emails a
// new temporary one.
func (s *Service) ResetMFA(ctx context.Context, a Actor, username string, withPassword bool) (*UserView, error) {
	o, err := s.opts.Get(ctx)
	if err != nil {
		return nil, err
	}
	var pw, hash string
	var expires time.Time
	if withPassword {
		if err := requireAdmin(a); err != nil {
			return nil, err
		}
		if pw, hash, expires, err = s.temporaryPassword(ctx, o); err != nil {
			return nil, err
		}
	}
	u, err := s.change(ctx, a, username, "mfa.reset", func(q store.Queries, u *store.User) (string, error) {
		if u.Source == store.SourceSSO {
			return "", errs.E(errs.Conflict, "SSO accounts have no MFA here.")
		}
		detail := "key, security keys, backup codes and sessions removed"
		if withPassword {
			u.PasswordHash, u.PasswordTemporary, u.PasswordExpiresAt = hash, true, expires
			detail += "; new temporary password sent"
		}
		if err := dropSecondFactors(ctx, q, u); err != nil {
			return "", err
		}
		return detail, s.endSessions(ctx, q, u.ID, nil)
	})
	if err != nil {
		return nil, err
	}
	s.notify(ctx, u, noticeReset)
	if withPassword {
		if err := s.sendNewPassword(ctx, u, pw, expires); err != nil {
			return nil, err
		}
	}
	return s.viewOf(ctx, u, nil)
}

// Unlock ends the account's second-factor lock and password lock and clears both counts.
func (s *Service) Unlock(ctx context.Context, a Actor, username string) (*UserView, error) {
	u, err := s.change(ctx, a, username, "user.unlocked", func(q store.Queries, u *store.User) (string, error) {
		clearSecondFactorFailures(u)
		if err := q.UpdateUser(ctx, u); err != nil {
			return "", err
		}
		return "second-factor and password counts cleared", q.ClearPasswordFailures(ctx, s.nameKey(u.Username))
	})
	return s.viewOf(ctx, u, err)
}

// ResetPassword sends a new temporary password, voiding the old password and ending the
// account's sessions.
func (s *Service) ResetPassword(ctx context.Context, a Actor, username string) (*UserView, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	o, err := s.opts.Get(ctx)
	if err != nil {
		return nil, err
	}
	target, err := s.userByName(ctx, s.store, username)
	if err != nil {
		return nil, err
	}
	if target.Source == store.SourceSSO {
		return nil, errs.E(errs.Conflict, "SSO accounts have no password here.")
	}
	pw, hash, expires, err := s.temporaryPassword(ctx, o)
	if err != nil {
		return nil, err
	}
	u, err := s.change(ctx, a, username, "password.reset", func(q store.Queries, u *store.User) (string, error) {
		u.PasswordHash, u.PasswordTemporary, u.PasswordExpiresAt = hash, true, expires
		if err := q.UpdateUser(ctx, u); err != nil {
			return "", err
		}
		return "new temporary password sent, sessions ended", s.endSessions(ctx, q, u.ID, nil)
	})
	if err != nil {
		return nil, err
	}
	if err := s.sendNewPassword(ctx, u, pw, expires); err != nil {
		return nil, err
	}
	return s.viewOf(ctx, u, nil)
}

// dropSecondFactors removes every second factor of u inside the transaction of q, writing the
// caller's other changes to u with it: the TOTP key, the backup codes and the security keys,
// and the failures and lock of the second factor.
func dropSecondFactors(ctx context.Context, q store.Queries, u *store.User) error {
	u.TOTPKey, u.TOTPKeyVersion, u.TOTPLastStep = nil, 0, 0
	clearSecondFactorFailures(u)
	if err := q.UpdateUser(ctx, u); err != nil {
		return err
	}
	if err := q.DeleteBackupCodes(ctx, u.ID); err != nil {
		return err
	}
	if err := q.DeleteWebAuthnCredentials(ctx, u.ID); err != nil {
		return err
	}
	u.SecurityKey = false
	return nil
}

// SetDisabled disables (ending every session) or enables an account.
func (s *Service) SetDisabled(ctx context.Context, a Actor, username string, disabled bool) (*UserView, error) {
	action := map[bool]string{true: "user.disabled", false: "user.enabled"}[disabled]
	u, err := s.change(ctx, a, username, action, func(q store.Queries, u *store.User) (string, error) {
		if disabled && a.UserID != 0 && u.ID == a.UserID {
			return "", errs.E(errs.Conflict, "You cannot disable your own account.")
		}
		u.Disabled = disabled
		if err := q.UpdateUser(ctx, u); err != nil {
			return "", err
		}
		if disabled {
			return "sessions ended", s.endSessions(ctx, q, u.ID, nil)
		}
		return "", nil
	})
	return s.viewOf(ctx, u, err)
}

// Audit lists audit events, newest first. The filter is checked here whole, as the front
// ends received it: a username by the username rule, a limit of 1 to 1000.
func (s *Service) Audit(ctx context.Context, a Actor, f EventFilter) ([]Event, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	sf := store.EventFilter{Action: f.Action}
	if f.Limit != "" {
		n, err := strconv.Atoi(f.Limit)
		if err != nil || n < 1 || n > 1000 {
			return nil, errs.E(errs.Invalid, "limit must be 1 to 1000.")
		}
		sf.Limit = n
	}
	if f.User != "" {
		name, err := NormalizeUsername(f.User)
		if err != nil {
			return nil, err
		}
		sf.User = name
	}
	list, err := s.store.Events(ctx, sf)
	if err != nil {
		return nil, err
	}
	out := make([]Event, len(list))
	for i, e := range list {
		out[i] = Event{At: e.At.UTC(), Actor: e.Actor, User: e.User, Action: e.Action, Detail: e.Detail}
	}
	return out, nil
}

// Bootstrap makes the first admin when the database has none, answering its temporary password
// ("" when there was an admin already).
func (s *Service) Bootstrap(ctx context.Context, email string) (string, error) {
	n, err := s.store.CountUsers(ctx, store.RoleAdmin)
	if err != nil || n > 0 {
		return "", err
	}
	_, pw, err := s.CreateUser(ctx, Actor{Name: "system", Admin: true},
		NewUser{Username: "admin", Email: email, Name: "Administrator", Role: store.RoleAdmin})
	if errs.Code(err) == errs.Conflict {
		return "", nil // another instance made it first
	}
	return pw, err
}
