// Package sqlstore is store.Queries written once in SQL, for every SQL backend.
//
// A backend gives an Executor (its driver's connection, pool or transaction) and a Flavor (what
// its SQL dialect does differently); the queries here are written with ? placeholders and
// translated once per text for a flavour that numbers them. What truly differs stays in the
// backend: how a transaction begins and commits (SQLite's group commit, PostgreSQL's pool),
// how driver errors map to the store's sentinels, the migrations, and how copy-db imports.
package sqlstore

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/twofold-auth/twofold/internal/store"
)

// Scanner is a row of either driver.
type Scanner interface{ Scan(dest ...any) error }

// Executor runs statements for the queries: an adapter over one driver's pool, connection or
// transaction.
type Executor interface {
	// Exec runs a statement and answers how many rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	// QueryRow runs a query of one row; a query of none answers an error that is
	// sql.ErrNoRows (errors.Is) when scanned.
	QueryRow(ctx context.Context, query string, args ...any) Scanner
	// QueryEach runs a query and calls each for every row, in order, until it answers an
	// error.
	QueryEach(ctx context.Context, each func(Scanner) error, query string, args ...any) error
}

// IDExecutor is an Executor that also answers the id of the row an INSERT made without a
// RETURNING clause (SQLite's last rowid): a statement, cheaper than a query. AddEvent, the
// insert of every audited write, uses it where the Executor has it.
type IDExecutor interface {
	ExecID(ctx context.Context, query string, args ...any) (int64, error)
}

// Rows is a query's result in either driver, as Each reads it.
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// Each calls each for every row of rows, in order, until it answers an error; the caller
// closes rows.
func Each(rows Rows, each func(Scanner) error) error {
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Flavor is what an SQL dialect does differently from the queries as written here.
type Flavor struct {
	// Name starts the backend's error messages ("sqlite", "postgres").
	Name string
	// Numbered placeholders: ? becomes $1, $2... (PostgreSQL).
	Numbered bool
	// ForUpdate ends a read inside a transaction that locks the rows it answers until
	// commit, and SkipLocked a sweep's subquery that passes over rows another transaction
	// holds; both empty where one writer at a time makes them needless (SQLite).
	ForUpdate, SkipLocked string
	// LockName and LockAddress, when set, are statements that take a transaction lock of a
	// password name key or of a client address, so that the transactions counting one take
	// turns, also before its first row exists. Empty where one writer at a time is the lock.
	LockName, LockAddress string
	// MapErr turns a driver error into the store's sentinels, with op as context.
	MapErr func(op string, err error) error

	rebound sync.Map // query text as written -> text with numbered placeholders
}

// sql answers query in the flavour's placeholders, translating each text once.
func (f *Flavor) sql(query string) string {
	if !f.Numbered {
		return query
	}
	if s, ok := f.rebound.Load(query); ok {
		return s.(string)
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	s := b.String()
	f.rebound.Store(query, s)
	return s
}

// Queries implements store.Queries once, on a backend's pool or on one of its transactions.
type Queries struct {
	f *Flavor
	x Executor
	// begin runs fn in a new transaction of the backend; nil when x is a transaction already.
	begin func(ctx context.Context, fn func(q Queries) error) error
}

var _ store.Queries = Queries{}

// New answers the queries of flavour f on x. begin runs a function in a new transaction, for
// the operations of more than one statement; it is nil when x is a transaction already (its
// reads then lock what they read, per f.ForUpdate).
func New(f *Flavor, x Executor, begin func(ctx context.Context, fn func(q Queries) error) error) Queries {
	return Queries{f: f, x: x, begin: begin}
}

// Executor answers what q runs its statements on.
func (q Queries) Executor() Executor { return q.x }

// atomic runs fn in one transaction: q's own, or a new one.
func (q Queries) atomic(ctx context.Context, fn func(q Queries) error) error {
	if q.begin == nil {
		return fn(q)
	}
	return q.begin(ctx, fn)
}

// forUpdate answers the lock clause of a read inside a transaction.
func (q Queries) forUpdate() string {
	if q.begin == nil {
		return q.f.ForUpdate
	}
	return ""
}

// exec, queryRow and each run a statement written with ? placeholders.
func (q Queries) exec(ctx context.Context, query string, args ...any) (int64, error) {
	return q.x.Exec(ctx, q.f.sql(query), args...)
}

func (q Queries) queryRow(ctx context.Context, query string, args ...any) Scanner {
	return q.x.QueryRow(ctx, q.f.sql(query), args...)
}

func (q Queries) each(ctx context.Context, fn func(Scanner) error, query string, args ...any) error {
	return q.x.QueryEach(ctx, fn, q.f.sql(query), args...)
}

// list answers every row of query, each read by scan; what names the query in an error.
func list[T any](ctx context.Context, q Queries, what string, scan func(Scanner) (T, error), query string, args ...any) ([]T, error) {
	var out []T
	err := q.each(ctx, func(row Scanner) error {
		v, err := scan(row)
		out = append(out, v)
		return err
	}, query, args...)
	if err != nil {
		return nil, q.err(what, err)
	}
	return out, nil
}

func (q Queries) err(op string, err error) error { return q.f.MapErr(op, err) }

// blob stores an empty byte slice as NULL.
func blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
