package postgres

import (
	"context"
	"errors"
	"fmt"
	"github.com/twofold-auth/twofold/internal/store/sqlrow"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/twofold-auth/twofold/internal/store"
)

// execer is what *pgxpool.Pool and pgx.Tx have in common.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// queries implements store.Queries once, on the pool (each method atomic by itself) or on a
// transaction of Update (inTx: reads of accounts and sessions lock their rows).
type queries struct {
	x    execer
	inTx bool
}

var _ store.Queries = queries{}

func toNanos(t time.Time) int64 { return sqlrow.Nanos(t) }

func fromNanos(n int64) time.Time { return sqlrow.Time(n) }

// bytea stores an empty byte slice as NULL.
func bytea(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func nilIfEmpty(b []byte) []byte { return sqlrow.NilIfEmpty(b) }

// forUpdate locks the rows a read inside Update returns until the transaction ends.
func (q queries) forUpdate() string {
	if q.inTx {
		return ` FOR UPDATE`
	}
	return ``
}

// ---- users

const userColumns = sqlrow.UserColumns

func scanUser(s sqlrow.Scanner) (*store.User, error) { return sqlrow.User(s) }

// CreateUser inserts with ON CONFLICT DO NOTHING: a taken username answers ErrConflict
// without an SQL error, which would abort the transaction around it.
func (q queries) CreateUser(ctx context.Context, u *store.User) error {
	err := q.x.QueryRow(ctx, `INSERT INTO users (
		username, email, name, kind, source, role, disabled,
		password_hash, password_temporary, password_expires_at,
		totp_key, totp_key_version, totp_last_step, backup_salt,
		mfa_failures, mfa_locked_until, mfa_locked_forever, created_at
	) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
	ON CONFLICT (username) DO NOTHING RETURNING id`,
		u.Username, u.Email, u.Name, u.Kind, u.Source, u.Role, u.Disabled,
		u.PasswordHash, u.PasswordTemporary, toNanos(u.PasswordExpiresAt),
		bytea(u.TOTPKey), u.TOTPKeyVersion, u.TOTPLastStep, bytea(u.BackupSalt),
		u.MFAFailures, toNanos(u.MFALockedUntil), u.MFALockedForever, toNanos(u.CreatedAt),
	).Scan(&u.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: create user: %w (username %q is taken)", store.ErrConflict, u.Username)
	}
	return mapErr("create user", err)
}

func (q queries) User(ctx context.Context, id int64) (*store.User, error) {
	u, err := scanUser(q.x.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`+q.forUpdate(), id))
	return u, mapErr("user", err)
}

func (q queries) UserByName(ctx context.Context, username string) (*store.User, error) {
	u, err := scanUser(q.x.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE username = $1`, username))
	return u, mapErr("user by name", err)
}

func (q queries) Users(ctx context.Context) ([]*store.User, error) {
	rows, err := q.x.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY created_at DESC, id DESC`)
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
		err = q.x.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n)
	} else {
		err = q.x.QueryRow(ctx, `SELECT count(*) FROM users WHERE role = $1`, role).Scan(&n)
	}
	return n, mapErr("count users", err)
}

func (q queries) UpdateUser(ctx context.Context, u *store.User) error {
	tag, err := q.x.Exec(ctx, `UPDATE users SET
		email = $1, name = $2, kind = $3, source = $4, role = $5, disabled = $6,
		password_hash = $7, password_temporary = $8, password_expires_at = $9,
		totp_key = $10, totp_key_version = $11, totp_last_step = $12,
		mfa_failures = $13, mfa_locked_until = $14, mfa_locked_forever = $15
	WHERE id = $16`,
		u.Email, u.Name, u.Kind, u.Source, u.Role, u.Disabled,
		u.PasswordHash, u.PasswordTemporary, toNanos(u.PasswordExpiresAt),
		bytea(u.TOTPKey), u.TOTPKeyVersion, u.TOTPLastStep,
		u.MFAFailures, toNanos(u.MFALockedUntil), u.MFALockedForever,
		u.ID)
	if err != nil {
		return mapErr("update user", err)
	}
	if tag.RowsAffected() != 1 {
		return mapErr("update user", pgx.ErrNoRows)
	}
	return nil
}

// userExists answers whether the account exists, as ErrNotFound when it does not.
func (q queries) userExists(ctx context.Context, op string, id int64) error {
	var one int
	return mapErr(op, q.x.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1`, id).Scan(&one))
}

func (q queries) SetTOTPStep(ctx context.Context, userID, step int64) (bool, error) {
	tag, err := q.x.Exec(ctx,
		`UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1`, step, userID)
	if err != nil {
		return false, mapErr("set totp step", err)
	}
	ok := tag.RowsAffected() == 1
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
	_, err := q.x.Exec(ctx,
		`INSERT INTO backup_codes (user_id, mac, used_at) SELECT $1, mac, 0 FROM unnest($2::bytea[]) AS mac`,
		userID, macs)
	return mapErr("add backup codes", err)
}

func (q queries) DeleteBackupCodes(ctx context.Context, userID int64) error {
	_, err := q.x.Exec(ctx, `DELETE FROM backup_codes WHERE user_id = $1`, userID)
	return mapErr("delete backup codes", err)
}

func (q queries) UseBackupCode(ctx context.Context, userID int64, mac []byte, now time.Time) (bool, error) {
	usedAt := toNanos(now)
	if usedAt == 0 {
		usedAt = 1 // 0 means unused
	}
	tag, err := q.x.Exec(ctx,
		`UPDATE backup_codes SET used_at = $1 WHERE user_id = $2 AND mac = $3 AND used_at = 0`, usedAt, userID, mac)
	if err != nil {
		return false, mapErr("use backup code", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (q queries) CountBackupCodes(ctx context.Context, userID int64) (int, error) {
	var n int
	err := q.x.QueryRow(ctx,
		`SELECT count(*) FROM backup_codes WHERE user_id = $1 AND used_at = 0`, userID).Scan(&n)
	return n, mapErr("count backup codes", err)
}

// ---- password and address failures

// nameLock is the first key of the transaction advisory lock a name key's failures are read
// and written under inside Update; the second is a hash of the name key (two names sharing a
// hash only wait for each other).
const nameLock = 0x7466_6e6d // "tfnm"

// PasswordFailures inside Update first takes the name key's advisory lock, which holds whether
// or not the row exists yet: a transaction of another instance counting the same name waits
// for this one to commit, and its read (a new statement, under READ COMMITTED) then sees what
// this one wrote.
func (q queries) PasswordFailures(ctx context.Context, nameKey []byte, now time.Time) (store.PasswordFailures, error) {
	if q.inTx {
		if _, err := q.x.Exec(ctx, `SELECT pg_advisory_xact_lock($1::int, $2::int)`, nameLock, lockKey(nameKey)); err != nil {
			return store.PasswordFailures{}, mapErr("password failures", err)
		}
	}
	var f store.PasswordFailures
	var lockedUntil, countsUntil int64
	err := q.x.QueryRow(ctx,
		`SELECT failures, locked_until, counts_until FROM password_failures WHERE name_mac = $1 AND counts_until > $2`,
		nameKey, toNanos(now)).Scan(&f.Failures, &lockedUntil, &countsUntil)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.PasswordFailures{}, nil
	}
	if err != nil {
		return store.PasswordFailures{}, mapErr("password failures", err)
	}
	f.LockedUntil, f.CountsUntil = fromNanos(lockedUntil), fromNanos(countsUntil)
	return f, nil
}

// lockKey answers the int32 an advisory lock of b is taken under.
func lockKey(b []byte) int32 {
	h := fnv.New32a()
	h.Write(b)
	return int32(h.Sum32())
}

// SetPasswordFailures writes and prunes in one statement; rows another instance is removing at
// the same moment are skipped, not waited for.
func (q queries) SetPasswordFailures(ctx context.Context, nameKey []byte, f store.PasswordFailures, now time.Time) error {
	_, err := q.x.Exec(ctx, `WITH old AS (
		SELECT name_mac FROM password_failures WHERE counts_until <= $5 AND name_mac <> $1
		LIMIT $6 FOR UPDATE SKIP LOCKED
	), gone AS (
		DELETE FROM password_failures WHERE name_mac IN (SELECT name_mac FROM old)
	)
	INSERT INTO password_failures (name_mac, failures, locked_until, counts_until)
	VALUES ($1, $2, $3, $4)
	ON CONFLICT (name_mac) DO UPDATE SET failures = excluded.failures,
		locked_until = excluded.locked_until, counts_until = excluded.counts_until`,
		nameKey, f.Failures, toNanos(f.LockedUntil), toNanos(f.CountsUntil), toNanos(now), store.PruneBatch)
	return mapErr("set password failures", err)
}

func (q queries) ClearPasswordFailures(ctx context.Context, nameKey []byte) error {
	_, err := q.x.Exec(ctx, `DELETE FROM password_failures WHERE name_mac = $1`, nameKey)
	return mapErr("clear password failures", err)
}

// addressLock is the first key of the transaction advisory lock an address's attempts are
// counted under; the second is a hash of the address (two addresses sharing a hash only wait
// for each other).
const addressLock = 0x7466_6164 // "tfad"

// ReserveAddressAttempt first counts without any lock and refuses an address already at its
// limit, so that a flood from one address is refused at once instead of holding the pool's
// connections while they wait for the address's lock. (Attempts only leave the count by being
// released or growing old, so a refusal is as right as one under the lock, at the moment of the
// count.) An attempt under the limit takes the address's advisory lock, then counts again and
// inserts as separate statements of one transaction: under READ COMMITTED each statement sees
// every attempt committed before it, and an attempt of another instance commits before it lets
// go of the lock, so no two attempts count the same state. Inside Update the lock lasts until
// its commit.
func (q queries) ReserveAddressAttempt(ctx context.Context, addr string, now, since time.Time, limit int) (int64, bool, error) {
	if limit <= 0 {
		return 0, false, fmt.Errorf("postgres: reserve address attempt: the limit must be positive, not %d", limit)
	}
	if n, err := q.CountAddressFailures(ctx, addr, since); err != nil {
		return 0, false, err
	} else if n >= limit {
		return 0, false, nil
	}
	var id int64
	var ok bool
	err := q.atomic(ctx, func(q queries) error {
		if _, err := q.x.Exec(ctx, `SELECT pg_advisory_xact_lock($1::int, hashtext($2))`, addressLock, addr); err != nil {
			return err
		}
		var n int
		if err := q.x.QueryRow(ctx, `SELECT count(*) FROM address_failures WHERE addr = $1 AND at > $2`,
			addr, toNanos(since)).Scan(&n); err != nil {
			return err
		}
		if n >= limit {
			return nil
		}
		// Every address's old attempts go, not only addr's; rows another instance is removing
		// at the same moment are skipped, not waited for.
		if err := q.x.QueryRow(ctx, `WITH old AS (
			SELECT id FROM address_failures WHERE at <= $3 LIMIT $4 FOR UPDATE SKIP LOCKED
		), gone AS (
			DELETE FROM address_failures WHERE id IN (SELECT id FROM old)
		)
		INSERT INTO address_failures (addr, at) VALUES ($1, $2) RETURNING id`,
			addr, toNanos(now), toNanos(since), store.PruneBatch).Scan(&id); err != nil {
			return err
		}
		ok = true
		return nil
	})
	if err != nil {
		return 0, false, mapErr("reserve address attempt", err)
	}
	return id, ok, nil
}

func (q queries) ReleaseAddressAttempt(ctx context.Context, id int64) error {
	_, err := q.x.Exec(ctx, `DELETE FROM address_failures WHERE id = $1`, id)
	return mapErr("release address attempt", err)
}

func (q queries) CountAddressFailures(ctx context.Context, addr string, since time.Time) (int, error) {
	var n int
	err := q.x.QueryRow(ctx,
		`SELECT count(*) FROM address_failures WHERE addr = $1 AND at > $2`, addr, toNanos(since)).Scan(&n)
	return n, mapErr("count address failures", err)
}

// txStarter is the pool: what can begin a transaction of its own.
type txStarter interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// atomic runs fn in one transaction: Update's own, or a new READ COMMITTED one on the pool.
func (q queries) atomic(ctx context.Context, fn func(q queries) error) error {
	if q.inTx {
		return fn(q)
	}
	p, ok := q.x.(txStarter)
	if !ok {
		return errors.New("postgres: no transaction to run in")
	}
	return pgx.BeginTxFunc(ctx, p, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		return fn(queries{x: tx, inTx: true})
	})
}

// ---- sessions

const sessionColumns = `id_hash, user_id, done, mfa_passed, mfa_skipped, pending_key,
	reauthenticated, created_at, last_seen_at`

// CreateSession inserts with ON CONFLICT DO NOTHING, as CreateUser does.
func (q queries) CreateSession(ctx context.Context, s *store.Session) error {
	tag, err := q.x.Exec(ctx, `INSERT INTO sessions (`+sessionColumns+`)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id_hash) DO NOTHING`,
		s.IDHash, s.UserID, s.Done, s.MFAPassed, s.MFASkipped, bytea(s.PendingKey),
		s.Reauthenticated, toNanos(s.CreatedAt), toNanos(s.LastSeenAt))
	if err != nil {
		return mapErr("create session", err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("postgres: create session: %w (the id is taken)", store.ErrConflict)
	}
	return nil
}

func scanSession(row pgx.Row) (*store.Session, error) { return sqlrow.Session(row) }

// Session locks the row inside Update, so that two requests of one sign-in that both read it
// and then write it (the first request for an enrolment key) take turns, as on SQLite.
func (q queries) Session(ctx context.Context, idHash []byte) (*store.Session, error) {
	s, err := scanSession(q.x.QueryRow(ctx,
		`SELECT `+sessionColumns+` FROM sessions WHERE id_hash = $1`+q.forUpdate(), idHash))
	return s, mapErr("session", err)
}

func (q queries) ReplaceSession(ctx context.Context, oldHash []byte, s *store.Session) error {
	tag, err := q.x.Exec(ctx, `UPDATE sessions SET
		id_hash = $1, user_id = $2, done = $3, mfa_passed = $4, mfa_skipped = $5, pending_key = $6,
		reauthenticated = $7, created_at = $8, last_seen_at = $9
	WHERE id_hash = $10`,
		s.IDHash, s.UserID, s.Done, s.MFAPassed, s.MFASkipped, bytea(s.PendingKey),
		s.Reauthenticated, toNanos(s.CreatedAt), toNanos(s.LastSeenAt),
		oldHash)
	if err != nil {
		return mapErr("replace session", err)
	}
	if tag.RowsAffected() != 1 {
		return mapErr("replace session", pgx.ErrNoRows)
	}
	return nil
}

func (q queries) TouchSession(ctx context.Context, idHash []byte, at time.Time) error {
	tag, err := q.x.Exec(ctx, `UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2`, toNanos(at), idHash)
	if err != nil {
		return mapErr("touch session", err)
	}
	if tag.RowsAffected() != 1 {
		return mapErr("touch session", pgx.ErrNoRows)
	}
	return nil
}

func (q queries) DeleteSession(ctx context.Context, idHash []byte) error {
	_, err := q.x.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, idHash)
	return mapErr("delete session", err)
}

func (q queries) DeleteUserSessions(ctx context.Context, userID int64, keepHash []byte) error {
	var err error
	if keepHash == nil {
		_, err = q.x.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID)
	} else {
		_, err = q.x.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2`, userID, keepHash)
	}
	return mapErr("delete user sessions", err)
}

// DeleteExpiredSessions is the sweep every instance runs each minute: rows another instance's
// sweep (or a request) holds are skipped, and go at a later sweep.
func (q queries) DeleteExpiredSessions(ctx context.Context, signinBefore, idleBefore, createdBefore time.Time) (int, error) {
	tag, err := q.x.Exec(ctx, `DELETE FROM sessions WHERE id_hash IN (
		SELECT id_hash FROM sessions WHERE
			(NOT done AND created_at < $1) OR
			(done AND (last_seen_at < $2 OR created_at < $3))
		FOR UPDATE SKIP LOCKED)`,
		toNanos(signinBefore), toNanos(idleBefore), toNanos(createdBefore))
	if err != nil {
		return 0, mapErr("delete expired sessions", err)
	}
	return int(tag.RowsAffected()), nil
}

// ---- options

func (q queries) Options(ctx context.Context) (map[string]string, error) {
	rows, err := q.x.Query(ctx, `SELECT key, value FROM options`)
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
	_, err := q.x.Exec(ctx, `INSERT INTO options (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return mapErr("set option", err)
}

// ---- events

const (
	defaultEventLimit = 100
	maxEventLimit     = 1000
)

func (q queries) AddEvent(ctx context.Context, e *store.Event) error {
	err := q.x.QueryRow(ctx, `INSERT INTO events (at, actor, account, action, detail)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`,
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
	query := `SELECT id, at, actor, account, action, detail FROM events WHERE true`
	var args []any
	if f.User != "" {
		args = append(args, f.User)
		query += fmt.Sprintf(` AND account = $%d`, len(args))
	}
	if f.Action != "" {
		args = append(args, f.Action)
		query += fmt.Sprintf(` AND action = $%d`, len(args))
	}
	args = append(args, limit)
	query += fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args))
	rows, err := q.x.Query(ctx, query, args...)
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
	err := q.x.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&v)
	return v, mapErr(fmt.Sprintf("meta %q", key), err)
}

func (q queries) SetMetaOnce(ctx context.Context, key, value string) (string, error) {
	// DO UPDATE keeps the stored value and makes RETURNING answer it (DO NOTHING would return
	// no row); instances racing here all answer the value of the first commit.
	var v string
	err := q.x.QueryRow(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = meta.value RETURNING value`, key, value).Scan(&v)
	return v, mapErr("set meta once", err)
}
