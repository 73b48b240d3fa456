package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
)

// ---- password failures, per name key

// PasswordFailures inside a transaction first takes the name key's lock (Flavor.LockName),
// which holds whether or not the row exists yet: a transaction counting the same name waits
// for this one to commit, and its read (a new statement) then sees what this one wrote.
func (q Queries) PasswordFailures(ctx context.Context, nameKey []byte, now time.Time) (store.PasswordFailures, error) {
	if q.begin == nil {
		if err := q.lockName(ctx, nameKey); err != nil {
			return store.PasswordFailures{}, q.err("password failures", err)
		}
	}
	var f store.PasswordFailures
	var lockedUntil, countsUntil int64
	err := q.queryRow(ctx,
		`SELECT failures, locked_until, counts_until FROM password_failures WHERE name_mac = ? AND counts_until > ?`,
		nameKey, Nanos(now)).Scan(&f.Failures, &lockedUntil, &countsUntil)
	if errors.Is(err, sql.ErrNoRows) {
		return store.PasswordFailures{}, nil
	}
	if err != nil {
		return store.PasswordFailures{}, q.err("password failures", err)
	}
	f.LockedUntil, f.CountsUntil = Time(lockedUntil), Time(countsUntil)
	return f, nil
}

// SetPasswordFailures writes the row, then removes rows of other names that stopped counting;
// rows another transaction is removing at the same moment are skipped, not waited for.
func (q Queries) SetPasswordFailures(ctx context.Context, nameKey []byte, f store.PasswordFailures, now time.Time) error {
	return q.atomic(ctx, func(q Queries) error {
		if _, err := q.exec(ctx, `INSERT INTO password_failures (name_mac, failures, locked_until, counts_until)
			VALUES (?, ?, ?, ?)
			ON CONFLICT (name_mac) DO UPDATE SET failures = excluded.failures,
				locked_until = excluded.locked_until, counts_until = excluded.counts_until`,
			nameKey, f.Failures, Nanos(f.LockedUntil), Nanos(f.CountsUntil)); err != nil {
			return q.err("set password failures", err)
		}
		_, err := q.exec(ctx, `DELETE FROM password_failures WHERE name_mac IN (
			SELECT name_mac FROM password_failures WHERE counts_until <= ? AND name_mac <> ? LIMIT ?`+q.f.SkipLocked+`)`,
			Nanos(now), nameKey, store.PruneBatch)
		return q.err("set password failures", err)
	})
}

// ClearPasswordFailures forgets the name key's failures and lock under the name key's lock, so
// that a failure counted at the same moment (read, then written) cannot write its count back
// over the clearing: it either commits before it, or reads after it.
func (q Queries) ClearPasswordFailures(ctx context.Context, nameKey []byte) error {
	return q.atomic(ctx, func(q Queries) error {
		if err := q.lockName(ctx, nameKey); err != nil {
			return q.err("clear password failures", err)
		}
		_, err := q.exec(ctx, `DELETE FROM password_failures WHERE name_mac = ?`, nameKey)
		return q.err("clear password failures", err)
	})
}

// lockName takes the name key's transaction lock where the flavour has one (SQLite's single
// writer needs none).
func (q Queries) lockName(ctx context.Context, nameKey []byte) error {
	if q.f.LockName == "" {
		return nil
	}
	_, err := q.exec(ctx, q.f.LockName, nameKey)
	return err
}

// ---- attempts per client address

// ReserveAddressAttempt counts and inserts in one transaction under the address's lock (one
// writer at a time on SQLite; Flavor.LockAddress elsewhere), so that no two attempts count the
// same state: an attempt of another transaction commits before it lets go of the lock, and
// each statement after the lock sees it. Where the lock is a statement, an address already at
// its limit is refused by a count before it, so that a flood from one address does not hold
// connections waiting for the lock (attempts only leave the count by being released or growing
// old, so the refusal is as right as one under the lock, at the moment of the count). Inside
// Update the lock lasts until its commit. The id is the row's own key, which VACUUM keeps.
func (q Queries) ReserveAddressAttempt(ctx context.Context, addr string, now, since time.Time, limit int) (int64, bool, error) {
	if limit <= 0 {
		return 0, false, fmt.Errorf("%s: reserve address attempt: the limit must be positive, not %d", q.f.Name, limit)
	}
	if q.f.LockAddress != "" {
		if n, err := q.CountAddressFailures(ctx, addr, since); err != nil || n >= limit {
			return 0, false, err
		}
	}
	var id int64
	var ok bool
	err := q.atomic(ctx, func(q Queries) error {
		if q.f.LockAddress != "" {
			if _, err := q.exec(ctx, q.f.LockAddress, addr); err != nil {
				return err
			}
		}
		var n int
		if err := q.queryRow(ctx, `SELECT count(*) FROM address_failures WHERE addr = ? AND at > ?`,
			addr, Nanos(since)).Scan(&n); err != nil {
			return err
		}
		if n >= limit {
			return nil
		}
		if err := q.queryRow(ctx, `INSERT INTO address_failures (addr, at) VALUES (?, ?) RETURNING id`,
			addr, Nanos(now)).Scan(&id); err != nil {
			return err
		}
		ok = true
		// Every address's old attempts go, not only addr's, so that addresses that never come
		// back do not stay in the table.
		_, err := q.exec(ctx, `DELETE FROM address_failures WHERE id IN (
			SELECT id FROM address_failures WHERE at <= ? LIMIT ?`+q.f.SkipLocked+`)`, Nanos(since), store.PruneBatch)
		return err
	})
	if err != nil {
		return 0, false, q.err("reserve address attempt", err)
	}
	return id, ok, nil
}

// ReleaseAddressAttempt forgets one attempt; no error when it is gone already.
func (q Queries) ReleaseAddressAttempt(ctx context.Context, id int64) error {
	_, err := q.exec(ctx, `DELETE FROM address_failures WHERE id = ?`, id)
	return q.err("release address attempt", err)
}

// CountAddressFailures counts the address's attempts after since.
func (q Queries) CountAddressFailures(ctx context.Context, addr string, since time.Time) (int, error) {
	var n int
	err := q.queryRow(ctx, `SELECT count(*) FROM address_failures WHERE addr = ? AND at > ?`, addr, Nanos(since)).Scan(&n)
	return n, q.err("count address failures", err)
}
