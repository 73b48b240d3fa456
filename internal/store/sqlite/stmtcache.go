package sqlite

import (
	"context"
	"database/sql"
	"sync"

	"github.com/twofold-auth/twofold/internal/store/sqlstore"
)

// preparer is the reader pool or the writer's pinned connection.
type preparer interface {
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// stmtCache prepares each query text once on its pool or connection and keeps it: parsing SQL
// was a fifth of the second-factor step's CPU time. The texts all come from the store, so the
// cache holds a small fixed set. It is the sqlstore.Executor of the readers and of the writer.
//
// On the writer (uninterruptible) statements never see their caller's cancellation. The writer
// runs many callers' fns in one shared transaction (commit.go), and when a statement's context
// ends while it runs the driver interrupts it; SQLite answers an interrupted write by rolling
// back the whole transaction, every other caller's work with it. So a statement, once started,
// runs to its end (the store's statements are short: rows found by key or index), and a caller
// whose context has ended is refused its next statement instead: its fn fails and only its own
// savepoint is rolled back.
type stmtCache struct {
	p               preparer
	uninterruptible bool
	mu              sync.Mutex
	stmts           map[string]*sql.Stmt
}

var _ sqlstore.IDExecutor = (*stmtCache)(nil)

func newStmtCache(p preparer, uninterruptible bool) *stmtCache {
	return &stmtCache{p: p, uninterruptible: uninterruptible, stmts: make(map[string]*sql.Stmt)}
}

// stmt answers the prepared statement of query, and the context to run it in.
func (c *stmtCache) stmt(ctx context.Context, query string) (context.Context, *sql.Stmt, error) {
	if c.uninterruptible {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		ctx = context.Background() // neither its cancellation nor its deadline: see above
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.stmts[query]; ok {
		return ctx, s, nil
	}
	s, err := c.p.PrepareContext(ctx, query)
	if err != nil {
		return nil, nil, err
	}
	c.stmts[query] = s
	return ctx, s, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.stmts {
		s.Close()
	}
	c.stmts = nil
}

func (c *stmtCache) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	ctx, s, err := c.stmt(ctx, query)
	if err != nil {
		return 0, err
	}
	return rowsAffected(s.ExecContext(ctx, args...))
}

// ExecID runs an INSERT and answers the rowid of the row it made (sqlstore.IDExecutor).
func (c *stmtCache) ExecID(ctx context.Context, query string, args ...any) (int64, error) {
	ctx, s, err := c.stmt(ctx, query)
	if err != nil {
		return 0, err
	}
	res, err := s.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

func (c *stmtCache) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Scanner {
	ctx, s, err := c.stmt(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return s.QueryRowContext(ctx, args...)
}

func (c *stmtCache) QueryEach(ctx context.Context, each func(sqlstore.Scanner) error, query string, args ...any) error {
	ctx, s, err := c.stmt(ctx, query)
	if err != nil {
		return err
	}
	rows, err := s.QueryContext(ctx, args...)
	return eachRow(rows, err, each)
}

// runner is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type runner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// unprepared is the sqlstore.Executor of a database/sql transaction that runs once
// (migrations, an export): its statements are not worth keeping.
type unprepared struct{ r runner }

func (u unprepared) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	return rowsAffected(u.r.ExecContext(ctx, query, args...))
}

func (u unprepared) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Scanner {
	return u.r.QueryRowContext(ctx, query, args...)
}

func (u unprepared) QueryEach(ctx context.Context, each func(sqlstore.Scanner) error, query string, args ...any) error {
	rows, err := u.r.QueryContext(ctx, query, args...)
	return eachRow(rows, err, each)
}

func rowsAffected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// eachRow calls each for every row of a query's result, then closes it.
func eachRow(rows *sql.Rows, err error, each func(sqlstore.Scanner) error) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	return sqlstore.Each(rows, each)
}

// errRow is a row that answers err when scanned.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
