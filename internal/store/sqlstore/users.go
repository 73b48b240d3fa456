package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/twofold-auth/twofold/internal/store"
)

// CreateUser inserts with ON CONFLICT DO NOTHING: a taken username (or subject) answers
// ErrConflict without an SQL error, which would abort the transaction around it on PostgreSQL.
// An account without a subject gets a random one of 128 bits, as the migration gave the
// accounts made before subjects existed.
func (q Queries) CreateUser(ctx context.Context, u *store.User) error {
	if u.Subject == "" {
		u.Subject = newSubject()
	}
	err := q.queryRow(ctx, `INSERT INTO users (
		username, email, name, kind, source, role, disabled,
		password_hash, password_temporary, password_expires_at,
		totp_key, totp_key_version, totp_last_step, backup_salt,
		mfa_failures, mfa_locked_until, mfa_locked_forever, subject, email_verified, groups, created_at
	) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT DO NOTHING RETURNING id`,
		u.Username, u.Email, u.Name, u.Kind, u.Source, u.Role, u.Disabled,
		u.PasswordHash, u.PasswordTemporary, Nanos(u.PasswordExpiresAt),
		blob(u.TOTPKey), u.TOTPKeyVersion, u.TOTPLastStep, blob(u.BackupSalt),
		u.MFAFailures, Nanos(u.MFALockedUntil), u.MFALockedForever, u.Subject, u.EmailVerified,
		GroupsText(u.Groups), Nanos(u.CreatedAt),
	).Scan(&u.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: create user: %w (username %q or the subject is taken)", q.f.Name, store.ErrConflict, u.Username)
	}
	return q.err("create user", err)
}

// newSubject answers a random subject id: 128 bits in lower-case hex, the form the migration
// gave existing accounts.
func newSubject() string {
	var b [16]byte
	rand.Read(b[:]) // never fails: it crashes the program rather than answer an error
	return hex.EncodeToString(b[:])
}

// UserBySubject answers the account with the application subject id.
func (q Queries) UserBySubject(ctx context.Context, subject string) (*store.User, error) {
	u, err := userWithKey(q.queryRow(ctx, `SELECT `+userSelect+` FROM users WHERE subject = ?`, subject))
	return u, q.err("user by subject", err)
}

// User locks the row inside a transaction (SELECT ... FOR UPDATE where the flavour needs it).
func (q Queries) User(ctx context.Context, id int64) (*store.User, error) {
	u, err := userWithKey(q.queryRow(ctx, `SELECT `+userSelect+` FROM users WHERE id = ?`+q.forUpdate(), id))
	return u, q.err("user", err)
}

// UserByName answers the account with the lower-case username.
func (q Queries) UserByName(ctx context.Context, username string) (*store.User, error) {
	u, err := userWithKey(q.queryRow(ctx, `SELECT `+userSelect+` FROM users WHERE username = ?`, username))
	return u, q.err("user by name", err)
}

// Users lists every account, newest first.
func (q Queries) Users(ctx context.Context) ([]*store.User, error) {
	return list(ctx, q, "users", userWithKey, `SELECT `+userSelect+` FROM users ORDER BY created_at DESC, id DESC`)
}

// CountUsers counts accounts with the role ("" for all).
func (q Queries) CountUsers(ctx context.Context, role string) (int, error) {
	var n int
	var err error
	if role == "" {
		err = q.queryRow(ctx, `SELECT count(*) FROM users`).Scan(&n)
	} else {
		err = q.queryRow(ctx, `SELECT count(*) FROM users WHERE role = ?`, role).Scan(&n)
	}
	return n, q.err("count users", err)
}

// UpdateUser writes every field of u except ID, Username, BackupSalt, Subject and CreatedAt.
func (q Queries) UpdateUser(ctx context.Context, u *store.User) error {
	n, err := q.exec(ctx, `UPDATE users SET
		email = ?, name = ?, kind = ?, source = ?, role = ?, disabled = ?,
		password_hash = ?, password_temporary = ?, password_expires_at = ?,
		totp_key = ?, totp_key_version = ?, totp_last_step = ?,
		mfa_failures = ?, mfa_locked_until = ?, mfa_locked_forever = ?, email_verified = ?,
		groups = ?
	WHERE id = ?`,
		u.Email, u.Name, u.Kind, u.Source, u.Role, u.Disabled,
		u.PasswordHash, u.PasswordTemporary, Nanos(u.PasswordExpiresAt),
		blob(u.TOTPKey), u.TOTPKeyVersion, u.TOTPLastStep,
		u.MFAFailures, Nanos(u.MFALockedUntil), u.MFALockedForever, u.EmailVerified,
		GroupsText(u.Groups),
		u.ID)
	return q.err("update user", one(n, err))
}

// one answers err, or sql.ErrNoRows when a write that must change one row changed none.
func one(n int64, err error) error {
	if err == nil && n != 1 {
		return sql.ErrNoRows
	}
	return err
}

// SetTOTPStep is one conditional write: of writers racing with the same step, exactly one
// changes the row (PostgreSQL evaluates the condition again on the row committed meanwhile).
func (q Queries) SetTOTPStep(ctx context.Context, userID, step int64) (bool, error) {
	n, err := q.exec(ctx, `UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?`, step, userID, step)
	if err != nil {
		return false, q.err("set totp step", err)
	}
	if n != 1 {
		// A replay, or no such account: tell them apart (rare path).
		var one int
		return false, q.err("set totp step", q.queryRow(ctx, `SELECT 1 FROM users WHERE id = ?`, userID).Scan(&one))
	}
	return true, nil
}
