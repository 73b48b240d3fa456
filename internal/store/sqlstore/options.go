package sqlstore

import (
	"context"
	"fmt"

	"github.com/twofold-auth/twofold/internal/store"
)

// Options, audit events and the store's own metadata.

// Options answers every stored option value by key.
func (q Queries) Options(ctx context.Context) (map[string]string, error) {
	m := map[string]string{}
	err := q.each(ctx, func(row Scanner) error {
		var k, v string
		if err := row.Scan(&k, &v); err != nil {
			return err
		}
		m[k] = v
		return nil
	}, `SELECT key, value FROM options`)
	if err != nil {
		return nil, q.err("options", err)
	}
	return m, nil
}

// optionsVersion is the meta row whose update is the options' lock.
const optionsVersion = "options_version"

// LockOptions takes the options' lock (lockMeta), then reads the options.
func (q Queries) LockOptions(ctx context.Context) (map[string]string, error) {
	if err := q.lockMeta(ctx, optionsVersion); err != nil {
		return nil, err
	}
	return q.Options(ctx)
}

// SetOption stores value under key.
func (q Queries) SetOption(ctx context.Context, key, value string) error {
	_, err := q.exec(ctx, `INSERT INTO options (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return q.err("set option", err)
}

const (
	defaultEventLimit = 100
	maxEventLimit     = 1000
)

// AddEvent appends an audit event and sets its id: where the Executor answers the rowid
// (IDExecutor), a statement instead of a RETURNING query.
func (q Queries) AddEvent(ctx context.Context, e *store.Event) error {
	const insert = `INSERT INTO events (at, actor, account, action, detail) VALUES (?, ?, ?, ?, ?)`
	args := []any{Nanos(e.At), e.Actor, e.User, e.Action, e.Detail}
	if x, ok := q.x.(IDExecutor); ok {
		id, err := x.ExecID(ctx, q.f.sql(insert), args...)
		if err == nil {
			e.ID = id
		}
		return q.err("add event", err)
	}
	err := q.queryRow(ctx, insert+` RETURNING id`, args...).Scan(&e.ID)
	return q.err("add event", err)
}

// Events lists audit events, newest first.
func (q Queries) Events(ctx context.Context, f store.EventFilter) ([]*store.Event, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultEventLimit
	}
	limit = min(limit, maxEventLimit)
	// The conditions are left out rather than bound empty, so that the planner uses the indexes.
	query := `SELECT id, at, actor, account, action, detail FROM events WHERE true`
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
	return list(ctx, q, "events", event, query, args...)
}

// event reads a row of id, at, actor, account, action, detail.
func event(row Scanner) (*store.Event, error) {
	var e store.Event
	var at int64
	err := row.Scan(&e.ID, &at, &e.Actor, &e.User, &e.Action, &e.Detail)
	e.At = Time(at)
	return &e, err
}

// Meta answers a value of the store's own metadata.
func (q Queries) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := q.queryRow(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	return v, q.err(fmt.Sprintf("meta %q", key), err)
}

// lockMeta counts the meta row key one up, creating it at 1: the upsert locks the row until
// commit (PostgreSQL; SQLite has one writer anyway), so that the transactions that take it
// first take turns. It is the lock of a set of rows that a change reads whole (the access
// rules, the options), where no one row would do.
func (q Queries) lockMeta(ctx context.Context, key string) error {
	_, err := q.exec(ctx, `INSERT INTO meta (key, value) VALUES (?, '1')
		ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(meta.value AS BIGINT) + 1 AS TEXT)`, key)
	return q.err(fmt.Sprintf("lock meta %q", key), err)
}

// SetMetaOnce uses DO UPDATE, which keeps the stored value and makes RETURNING answer it (DO
// NOTHING would return no row); writers racing here all answer the value of the first commit.
func (q Queries) SetMetaOnce(ctx context.Context, key, value string) (string, error) {
	var v string
	err := q.queryRow(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = meta.value RETURNING value`, key, value).Scan(&v)
	return v, q.err("set meta once", err)
}
