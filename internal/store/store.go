// Package store defines what Twofold keeps and the contract every storage backend honours.
//
// The account service talks to a Store only through these interfaces. Backends turn driver
// errors into the sentinel errors below; callers test them with errors.Is. Every backend passes
// the conformance suite in package storetest, concurrency cases included.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors returned by every backend.
var (
	// ErrNotFound means the row asked for does not exist (or, for a conditional write, that
	// the condition no longer holds because the row is gone).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a unique key is already taken or a conditional write lost a race.
	ErrConflict = errors.New("store: conflict")
)

// Account kinds, sources and roles (SPEC §1).
const (
	KindInternal = "internal"
	KindExternal = "external"

	SourceLocal = "local"
	SourceSSO   = "sso"

	RoleAdmin = "admin"
	RoleUser  = "user"
)

// User is one account with its password and second-factor state.
type User struct {
	ID       int64
	Username string // lower case, unique
	Email    string
	Name     string
	Kind     string
	Source   string
	Role     string
	Disabled bool

	// PasswordHash is the argon2id PHC string; empty for SSO accounts.
	PasswordHash string
	// PasswordTemporary is set while the password is an emailed temporary one;
	// PasswordExpiresAt is then when it stops working.
	PasswordTemporary bool
	PasswordExpiresAt time.Time

	// TOTPKey is the sealed (encrypted) TOTP key; nil when the account is not enrolled.
	TOTPKey []byte
	// TOTPKeyVersion is the version of the server key that sealed TOTPKey.
	TOTPKeyVersion int
	// TOTPLastStep is the last accepted TOTP time step; codes of this step or earlier are refused.
	TOTPLastStep int64
	// BackupSalt is the per-account salt mixed into backup-code MACs.
	BackupSalt []byte

	// MFAFailures counts failed second-factor checks since the last success or unlock.
	MFAFailures int
	// MFALockedUntil is the end of a temporary second-factor lock (zero when none).
	MFALockedUntil time.Time
	// MFALockedForever is a lock that only an admin ends.
	MFALockedForever bool

	CreatedAt time.Time
}

// Enrolled reports whether the account has a TOTP key.
func (u *User) Enrolled() bool { return len(u.TOTPKey) > 0 }

// Session is a sign-in in progress or a finished session, bound to the cookie whose SHA-256
// hash is IDHash.
type Session struct {
	IDHash []byte
	UserID int64
	// Done marks a finished sign-in (a session proper).
	Done bool
	// MFAPassed is set once the second factor was proved (or enrolled) in this sign-in.
	MFAPassed bool
	// MFASkipped is set when the user chose "Skip for now" under an optional policy.
	MFASkipped bool
	// PendingKey is the sealed TOTP key offered for enrolment in this sign-in or session.
	PendingKey []byte
	// Reauthenticated is set on a session once the current password was proved for an enrolment
	// from the profile.
	Reauthenticated bool

	CreatedAt  time.Time
	LastSeenAt time.Time
}

// Event is one audit record.
type Event struct {
	ID     int64
	At     time.Time
	Actor  string // who did it: a username, or "cli"/"system"
	User   string // the account concerned, if any
	Action string
	Detail string
}

// EventFilter narrows an audit listing. Zero fields do not filter; Limit 0 means 100; at most
// 1000 are returned.
type EventFilter struct {
	User   string
	Action string
	Limit  int
}

// BackupCode is one stored backup code: only its MAC is kept.
type BackupCode struct {
	MAC    []byte
	UsedAt time.Time // zero while unused
}

// PasswordFailures is what the store keeps of one name key's password failures. The store
// only reads and writes it; when failures lock, and for how long, is the account service's
// rule.
type PasswordFailures struct {
	Failures    int
	LockedUntil time.Time // zero when not locked
	// CountsUntil is when the row stops counting: from then on it reads as none, and later
	// writes remove it.
	CountsUntil time.Time
}

// PruneBatch bounds the rows that no longer count one write removes beside its own, so that a
// write after a long quiet time does not pay for the whole backlog.
const PruneBatch = 1000

// Queries are the operations a backend offers, inside a transaction (see Store.Update) or on
// their own, where each is atomic by itself.
type Queries interface {
	// CreateUser inserts u and sets u.ID. ErrConflict when the username is taken.
	CreateUser(ctx context.Context, u *User) error
	// User returns the account with id. Inside Update it also locks the row until commit, so
	// that reading and writing an account's counters cannot interleave with another transaction.
	User(ctx context.Context, id int64) (*User, error)
	// UserByName returns the account with the lower-case username.
	UserByName(ctx context.Context, username string) (*User, error)
	// Users lists every account, newest first (by CreatedAt, then ID).
	Users(ctx context.Context) ([]*User, error)
	// CountUsers counts accounts with the role ("" for all).
	CountUsers(ctx context.Context, role string) (int, error)
	// UpdateUser writes every field of u except ID, Username, BackupSalt and CreatedAt.
	// ErrNotFound when the account does not exist.
	UpdateUser(ctx context.Context, u *User) error

	// SetTOTPStep records step as the last accepted TOTP step when it is later than the stored
	// one, in one conditional write; false when it is not (a replay). ErrNotFound when the
	// account does not exist.
	SetTOTPStep(ctx context.Context, userID, step int64) (bool, error)

	// AddBackupCodes stores MACs as unused codes of the account.
	AddBackupCodes(ctx context.Context, userID int64, macs [][]byte) error
	// DeleteBackupCodes removes every code of the account, used or not.
	DeleteBackupCodes(ctx context.Context, userID int64) error
	// UseBackupCode marks the unused code with mac as used at now, in one conditional write;
	// false when there is no such unused code.
	UseBackupCode(ctx context.Context, userID int64, mac []byte, now time.Time) (bool, error)
	// CountBackupCodes counts the account's unused codes.
	CountBackupCodes(ctx context.Context, userID int64) (int, error)

	// Password failures are kept per name key: the caller's MAC of the submitted username
	// (keys.UsernameMAC), never the username itself.

	// PasswordFailures answers the name key's row while it counts at now (CountsUntil after
	// now), and the zero value when there is none or it stopped counting, whether or not a
	// later write has removed it yet. Inside Update it also locks the name key until commit,
	// row or not, so that of transactions counting one name's failures at once each reads what
	// the one before it wrote.
	PasswordFailures(ctx context.Context, nameKey []byte, now time.Time) (PasswordFailures, error)
	// SetPasswordFailures writes the name key's row as f, and removes up to PruneBatch rows of
	// other names that stopped counting at or before now.
	SetPasswordFailures(ctx context.Context, nameKey []byte, f PasswordFailures, now time.Time) error
	// ClearPasswordFailures forgets the name key's failures and lock.
	ClearPasswordFailures(ctx context.Context, nameKey []byte) error

	// ReserveAddressAttempt counts one password attempt from addr at now before its password
	// is checked, unless addr has limit (> 0) attempts after since already: then it writes
	// nothing and answers false. The count and the write are one atomic step on every backend,
	// so that of attempts sent at once, to one instance or several, exactly limit pass. It
	// also removes up to PruneBatch attempts of any address at or before since. The answered
	// id names the attempt for ReleaseAddressAttempt; an attempt left in place is a failure.
	ReserveAddressAttempt(ctx context.Context, addr string, now, since time.Time, limit int) (id int64, ok bool, err error)
	// ReleaseAddressAttempt forgets the attempt id (a right password, or an attempt that was
	// never checked): only failures count. No error when it is gone already.
	ReleaseAddressAttempt(ctx context.Context, id int64) error
	// CountAddressFailures counts addr's attempts after since.
	CountAddressFailures(ctx context.Context, addr string, since time.Time) (int, error)

	// CreateSession inserts s. ErrConflict when the id hash exists.
	CreateSession(ctx context.Context, s *Session) error
	// Session returns the session with the id hash. Inside Update it also locks the row until
	// commit, so that two requests of one sign-in that read and then write it take turns.
	Session(ctx context.Context, idHash []byte) (*Session, error)
	// ReplaceSession writes s in place of the session with oldHash (s.IDHash may differ: the id
	// changes at every step). ErrNotFound when oldHash is gone, so that of two requests racing
	// on one sign-in only one moves it on.
	ReplaceSession(ctx context.Context, oldHash []byte, s *Session) error
	// TouchSession sets the session's last use. ErrNotFound when the session is gone.
	TouchSession(ctx context.Context, idHash []byte, at time.Time) error
	// DeleteSession removes one session; no error when it is gone already.
	DeleteSession(ctx context.Context, idHash []byte) error
	// DeleteUserSessions removes every session and sign-in of the account but the one with
	// keepHash (nil keeps none).
	DeleteUserSessions(ctx context.Context, userID int64, keepHash []byte) error
	// DeleteExpiredSessions removes sign-ins created before signinBefore, sessions last used
	// before idleBefore and sessions created before createdBefore.
	DeleteExpiredSessions(ctx context.Context, signinBefore, idleBefore, createdBefore time.Time) (int, error)

	// Options answers every stored option value by key.
	Options(ctx context.Context) (map[string]string, error)
	// SetOption stores value under key.
	SetOption(ctx context.Context, key, value string) error

	// AddEvent appends an audit event.
	AddEvent(ctx context.Context, e *Event) error
	// Events lists audit events, newest first.
	Events(ctx context.Context, f EventFilter) ([]*Event, error)

	// Meta answers a value of the store's own metadata; ErrNotFound when unset.
	Meta(ctx context.Context, key string) (string, error)
	// SetMetaOnce stores value under key unless a value is there, and answers the value that
	// is stored afterwards.
	SetMetaOnce(ctx context.Context, key, value string) (string, error)
}

// Store is a storage backend.
type Store interface {
	Queries
	// Update runs fn in one read-write transaction and commits it when fn returns nil. Accounts
	// read with User (and sessions read with Session) inside fn are locked against other Update
	// calls, of this process or any other on the same database, until it ends. fn must use q
	// only: calling the Store's own methods inside fn may deadlock.
	Update(ctx context.Context, fn func(q Queries) error) error
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
	// Close releases the store.
	Close() error
}
