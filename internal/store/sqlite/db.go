package sqlite

import (
	"context"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/sqlstore"
)

// The store.Queries of a DB outside Update: reads go to the reader pool; each write is a
// transaction of its own, run by the committer (commit.go) with whatever else is waiting.

// write runs one write method through the committer and answers its result.
func write[T any](ctx context.Context, db *DB, fn func(q sqlstore.Queries) (T, error)) (T, error) {
	var out T
	err := db.inTx(ctx, func(q sqlstore.Queries) error {
		var err error
		out, err = fn(q)
		return err
	})
	return out, err
}

func (db *DB) CreateUser(ctx context.Context, u *store.User) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.CreateUser(ctx, u) })
}

func (db *DB) User(ctx context.Context, id int64) (*store.User, error) { return db.rq.User(ctx, id) }

func (db *DB) UserByName(ctx context.Context, username string) (*store.User, error) {
	return db.rq.UserByName(ctx, username)
}

func (db *DB) Users(ctx context.Context) ([]*store.User, error) { return db.rq.Users(ctx) }

func (db *DB) CountUsers(ctx context.Context, role string) (int, error) {
	return db.rq.CountUsers(ctx, role)
}

func (db *DB) UpdateUser(ctx context.Context, u *store.User) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.UpdateUser(ctx, u) })
}

func (db *DB) SetTOTPStep(ctx context.Context, userID, step int64) (bool, error) {
	return write(ctx, db, func(q sqlstore.Queries) (bool, error) { return q.SetTOTPStep(ctx, userID, step) })
}

func (db *DB) AddBackupCodes(ctx context.Context, userID int64, macs [][]byte) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.AddBackupCodes(ctx, userID, macs) })
}

func (db *DB) DeleteBackupCodes(ctx context.Context, userID int64) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.DeleteBackupCodes(ctx, userID) })
}

func (db *DB) UseBackupCode(ctx context.Context, userID int64, mac []byte, now time.Time) (bool, error) {
	return write(ctx, db, func(q sqlstore.Queries) (bool, error) { return q.UseBackupCode(ctx, userID, mac, now) })
}

func (db *DB) CountBackupCodes(ctx context.Context, userID int64) (int, error) {
	return db.rq.CountBackupCodes(ctx, userID)
}

func (db *DB) PasswordFailures(ctx context.Context, nameKey []byte, now time.Time) (store.PasswordFailures, error) {
	return db.rq.PasswordFailures(ctx, nameKey, now)
}

func (db *DB) SetPasswordFailures(ctx context.Context, nameKey []byte, f store.PasswordFailures, now time.Time) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.SetPasswordFailures(ctx, nameKey, f, now) })
}

func (db *DB) ClearPasswordFailures(ctx context.Context, nameKey []byte) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.ClearPasswordFailures(ctx, nameKey) })
}

// ReserveAddressAttempt refuses from a reader when the address is at its limit already, so that
// a flood from one address does not queue for the writer; the refusal is as right as the
// writer's, at the moment of the read. Otherwise the writer counts and writes.
func (db *DB) ReserveAddressAttempt(ctx context.Context, addr string, now, since time.Time, limit int) (int64, bool, error) {
	if n, err := db.rq.CountAddressFailures(ctx, addr, since); err != nil {
		return 0, false, err
	} else if limit > 0 && n >= limit {
		return 0, false, nil
	}
	var id int64
	var ok bool
	err := db.inTx(ctx, func(q sqlstore.Queries) error {
		var err error
		id, ok, err = q.ReserveAddressAttempt(ctx, addr, now, since, limit)
		return err
	})
	return id, ok, err
}

func (db *DB) ReleaseAddressAttempt(ctx context.Context, id int64) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.ReleaseAddressAttempt(ctx, id) })
}

func (db *DB) CountAddressFailures(ctx context.Context, addr string, since time.Time) (int, error) {
	return db.rq.CountAddressFailures(ctx, addr, since)
}

func (db *DB) CreateSession(ctx context.Context, s *store.Session) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.CreateSession(ctx, s) })
}

func (db *DB) Session(ctx context.Context, idHash []byte) (*store.Session, error) {
	return db.rq.Session(ctx, idHash)
}

func (db *DB) SessionUser(ctx context.Context, idHash []byte) (*store.Session, *store.User, error) {
	return db.rq.SessionUser(ctx, idHash)
}

func (db *DB) ReplaceSession(ctx context.Context, oldHash []byte, s *store.Session) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.ReplaceSession(ctx, oldHash, s) })
}

func (db *DB) TouchSession(ctx context.Context, idHash []byte, at time.Time) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.TouchSession(ctx, idHash, at) })
}

func (db *DB) DeleteSession(ctx context.Context, idHash []byte) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.DeleteSession(ctx, idHash) })
}

func (db *DB) SessionSIDs(ctx context.Context, userID int64, keepHash []byte) ([]string, error) {
	return db.rq.SessionSIDs(ctx, userID, keepHash)
}

func (db *DB) DeleteUserSessions(ctx context.Context, userID int64, keepHash []byte) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.DeleteUserSessions(ctx, userID, keepHash) })
}

func (db *DB) DeleteExpiredSessions(ctx context.Context, signinBefore, idleBefore, createdBefore time.Time) (int, error) {
	return write(ctx, db, func(q sqlstore.Queries) (int, error) {
		return q.DeleteExpiredSessions(ctx, signinBefore, idleBefore, createdBefore)
	})
}

func (db *DB) Options(ctx context.Context) (map[string]string, error) { return db.rq.Options(ctx) }

func (db *DB) LockOptions(ctx context.Context) (map[string]string, error) {
	return write(ctx, db, func(q sqlstore.Queries) (map[string]string, error) { return q.LockOptions(ctx) })
}

func (db *DB) SetOption(ctx context.Context, key, value string) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.SetOption(ctx, key, value) })
}

func (db *DB) AddEvent(ctx context.Context, e *store.Event) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.AddEvent(ctx, e) })
}

func (db *DB) Events(ctx context.Context, f store.EventFilter) ([]*store.Event, error) {
	return db.rq.Events(ctx, f)
}

func (db *DB) Meta(ctx context.Context, key string) (string, error) { return db.rq.Meta(ctx, key) }

func (db *DB) SetMetaOnce(ctx context.Context, key, value string) (string, error) {
	return write(ctx, db, func(q sqlstore.Queries) (string, error) { return q.SetMetaOnce(ctx, key, value) })
}
