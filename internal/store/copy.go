package store

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"
)

// ErrNotEmpty is Import's refusal of a store that holds rows already.
var ErrNotEmpty = errors.New("store: the target database is not empty")

// Tables names what a store keeps, in the order Export yields it and Import takes it (accounts
// before the rows that refer to them).
var Tables = []string{
	"users", "backup_codes", "password_failures", "address_failures",
	"sessions", "options", "events", "meta",
	"clients", "auth_requests", "tokens", "consents", "signing_keys", "session_clients",
	"logout_notices", "access_rules", "webauthn_credentials", "remembered_devices",
}

// Copier is a store whose every row can be read and written as it is kept, ids included, so
// that `twofold copy-db` can move a whole database from one backend to another. It is optional:
// the account service never needs it.
type Copier interface {
	// Export yields every row of the store, table by table in the order of Tables, read from
	// one consistent snapshot. Breaking out of the loop ends the snapshot.
	Export(ctx context.Context) iter.Seq2[Record, error]
	// Import writes records, which come in the order of Tables, in one transaction, with
	// their ids; later inserts get ids after the largest imported one. It refuses with
	// ErrNotEmpty a store that holds any row, and writes nothing when anything fails.
	Import(ctx context.Context, records iter.Seq2[Record, error]) error
	// Count answers how many rows each table of Tables holds.
	Count(ctx context.Context) (Counts, error)
}

// Counts is a number of rows per table.
type Counts map[string]int64

// String lists the counts in the order of Tables, as "users 3, backup_codes 12, ...".
func (c Counts) String() string {
	parts := make([]string, 0, len(Tables))
	for _, t := range Tables {
		parts = append(parts, fmt.Sprintf("%s %d", t, c[t]))
	}
	return strings.Join(parts, ", ")
}

// Empty reports whether every table is empty.
func (c Counts) Empty() bool {
	for _, n := range c {
		if n != 0 {
			return false
		}
	}
	return true
}

// Record is one row of one table: exactly one field is set.
type Record struct {
	User            *User
	BackupCode      *BackupCodeRecord
	PasswordFailure *PasswordFailureRecord
	AddressFailure  *AddressFailureRecord
	Session         *Session
	Option          *KeyValue
	Event           *Event
	Meta            *KeyValue
	Client          *Client
	AuthRequest     *AuthRequest
	Token           *Token
	Consent         *Consent
	SigningKey      *SigningKey
	SessionClient   *SessionClientRecord
	LogoutNotice    *LogoutNotice
	AccessRule      *AccessRule
	WebAuthn        *WebAuthnCredential
	Device          *RememberedDevice
}

// Table answers the name (one of Tables) of the table the record belongs to, or "" when no
// field is set.
func (r Record) Table() string {
	switch {
	case r.User != nil:
		return "users"
	case r.BackupCode != nil:
		return "backup_codes"
	case r.PasswordFailure != nil:
		return "password_failures"
	case r.AddressFailure != nil:
		return "address_failures"
	case r.Session != nil:
		return "sessions"
	case r.Option != nil:
		return "options"
	case r.Event != nil:
		return "events"
	case r.Meta != nil:
		return "meta"
	case r.Client != nil:
		return "clients"
	case r.AuthRequest != nil:
		return "auth_requests"
	case r.Token != nil:
		return "tokens"
	case r.Consent != nil:
		return "consents"
	case r.SigningKey != nil:
		return "signing_keys"
	case r.SessionClient != nil:
		return "session_clients"
	case r.LogoutNotice != nil:
		return "logout_notices"
	case r.AccessRule != nil:
		return "access_rules"
	case r.WebAuthn != nil:
		return "webauthn_credentials"
	case r.Device != nil:
		return "remembered_devices"
	}
	return ""
}

// BackupCodeRecord is a stored backup code with its account.
type BackupCodeRecord struct {
	UserID int64
	MAC    []byte
	UsedAt time.Time // zero while unused
}

// PasswordFailureRecord is the password failure count of one submitted username, kept under
// its MAC (keys.UsernameMAC). It is copied as it is: the target is used with the same server
// key (the meta table carries its check value), so the MACs stay valid there.
type PasswordFailureRecord struct {
	NameKey     []byte
	Failures    int
	LockedUntil time.Time
	CountsUntil time.Time // when the failures stop counting and the row may be removed
}

// AddressFailureRecord is one password attempt from a client address: a failure, or an
// attempt still being checked. Its id is the store's own and is not copied.
type AddressFailureRecord struct {
	Addr string
	At   time.Time
}

// SessionClientRecord is the record that a client received tokens in the session sid of an
// account (Queries.AddSessionClient).
type SessionClientRecord struct {
	SID       string
	ClientID  string
	UserID    int64
	CreatedAt time.Time
}

// KeyValue is an option or a metadata value.
type KeyValue struct {
	Key, Value string
}

// TableOrder checks that records come in the order of Tables, answering the position of
// table; last is the position of the record before (-1 at the start). Importers use it.
func TableOrder(last int, table string) (int, error) {
	for i, t := range Tables {
		if t == table {
			if i < last {
				return 0, fmt.Errorf("store: import: a %s row after %s rows: records must come table by table", t, Tables[last])
			}
			return i, nil
		}
	}
	return 0, errors.New("store: import: a record with no row")
}

// Copy moves every row of from into to, which must be empty, and checks the result: the rows
// written, the rows to holds afterwards and the rows from still holds must all be the same in
// number, table by table. It answers those counts. from should not change meanwhile (stop the
// servers): a change shows as a count that differs, and Copy then fails, leaving to as the
// import wrote it.
func Copy(ctx context.Context, from, to Copier) (Counts, error) {
	before, err := to.Count(ctx)
	if err != nil {
		return nil, fmt.Errorf("copy: count the target: %w", err)
	}
	if !before.Empty() {
		return nil, fmt.Errorf("copy: %w (%s)", ErrNotEmpty, before)
	}
	exported := Counts{}
	records := func(yield func(Record, error) bool) {
		for r, err := range from.Export(ctx) {
			if err == nil {
				exported[r.Table()]++
			}
			if !yield(r, err) {
				return
			}
		}
	}
	if err := to.Import(ctx, records); err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	imported, err := to.Count(ctx)
	if err != nil {
		return nil, fmt.Errorf("copy: count the target: %w", err)
	}
	source, err := from.Count(ctx)
	if err != nil {
		return nil, fmt.Errorf("copy: count the source: %w", err)
	}
	for _, t := range Tables {
		if exported[t] != imported[t] || exported[t] != source[t] {
			return nil, fmt.Errorf("copy: %s: %d rows read, %d written, %d in the source now: stop every server that uses the source and copy again into an empty database",
				t, exported[t], imported[t], source[t])
		}
	}
	return imported, nil
}
