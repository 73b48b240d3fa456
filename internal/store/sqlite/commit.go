package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"

	"github.com/twofold-auth/twofold/internal/store/sqlstore"
)

// Group commit.
//
// A commit with synchronous=FULL waits for the disk (about a millisecond here), and SQLite has
// one writer. One transaction per request would cap a server at one request per sync. Instead a
// single goroutine runs the transactions: it takes every transaction waiting when it becomes
// free, runs each inside its own SAVEPOINT of one BEGIN IMMEDIATE transaction, and commits them
// with one sync. Each caller's fn is still all or nothing (an error or a panic rolls back to its
// savepoint only) and still committed before Update returns; fns run one after the other, so
// each sees what the earlier ones wrote, exactly as if they had committed one by one. A caller's
// cancellation stops its fn between statements, never during one (see stmtCache), so it cannot
// roll back the others' work.

// maxBatch bounds how many transactions share one commit.
const maxBatch = 64

type commitReq struct {
	ctx  context.Context
	fn   func(q sqlstore.Queries) error
	err  error
	pval any // the value fn panicked with
	done chan struct{}
}

type committer struct {
	reqs chan *commitReq // unbuffered: a request is either taken by the loop or refused on close
	quit chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	// db is the writer pool, of one connection; conn is that connection, pinned, and w its
	// statements; both nil between dropping it after a failed ROLLBACK and the next
	// transaction.
	db   *sql.DB
	conn *sql.Conn
	w    *stmtCache
}

var errClosed = errors.New("sqlite: closed")

func (db *DB) startCommitter(ctx context.Context) error {
	db.c = &committer{reqs: make(chan *commitReq), quit: make(chan struct{}), db: db.w}
	if _, err := db.c.writer(ctx); err != nil {
		return err
	}
	db.c.wg.Add(1)
	go db.commitLoop()
	return nil
}

func (db *DB) stopCommitter() {
	db.c.once.Do(func() {
		close(db.c.quit)
		db.c.wg.Wait()
		if db.c.w != nil {
			db.c.w.close()
			db.c.conn.Close()
		}
	})
}

// inTx runs fn with queries bound to a write transaction, shared with the other transactions
// waiting at the same moment, and answers once that transaction is committed.
func (db *DB) inTx(ctx context.Context, fn func(q sqlstore.Queries) error) error {
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

// runBatch runs the batch's fns and commits them; every request gets its own outcome. Most
// batches are one transaction; one that is lost under a fn (below) ends there, and the fns after
// it run in a new one.
func (db *DB) runBatch(batch []*commitReq) {
	for len(batch) > 0 {
		batch = db.runTx(batch)
	}
}

// runTx runs the fns of batch, in order, in one transaction and commits it. It answers the
// requests it has left to run when the transaction was lost under one fn: SQLite rolls a
// transaction back on its own after some errors of a statement (I/O, a full disk, no memory, an
// interrupt), and then every fn run in it so far has lost its work and is answered an error.
func (db *DB) runTx(batch []*commitReq) (rest []*commitReq) {
	ctx := context.Background() // the transaction outlives any one caller's context
	w, err := db.c.writer(ctx)
	if err != nil {
		fail(batch, err)
		return nil
	}
	conn := db.c.conn
	// The explicit BEGIN IMMEDIATE takes the file's write lock at once (waiting busy_timeout
	// for another process), so no statement inside can fail with a busy upgrade.
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		fail(batch, fmt.Errorf("sqlite: begin: %w", err))
		return nil
	}
	q := sqlstore.New(flavor, w, nil)
	savepoints := len(batch) > 1
	ok := 0
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err // the caller has gone: its fn is not run
			continue
		}
		if savepoints {
			if _, err := w.Exec(ctx, "SAVEPOINT tx"); err != nil {
				r.err = fmt.Errorf("sqlite: savepoint: %w", err)
				return db.lost(batch, i)
			}
		}
		r.pval, r.err = run(r.fn, q)
		succeeded := r.err == nil && r.pval == nil
		if savepoints {
			var err error
			if succeeded {
				_, err = w.Exec(ctx, "RELEASE tx")
			} else if _, err = w.Exec(ctx, "ROLLBACK TO tx"); err == nil {
				_, err = w.Exec(ctx, "RELEASE tx")
			}
			if err != nil {
				if succeeded {
					r.err = fmt.Errorf("sqlite: transaction lost: %w", err)
				}
				return db.lost(batch, i)
			}
		}
		if succeeded {
			ok++
		}
	}
	if ok == 0 {
		if err := db.c.rollback(ctx); err != nil {
			fail(batch, err)
		}
		return nil
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		err = fmt.Errorf("sqlite: commit: %w", err)
		if rerr := db.c.rollback(ctx); rerr != nil {
			err = errors.Join(err, rerr)
		}
		fail(batch, err)
	}
	return nil
}

// lost ends a transaction lost under batch[i] (or in an unknown state after it): every fn
// run in it so far is answered an error, and the requests after batch[i] are left for a new
// transaction.
func (db *DB) lost(batch []*commitReq, i int) (rest []*commitReq) {
	err := errors.New("sqlite: transaction lost: rolled back by a later transaction's failure")
	if rerr := db.c.rollback(context.Background()); rerr != nil {
		err = errors.Join(err, rerr)
	}
	fail(batch[:i+1], err)
	return batch[i+1:]
}

// fail answers err to every request of batch that has no outcome of its own yet.
func fail(batch []*commitReq, err error) {
	for _, r := range batch {
		if r.err == nil && r.pval == nil {
			r.err = err
		}
	}
}

// writer answers the writer connection, opening a new one when the last was dropped.
func (c *committer) writer(ctx context.Context) (*stmtCache, error) {
	if c.w == nil {
		conn, err := c.db.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("sqlite: writer: %w", err)
		}
		c.conn, c.w = conn, newStmtCache(conn, true)
	}
	return c.w, nil
}

// rollback ends the transaction on the writer. When ROLLBACK fails the connection may still be
// in a transaction (or in no known state), so it is dropped, which rolls back whatever it held:
// the next transaction begins on a new one. It answers an error only when nothing is known.
func (c *committer) rollback(ctx context.Context) error {
	_, err := c.conn.ExecContext(ctx, "ROLLBACK")
	if err == nil {
		return nil
	}
	c.w.close()
	// ErrBadConn makes database/sql close the connection instead of keeping it.
	derr := c.conn.Raw(func(any) error { return driver.ErrBadConn })
	c.conn, c.w = nil, nil
	if derr != nil && !errors.Is(derr, driver.ErrBadConn) {
		return fmt.Errorf("sqlite: rollback: %w; dropping the connection: %w", err, derr)
	}
	return nil
}

// run calls fn, turning a panic into a value for the caller to panic with again.
func run(fn func(q sqlstore.Queries) error, q sqlstore.Queries) (pval any, err error) {
	defer func() {
		if v := recover(); v != nil {
			pval = v
		}
	}()
	return nil, fn(q)
}
