package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache prepares each query text once per pool and keeps it: parsing SQL was a fifth of
// the second-factor step's CPU time. The texts all come from this package, so the cache holds a
// small fixed set.
type stmtCache struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: make(map[string]*sql.Stmt)}
}

func (c *stmtCache) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.stmts[query]; ok {
		return s, nil
	}
	s, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = s
	return s, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.stmts {
		s.Close()
	}
	c.stmts = nil
}

// ExecContext, QueryContext and QueryRowContext make the cache an execer on its pool.
func (c *stmtCache) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

func (c *stmtCache) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

func (c *stmtCache) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	s, err := c.stmt(ctx, query)
	if err != nil {
		// A Row carrying the error: database/sql offers no constructor, so ask the pool, which
		// fails the same way.
		return c.db.QueryRowContext(ctx, query, args...)
	}
	return s.QueryRowContext(ctx, args...)
}

// connStmts is an execer on the committer's pinned writer connection, with statements
// prepared once on that connection and kept.
//
// Its statements never see their caller's cancellation. The writer runs many callers' fns in
// one shared transaction (commit.go), and when a statement's context ends while it runs the
// driver interrupts it; SQLite answers an interrupted write by rolling back the whole
// transaction, every other caller's work with it. So a statement, once started, runs to its end
// (the store's statements are short: rows found by key or index), and a caller whose context
// has ended is refused its next statement instead: its fn fails and only its own savepoint is
// rolled back.
type connStmts struct {
	conn  *sql.Conn
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// uninterruptible answers ctx without its cancellation, or ctx's error when it has ended.
func uninterruptible(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

func (c *connStmts) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.stmts[query]; ok {
		return s, nil
	}
	s, err := c.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = s
	return s, nil
}

func (c *connStmts) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.stmts {
		s.Close()
	}
	c.stmts = nil
}

func (c *connStmts) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx, err := uninterruptible(ctx)
	if err != nil {
		return nil, err
	}
	s, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

func (c *connStmts) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx, err := uninterruptible(ctx)
	if err != nil {
		return nil, err
	}
	s, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

func (c *connStmts) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if ctx.Err() != nil {
		// A Row carrying ctx's error: with ctx ended, the driver answers that error before
		// running anything.
		return c.conn.QueryRowContext(ctx, query, args...)
	}
	ctx = context.WithoutCancel(ctx)
	s, err := c.stmt(ctx, query)
	if err != nil {
		return c.conn.QueryRowContext(ctx, query, args...) // fails the same way, as a Row
	}
	return s.QueryRowContext(ctx, args...)
}
