package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
)

// CreateSession inserts with ON CONFLICT DO NOTHING, as CreateUser does.
func (q Queries) CreateSession(ctx context.Context, s *store.Session) error {
	n, err := q.exec(ctx, `INSERT INTO sessions (`+SessionColumns+`)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id_hash) DO NOTHING`,
		s.IDHash, s.UserID, s.Done, s.MFAPassed, s.MFASkipped, blob(s.PendingKey),
		s.Reauthenticated, s.SID, ListText(s.AMR), s.MFARequired, s.ReturnTo,
		Nanos(s.CreatedAt), Nanos(s.LastSeenAt), s.DeviceRemembered)
	if err != nil {
		return q.err("create session", err)
	}
	if n != 1 {
		return fmt.Errorf("%s: create session: %w (the id is taken)", q.f.Name, store.ErrConflict)
	}
	return nil
}

// Session locks the row inside a transaction, so that two requests of one sign-in that both
// read it and then write it (the first request for an enrolment key) take turns.
func (q Queries) Session(ctx context.Context, idHash []byte) (*store.Session, error) {
	s, err := Session(q.queryRow(ctx, `SELECT `+SessionColumns+` FROM sessions WHERE id_hash = ?`+q.forUpdate(), idHash))
	if err != nil {
		return nil, q.err("session", err)
	}
	return s, nil
}

// SessionUser reads the session and its account in one query. Inside a transaction it locks
// the account, as User does, and not the session. Where rows are locked (PostgreSQL) the lock
// is taken by a statement of its own, before the read: a statement that waits for a lock
// answers the other rows as they were when it began, so the one read in a locking join could
// answer a session that the transaction holding the account had replaced; the read after the
// lock sees what that transaction committed.
func (q Queries) SessionUser(ctx context.Context, idHash []byte) (*store.Session, *store.User, error) {
	if lock := q.forUpdate(); lock != "" {
		var one int
		err := q.queryRow(ctx, `SELECT 1 FROM users WHERE id = (SELECT user_id FROM sessions WHERE id_hash = ?)`+lock, idHash).Scan(&one)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, nil, q.err("lock the session's account", err)
		}
	}
	s, u, err := sessionUser(q.queryRow(ctx, sessionUserSelect, idHash))
	if err != nil {
		return nil, nil, q.err("session and account", err)
	}
	return s, u, nil
}

// ReplaceSession is one conditional write: of two requests racing on one sign-in, the second
// finds oldHash gone. A session's account and sid are its own for life, so they are conditions
// rather than columns to set: leaving them out of SET keeps SQLite from rewriting their index
// entries (SQLite's migration 10).
func (q Queries) ReplaceSession(ctx context.Context, oldHash []byte, s *store.Session) error {
	n, err := q.exec(ctx, `UPDATE sessions SET
		id_hash = ?, done = ?, mfa_passed = ?, mfa_skipped = ?, pending_key = ?,
		reauthenticated = ?, amr = ?, mfa_required = ?, return_to = ?,
		created_at = ?, last_seen_at = ?, device_remembered = ?
	WHERE id_hash = ? AND user_id = ? AND sid = ?`,
		s.IDHash, s.Done, s.MFAPassed, s.MFASkipped, blob(s.PendingKey),
		s.Reauthenticated, ListText(s.AMR), s.MFARequired, s.ReturnTo,
		Nanos(s.CreatedAt), Nanos(s.LastSeenAt), s.DeviceRemembered,
		oldHash, s.UserID, s.SID)
	return q.err("replace session", one(n, err))
}

// TouchSession sets the session's last use.
func (q Queries) TouchSession(ctx context.Context, idHash []byte, at time.Time) error {
	n, err := q.exec(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?`, Nanos(at), idHash)
	return q.err("touch session", one(n, err))
}

// DeleteSession removes one session; no error when it is gone already.
func (q Queries) DeleteSession(ctx context.Context, idHash []byte) error {
	_, err := q.exec(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash)
	return q.err("delete session", err)
}

// SessionSIDs answers the sids of the account's sessions but the one with keepHash.
func (q Queries) SessionSIDs(ctx context.Context, userID int64, keepHash []byte) ([]string, error) {
	if keepHash == nil {
		return q.strings(ctx, "session sids", `SELECT DISTINCT sid FROM sessions WHERE user_id = ? AND sid <> '' ORDER BY sid`, userID)
	}
	return q.strings(ctx, "session sids", `SELECT DISTINCT sid FROM sessions WHERE user_id = ? AND sid <> '' AND id_hash <> ?
		ORDER BY sid`, userID, keepHash)
}

// DeleteUserSessions removes the account's sessions but the one with keepHash.
func (q Queries) DeleteUserSessions(ctx context.Context, userID int64, keepHash []byte) error {
	var err error
	if keepHash == nil {
		_, err = q.exec(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID)
	} else {
		_, err = q.exec(ctx, `DELETE FROM sessions WHERE user_id = ? AND id_hash <> ?`, userID, keepHash)
	}
	return q.err("delete user sessions", err)
}

// DeleteExpiredSessions is the sweep every instance runs each minute: rows another instance's
// sweep (or a request) holds are skipped, and go at a later sweep.
func (q Queries) DeleteExpiredSessions(ctx context.Context, signinBefore, idleBefore, createdBefore time.Time) (int, error) {
	n, err := q.exec(ctx, `DELETE FROM sessions WHERE id_hash IN (
		SELECT id_hash FROM sessions WHERE
			(NOT done AND last_seen_at < ?) OR
			(done AND last_seen_at < ?) OR
			created_at < ?`+q.f.SkipLocked+`)`,
		Nanos(signinBefore), Nanos(idleBefore), Nanos(createdBefore))
	return int(n), q.err("delete expired sessions", err)
}
