package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// Group commit.
//
// A commit with synchronous=FULL waits for the disk (about a millisecond here), and SQLite has
// one writer. One transaction per request would cap a server at one request per sync. Instead a
// single goroutine runs the transactions: it takes every transaction waiting when it becomes
// free, runs each inside its own SAVEPOINT of one BEGIN IMMEDIATE transaction, and commits them
// with one sync. Each caller's fn is still all or nothing (an error or a panic rolls back to its
// savepoint only) and still committed before Update returns; fns run one after the other, so
// each sees what the earlier ones wrote, exactly as if they had committed one by one.

// maxBatch bounds how many transactions share one commit.
const maxBatch = 64

type commitReq struct {
	ctx  context.Context
	fn   func(q queries) error
	err  error
	pval any // the value fn panicked with
	done chan struct{}
}

type committer struct {
	reqs chan *commitReq // unbuffered: a request is either taken by the loop or refused on close
	quit chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	// w is the writer connection, pinned for the committer's life, with its statements.
	w *connStmts
}

var errClosed = errors.New("sqlite: closed")

func (db *DB) startCommitter(ctx context.Context) error {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: writer: %w", err)
	}
	db.c = &committer{reqs: make(chan *commitReq), quit: make(chan struct{}),
		w: &connStmts{conn: conn, stmts: make(map[string]*sql.Stmt)}}
	db.c.wg.Add(1)
	go db.commitLoop()
	return nil
}

func (db *DB) stopCommitter() {
	db.c.once.Do(func() {
		close(db.c.quit)
		db.c.wg.Wait()
		db.c.w.close()
		db.c.w.conn.Close()
	})
}

// inTx runs fn with queries bound to a write transaction, shared with the other transactions
// waiting at the same moment, and answers once that transaction is committed.
func (db *DB) inTx(ctx context.Context, fn func(q queries) error) error {
	r := &commitReq{ctx: ctx, fn: fn, done: make(chan struct{})}
	select {
	case db.c.reqs <- r:
	case <-db.c.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	<-r.done // once taken, a request always finishes: fn may be running
	if r.pval != nil {
		panic(r.pval)
	}
	return r.err
}

func (db *DB) commitLoop() {
	defer db.c.wg.Done()
	for {
		var first *commitReq
		select {
		case first = <-db.c.reqs:
		case <-db.c.quit:
			return
		}
		batch := []*commitReq{first}
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-db.c.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		db.runBatch(batch)
		for _, r := range batch {
			close(r.done)
		}
	}
}

// runBatch runs the batch's fns in one transaction and commits it; every request gets its
// own outcome.
func (db *DB) runBatch(batch []*commitReq) {
	fail := func(err error) {
		for _, r := range batch {
			if r.err == nil && r.pval == nil {
				r.err = err
			}
		}
	}
	ctx := context.Background() // the transaction outlives any one caller's context
	w := db.c.w
	// The explicit BEGIN IMMEDIATE takes the file's write lock at once (waiting busy_timeout
	// for another process), so no statement inside can fail with a busy upgrade.
	if _, err := w.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		fail(fmt.Errorf("sqlite: begin: %w", err))
		return
	}
	rollback := func() { w.conn.ExecContext(ctx, "ROLLBACK") }
	q := queries{x: w}
	q.atomic = func(_ context.Context, fn func(queries) error) error { return fn(q) }
	savepoints := len(batch) > 1
	ok := 0
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if savepoints {
			if _, err := w.ExecContext(ctx, "SAVEPOINT tx"); err != nil {
				rollback()
				fail(fmt.Errorf("sqlite: savepoint: %w", err))
				return
			}
		}
		r.err, r.pval = run(r.fn, q)
		switch {
		case r.err == nil && r.pval == nil:
			ok++
			if savepoints {
				if _, err := w.ExecContext(ctx, "RELEASE tx"); err != nil {
					rollback()
					fail(fmt.Errorf("sqlite: release savepoint: %w", err))
					return
				}
			}
		case savepoints:
			_, err := w.ExecContext(ctx, "ROLLBACK TO tx")
			if err == nil {
				_, err = w.ExecContext(ctx, "RELEASE tx")
			}
			if err != nil {
				rollback()
				fail(fmt.Errorf("sqlite: rollback to savepoint: %w", err))
				return
			}
		}
	}
	if ok == 0 {
		if _, err := w.conn.ExecContext(ctx, "ROLLBACK"); err != nil {
			fail(fmt.Errorf("sqlite: rollback: %w", err))
		}
		return
	}
	if _, err := w.conn.ExecContext(ctx, "COMMIT"); err != nil {
		rollback()
		fail(fmt.Errorf("sqlite: commit: %w", err))
	}
}

// run calls fn, turning a panic into a value for the caller to panic with again.
func run(fn func(q queries) error, q queries) (err error, pval any) {
	defer func() {
		if v := recover(); v != nil {
			pval = v
		}
	}()
	return fn(q), nil
}
