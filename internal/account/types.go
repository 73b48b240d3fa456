package account

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/store"
)

// Kinds, sources and roles of an account (SPEC §1), for the front ends, which know the
// service and not the store.
const (
	KindInternal = store.KindInternal
	KindExternal = store.KindExternal
	SourceLocal  = store.SourceLocal
	SourceSSO    = store.SourceSSO
	RoleAdmin    = store.RoleAdmin
	RoleUser     = store.RoleUser
)

// Me is what a signed-in account sees of itself; its JSON is the /me object of SPEC §4.
type Me struct {
	Username string    `json:"username"`
	Email    string    `json:"email"`
	Name     string    `json:"name"`
	Kind     string    `json:"kind"`
	Source   string    `json:"source"`
	Role     string    `json:"role"`
	MFA      MFAStatus `json:"mfa"`
}

// MFAStatus is the account's second factor as /me shows it.
type MFAStatus struct {
	Policy string `json:"policy"`
	// Enrolled says the account has a second factor it may use now: an authenticator app, or
	// a security key while mfaWebAuthn is yes.
	Enrolled           bool `json:"enrolled"`
	BackupCodesEnabled bool `json:"backup_codes_enabled"`
	// BackupCodesRemaining is nil while backup codes are disabled (JSON null).
	BackupCodesRemaining *int `json:"backup_codes_remaining"`
	// CanEnroll says whether the account may set up MFA from its profile now, by the rule
	// that BeginEnroll applies again when it is asked.
	CanEnroll bool `json:"-"`
}

// NewUser is an account to create, as an administrator asks for it (the body of POST
// /admin/users); CreateUser checks and completes it.
type NewUser struct {
	Username string `json:"username"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	Kind     string `json:"kind"`   // default internal
	Source   string `json:"source"` // default local
	Role     string `json:"role"`   // default user
}

// UserView is an account as administrators see it. Its JSON is SPEC §4's user object (the /me
// fields, then the account's state), the one shape of an account for the API and the
// command line alike.
type UserView struct {
	Me
	Disabled            bool       `json:"disabled"`
	PasswordLockedUntil *time.Time `json:"password_locked_until"`
	MFALocked           bool       `json:"mfa_locked"`
	// MFALockedUntil is nil when the lock is for an admin to end (or there is none).
	MFALockedUntil *time.Time `json:"mfa_locked_until"`
	// Groups are the account's groups, sorted; an empty list (never null) when none.
	Groups    []string  `json:"groups"`
	CreatedAt time.Time `json:"created_at"`
}

// OptionView is an option with its current value.
type OptionView struct {
	options.Option
	Value string
}

// MarshalJSON writes the option as SPEC §4 lists it, for the API and the command line: key,
// description, value, default and values (a list for a choice, a text for a range).
// HTML characters stay as they are ("A&B"), as in the rest of the API's answers; an encoder
// that escapes them still does.
func (o OptionView) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(struct {
		Key         string `json:"key"`
		Description string `json:"description"`
		Value       string `json:"value"`
		Default     string `json:"default"`
		Values      any    `json:"values"`
	}{o.Key, o.Description, o.Value, o.Default, o.Values()})
	return bytes.TrimRight(b.Bytes(), "\n"), err
}

// Event is one audit record as administrators see it (SPEC §4 /admin/audit).
type Event struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"` // a username, or "cli"/"system"
	User   string    `json:"user"`  // the account concerned, if any
	Action string    `json:"action"`
	Detail string    `json:"detail"`
}

// EventFilter narrows an audit listing as a front end received it; the service checks it
// whole. Empty fields do not filter.
type EventFilter struct {
	// User is a username, in any case.
	User string
	// Action is an action such as "user.created".
	Action string
	// Limit is how many events at most, as typed: "" for the default of 100, else 1 to 1000.
	Limit string
}
