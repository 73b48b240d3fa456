package sqlstore

// How rows are kept: the columns of an account and a session and how a row becomes a
// store.User, and times as INTEGER/BIGINT unix nanoseconds (0 for none), so that both backends
// hold the same values and copy-db moves them unchanged.

import (
	"fmt"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
)

// UserColumns are the columns User reads, in order.
const UserColumns = `id, username, email, name, kind, source, role, disabled,
	password_hash, password_temporary, password_expires_at,
	totp_key, totp_key_version, totp_last_step, backup_salt,
	mfa_failures, mfa_locked_until, mfa_locked_forever, created_at`

// Nanos is how a time is stored: unix nanoseconds, 0 for the zero time.
func Nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Time reads a stored time back, in UTC; 0 is the zero time.
func Time(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// NilIfEmpty reads an empty byte string back as nil, as the store's values hold it.
func NilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// User reads a row of UserColumns.
func User(s Scanner) (*store.User, error) {
	var (
		u                                 store.User
		passwordExpires, lockedUntil, cat int64
	)
	err := s.Scan(&u.ID, &u.Username, &u.Email, &u.Name, &u.Kind, &u.Source, &u.Role, &u.Disabled,
		&u.PasswordHash, &u.PasswordTemporary, &passwordExpires,
		&u.TOTPKey, &u.TOTPKeyVersion, &u.TOTPLastStep, &u.BackupSalt,
		&u.MFAFailures, &lockedUntil, &u.MFALockedForever, &cat)
	if err != nil {
		return nil, err
	}
	u.PasswordExpiresAt = Time(passwordExpires)
	u.MFALockedUntil = Time(lockedUntil)
	u.CreatedAt = Time(cat)
	u.TOTPKey = NilIfEmpty(u.TOTPKey)
	u.BackupSalt = NilIfEmpty(u.BackupSalt)
	return &u, nil
}

// SessionColumns are the columns Session reads, in order.
const SessionColumns = `id_hash, user_id, done, mfa_passed, mfa_skipped, pending_key,
	reauthenticated, created_at, last_seen_at`

// Session reads a row of SessionColumns.
func Session(row Scanner) (*store.Session, error) {
	var (
		s             store.Session
		cat, lastSeen int64
	)
	err := row.Scan(&s.IDHash, &s.UserID, &s.Done, &s.MFAPassed, &s.MFASkipped, &s.PendingKey,
		&s.Reauthenticated, &cat, &lastSeen)
	if err != nil {
		return nil, err
	}
	s.PendingKey = NilIfEmpty(s.PendingKey)
	s.CreatedAt, s.LastSeenAt = Time(cat), Time(lastSeen)
	return &s, nil
}

// Record reads a row of table t as copy-db exports it: the table's columns in their order.
func Record(t string, rows Scanner) (store.Record, error) {
	switch t {
	case "users":
		u, err := User(rows)
		return store.Record{User: u}, err
	case "backup_codes":
		var c store.BackupCodeRecord
		var usedAt int64
		err := rows.Scan(&c.UserID, &c.MAC, &usedAt)
		c.UsedAt = Time(usedAt)
		return store.Record{BackupCode: &c}, err
	case "password_failures":
		var p store.PasswordFailureRecord
		var until, counts int64
		err := rows.Scan(&p.NameKey, &p.Failures, &until, &counts)
		p.LockedUntil, p.CountsUntil = Time(until), Time(counts)
		return store.Record{PasswordFailure: &p}, err
	case "address_failures":
		var a store.AddressFailureRecord
		var at int64
		err := rows.Scan(&a.Addr, &at)
		a.At = Time(at)
		return store.Record{AddressFailure: &a}, err
	case "sessions":
		s, err := Session(rows)
		return store.Record{Session: s}, err
	case "options":
		var kv store.KeyValue
		err := rows.Scan(&kv.Key, &kv.Value)
		return store.Record{Option: &kv}, err
	case "events":
		e, err := event(rows)
		return store.Record{Event: e}, err
	case "meta":
		var kv store.KeyValue
		err := rows.Scan(&kv.Key, &kv.Value)
		return store.Record{Meta: &kv}, err
	}
	return store.Record{}, fmt.Errorf("unknown table %q", t)
}
