package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/twofold-auth/twofold/internal/store/sqlrow"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
)

// execer is what *sql.DB and *sql.Tx have in common.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queries implements store.Queries once, on a pool or on a transaction.
type queries struct {
	x execer
	// atomic runs fn with queries bound to one write transaction: a new one on the writer pool,
	// or the transaction x already is. Methods that need more than one statement use it.
	atomic func(ctx context.Context, fn func(q queries) error) error
}

var _ store.Queries = queries{}

func toNanos(t time.Time) int64 { return sqlrow.Nanos(t) }

func fromNanos(n int64) time.Time { return sqlrow.Time(n) }

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// blob stores an empty byte slice as NULL.
func blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func nilIfEmpty(b []byte) []byte { return sqlrow.NilIfEmpty(b) }

// affected answers whether res changed exactly one row.
func affected(res sql.Result) (bool, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// ---- users

const userColumns = sqlrow.UserColumns

type scanner interface{ Scan(dest ...any) error }

func scanUser(s sqlrow.Scanner) (*store.User, error) { return sqlrow.User(s) }

func (q queries) CreateUser(ctx context.Context, u *store.User) error {
	err := q.x.QueryRowContext(ctx, `INSERT INTO users (
		username, email, name, kind, source, role, disabled,
		password_hash, password_temporary, password_expires_at,
		totp_key, totp_key_version, totp_last_step, backup_salt,
		mfa_failures, mfa_locked_until, mfa_locked_forever, created_at
	) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		u.Username, u.Email, u.Name, u.Kind, u.Source, u.Role, b2i(u.Disabled),
		u.PasswordHash, b2i(u.PasswordTemporary), toNanos(u.PasswordExpiresAt),
		blob(u.TOTPKey), u.TOTPKeyVersion, u.TOTPLastStep, blob(u.BackupSalt),
		u.MFAFailures, toNanos(u.MFALockedUntil), b2i(u.MFALockedForever), toNanos(u.CreatedAt),
	).Scan(&u.ID)
	return mapErr("create user", err)
}

func (q queries) User(ctx context.Context, id int64) (*store.User, error) {
	u, err := scanUser(q.x.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	return u, mapErr("user", err)
}

func (q queries) UserByName(ctx context.Context, username string) (*store.User, error) {
	u, err := scanUser(q.x.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE username = ?`, username))
	return u, mapErr("user by name", err)
}

func (q queries) Users(ctx context.Context) ([]*store.User, error) {
	rows, err := q.x.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, mapErr("users", err)
	}
	defer rows.Close()
	var us []*store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, mapErr("users", err)
		}
		us = append(us, u)
	}
	return us, mapErr("users", rows.Err())
}

func (q queries) CountUsers(ctx context.Context, role string) (int, error) {
	var n int
	var err error
	if role == "" {
		err = q.x.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n)
	} else {
		err = q.x.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE role = ?`, role).Scan(&n)
	}
	return n, mapErr("count users", err)
}

func (q queries) UpdateUser(ctx context.Context, u *store.User) error {
	res, err := q.x.ExecContext(ctx, `UPDATE users SET
		email = ?, name = ?, kind = ?, source = ?, role = ?, disabled = ?,
		password_hash = ?, password_temporary = ?, password_expires_at = ?,
		totp_key = ?, totp_key_version = ?, totp_last_step = ?,
		mfa_failures = ?, mfa_locked_until = ?, mfa_locked_forever = ?
	WHERE id = ?`,
		u.Email, u.Name, u.Kind, u.Source, u.Role, b2i(u.Disabled),
		u.PasswordHash, b2i(u.PasswordTemporary), toNanos(u.PasswordExpiresAt),
		blob(u.TOTPKey), u.TOTPKeyVersion, u.TOTPLastStep,
		u.MFAFailures, toNanos(u.MFALockedUntil), b2i(u.MFALockedForever),
		u.ID)
	if err != nil {
		return mapErr("update user", err)
	}
	if ok, err := affected(res); err != nil || !ok {
		return mapErr("update user", orNoRows(err))
	}
	return nil
}

// orNoRows answers err, or sql.ErrNoRows when err is nil.
func orNoRows(err error) error {
	if err != nil {
		return err
	}
	return sql.ErrNoRows
}

// userExists answers whether the account exists, as ErrNotFound when it does not.
func (q queries) userExists(ctx context.Context, op string, id int64) error {
	var one int
	return mapErr(op, q.x.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = ?`, id).Scan(&one))
}

func (q queries) SetTOTPStep(ctx context.Context, userID, step int64) (bool, error) {
	res, err := q.x.ExecContext(ctx,
		`UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?`, step, userID, step)
	if err != nil {
		return false, mapErr("set totp step", err)
	}
	ok, err := affected(res)
	if err != nil {
		return false, mapErr("set totp step", err)
	}
	if !ok {
		// A replay, or no such account: tell them apart (rare path).
		if err := q.userExists(ctx, "set totp step", userID); err != nil {
			return false, err
		}
	}
	return ok, nil
}

// ---- backup codes

func (q queries) AddBackupCodes(ctx context.Context, userID int64, macs [][]byte) error {
	if len(macs) == 0 {
		return nil
	}
	return q.atomic(ctx, func(q queries) error {
		for _, mac := range macs {
			if _, err := q.x.ExecContext(ctx,
				`INSERT INTO backup_codes (user_id, mac, used_at) VALUES (?, ?, 0)`, userID, mac); err != nil {
				return mapErr("add backup codes", err)
			}
		}
		return nil
	})
}

func (q queries) DeleteBackupCodes(ctx context.Context, userID int64) error {
	_, err := q.x.ExecContext(ctx, `DELETE FROM backup_codes WHERE user_id = ?`, userID)
	return mapErr("delete backup codes", err)
}

func (q queries) UseBackupCode(ctx context.Context, userID int64, mac []byte, now time.Time) (bool, error) {
	usedAt := toNanos(now)
	if usedAt == 0 {
		usedAt = 1 // 0 means unused
	}
	res, err := q.x.ExecContext(ctx,
		`UPDATE backup_codes SET used_at = ? WHERE user_id = ? AND mac = ? AND used_at = 0`, usedAt, userID, mac)
	if err != nil {
		return false, mapErr("use backup code", err)
	}
	ok, err := affected(res)
	return ok, mapErr("use backup code", err)
}

func (q queries) CountBackupCodes(ctx context.Context, userID int64) (int, error) {
	var n int
	err := q.x.QueryRowContext(ctx,
		`SELECT count(*) FROM backup_codes WHERE user_id = ? AND used_at = 0`, userID).Scan(&n)
	return n, mapErr("count backup codes", err)
}

// ---- password and address failures

// PasswordFailures needs no lock of its own inside Update: SQLite runs one write transaction
// at a time, so no other can write the row before this one commits.
func (q queries) PasswordFailures(ctx context.Context, nameKey []byte, now time.Time) (store.PasswordFailures, error) {
	var f store.PasswordFailures
	var lockedUntil, countsUntil int64
	err := q.x.QueryRowContext(ctx,
		`SELECT failures, locked_until, counts_until FROM password_failures WHERE name_mac = ? AND counts_until > ?`,
		nameKey, toNanos(now)).Scan(&f.Failures, &lockedUntil, &countsUntil)
	if errors.Is(err, sql.ErrNoRows) {
		return store.PasswordFailures{}, nil
	}
	if err != nil {
		return store.PasswordFailures{}, mapErr("password failures", err)
	}
	f.LockedUntil, f.CountsUntil = fromNanos(lockedUntil), fromNanos(countsUntil)
	return f, nil
}

func (q queries) SetPasswordFailures(ctx context.Context, nameKey []byte, f store.PasswordFailures, now time.Time) error {
	return q.atomic(ctx, func(q queries) error {
		if _, err := q.x.ExecContext(ctx, `INSERT INTO password_failures (name_mac, failures, locked_until, counts_until)
			VALUES (?, ?, ?, ?)
			ON CONFLICT (name_mac) DO UPDATE SET failures = excluded.failures,
				locked_until = excluded.locked_until, counts_until = excluded.counts_until`,
			nameKey, f.Failures, toNanos(f.LockedUntil), toNanos(f.CountsUntil)); err != nil {
			return mapErr("set password failures", err)
		}
		if _, err := q.x.ExecContext(ctx, `DELETE FROM password_failures WHERE name_mac IN (
			SELECT name_mac FROM password_failures WHERE counts_until <= ? AND name_mac <> ? LIMIT ?)`,
			toNanos(now), nameKey, store.PruneBatch); err != nil {
			return mapErr("set password failures", err)
		}
		return nil
	})
}

func (q queries) ClearPasswordFailures(ctx context.Context, nameKey []byte) error {
	_, err := q.x.ExecContext(ctx, `DELETE FROM password_failures WHERE name_mac = ?`, nameKey)
	return mapErr("clear password failures", err)
}

// ReserveAddressAttempt counts and writes in one write transaction: SQLite runs one writer at a
// time (BEGIN IMMEDIATE across processes), so no other attempt can come between them. The id
// is the row's INTEGER PRIMARY KEY, which VACUUM keeps (it may renumber an implicit rowid).
func (q queries) ReserveAddressAttempt(ctx context.Context, addr string, now, since time.Time, limit int) (int64, bool, error) {
	if limit <= 0 {
		return 0, false, fmt.Errorf("sqlite: reserve address attempt: the limit must be positive, not %d", limit)
	}
	var id int64
	var ok bool
	err := q.atomic(ctx, func(q queries) error {
		var n int
		if err := q.x.QueryRowContext(ctx, `SELECT count(*) FROM address_failures WHERE addr = ? AND at > ?`,
			addr, toNanos(since)).Scan(&n); err != nil {
			return mapErr("reserve address attempt", err)
		}
		if n >= limit {
			return nil
		}
		if err := q.x.QueryRowContext(ctx, `INSERT INTO address_failures (addr, at) VALUES (?, ?) RETURNING id`,
			addr, toNanos(now)).Scan(&id); err != nil {
			return mapErr("reserve address attempt", err)
		}
		ok = true
		// Every address's old attempts go, not only addr's, so that addresses that never come
		// back do not stay in the table.
		if _, err := q.x.ExecContext(ctx, `DELETE FROM address_failures WHERE id IN (
			SELECT id FROM address_failures WHERE at <= ? LIMIT ?)`, toNanos(since), store.PruneBatch); err != nil {
			return mapErr("reserve address attempt", err)
		}
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return id, ok, nil
}

func (q queries) ReleaseAddressAttempt(ctx context.Context, id int64) error {
	_, err := q.x.ExecContext(ctx, `DELETE FROM address_failures WHERE id = ?`, id)
	return mapErr("release address attempt", err)
}

func (q queries) CountAddressFailures(ctx context.Context, addr string, since time.Time) (int, error) {
	var n int
	err := q.x.QueryRowContext(ctx,
		`SELECT count(*) FROM address_failures WHERE addr = ? AND at > ?`, addr, toNanos(since)).Scan(&n)
	return n, mapErr("count address failures", err)
}

// ---- sessions

func (q queries) CreateSession(ctx context.Context, s *store.Session) error {
	_, err := q.x.ExecContext(ctx, `INSERT INTO sessions (
		id_hash, user_id, done, mfa_passed, mfa_skipped, pending_key, reauthenticated, created_at, last_seen_at
	) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.IDHash, s.UserID, b2i(s.Done), b2i(s.MFAPassed), b2i(s.MFASkipped), blob(s.PendingKey),
		b2i(s.Reauthenticated), toNanos(s.CreatedAt), toNanos(s.LastSeenAt))
	return mapErr("create session", err)
}

func (q queries) Session(ctx context.Context, idHash []byte) (*store.Session, error) {
	s, err := sqlrow.Session(q.x.QueryRowContext(ctx,
		`SELECT `+sqlrow.SessionColumns+` FROM sessions WHERE id_hash = ?`, idHash))
	if err != nil {
		return nil, mapErr("session", err)
	}
	return s, nil
}

func (q queries) ReplaceSession(ctx context.Context, oldHash []byte, s *store.Session) error {
	res, err := q.x.ExecContext(ctx, `UPDATE sessions SET
		id_hash = ?, user_id = ?, done = ?, mfa_passed = ?, mfa_skipped = ?, pending_key = ?,
		reauthenticated = ?, created_at = ?, last_seen_at = ?
	WHERE id_hash = ?`,
		s.IDHash, s.UserID, b2i(s.Done), b2i(s.MFAPassed), b2i(s.MFASkipped), blob(s.PendingKey),
		b2i(s.Reauthenticated), toNanos(s.CreatedAt), toNanos(s.LastSeenAt),
		oldHash)
	if err != nil {
		return mapErr("replace session", err)
	}
	if ok, err := affected(res); err != nil || !ok {
		return mapErr("replace session", orNoRows(err))
	}
	return nil
}

func (q queries) TouchSession(ctx context.Context, idHash []byte, at time.Time) error {
	res, err := q.x.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?`, toNanos(at), idHash)
	if err != nil {
		return mapErr("touch session", err)
	}
	if ok, err := affected(res); err != nil || !ok {
		return mapErr("touch session", orNoRows(err))
	}
	return nil
}

func (q queries) DeleteSession(ctx context.Context, idHash []byte) error {
	_, err := q.x.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash)
	return mapErr("delete session", err)
}

func (q queries) DeleteUserSessions(ctx context.Context, userID int64, keepHash []byte) error {
	var err error
	if keepHash == nil {
		_, err = q.x.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID)
	} else {
		_, err = q.x.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND id_hash <> ?`, userID, keepHash)
	}
	return mapErr("delete user sessions", err)
}

func (q queries) DeleteExpiredSessions(ctx context.Context, signinBefore, idleBefore, createdBefore time.Time) (int, error) {
	res, err := q.x.ExecContext(ctx, `DELETE FROM sessions WHERE
		(done = 0 AND created_at < ?) OR
		(done = 1 AND (last_seen_at < ? OR created_at < ?))`,
		toNanos(signinBefore), toNanos(idleBefore), toNanos(createdBefore))
	if err != nil {
		return 0, mapErr("delete expired sessions", err)
	}
	n, err := res.RowsAffected()
	return int(n), mapErr("delete expired sessions", err)
}

// ---- options

func (q queries) Options(ctx context.Context) (map[string]string, error) {
	rows, err := q.x.QueryContext(ctx, `SELECT key, value FROM options`)
	if err != nil {
		return nil, mapErr("options", err)
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, mapErr("options", err)
		}
		m[k] = v
	}
	return m, mapErr("options", rows.Err())
}

func (q queries) SetOption(ctx context.Context, key, value string) error {
	_, err := q.x.ExecContext(ctx, `INSERT INTO options (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return mapErr("set option", err)
}

// ---- events

const (
	defaultEventLimit = 100
	maxEventLimit     = 1000
)

func (q queries) AddEvent(ctx context.Context, e *store.Event) error {
	err := q.x.QueryRowContext(ctx, `INSERT INTO events (at, actor, account, action, detail)
		VALUES (?, ?, ?, ?, ?) RETURNING id`,
		toNanos(e.At), e.Actor, e.User, e.Action, e.Detail).Scan(&e.ID)
	return mapErr("add event", err)
}

func (q queries) Events(ctx context.Context, f store.EventFilter) ([]*store.Event, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultEventLimit
	}
	limit = min(limit, maxEventLimit)
	// The conditions are left out rather than bound empty, so that the planner uses the indexes.
	query := `SELECT id, at, actor, account, action, detail FROM events WHERE 1`
	var args []any
	if f.User != "" {
		query += ` AND account = ?`
		args = append(args, f.User)
	}
	if f.Action != "" {
		query += ` AND action = ?`
		args = append(args, f.Action)
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := q.x.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, mapErr("events", err)
	}
	defer rows.Close()
	var es []*store.Event
	for rows.Next() {
		var e store.Event
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.User, &e.Action, &e.Detail); err != nil {
			return nil, mapErr("events", err)
		}
		e.At = fromNanos(at)
		es = append(es, &e)
	}
	return es, mapErr("events", rows.Err())
}

// ---- meta

func (q queries) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := q.x.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	return v, mapErr(fmt.Sprintf("meta %q", key), err)
}

func (q queries) SetMetaOnce(ctx context.Context, key, value string) (string, error) {
	// DO UPDATE keeps the stored value and makes RETURNING answer it (DO NOTHING would return
	// no row).
	var v string
	err := q.x.QueryRowContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = meta.value RETURNING value`, key, value).Scan(&v)
	return v, mapErr("set meta once", err)
}
