package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twofold-auth/twofold/internal/store/sqlstore"
)

// Group commit, pipelined.
//
// A durable commit waits for the disk (about a millisecond here), and SQLite has one writer. One
// transaction per request would cap a server at one request per sync. Instead a single
// goroutine, the committer, runs the transactions: it takes every transaction waiting when it
// becomes free, runs each inside its own SAVEPOINT of one BEGIN IMMEDIATE transaction, and
// commits them together. Each caller's fn is still all or nothing (an error or a panic rolls
// back to its savepoint only); fns run one after the other, so each sees what the earlier ones
// wrote, exactly as if they had committed one by one. A caller's cancellation stops its fn
// between statements, never during one (see stmtCache), so it cannot roll back the others'
// work.
//
// The sync is not part of the commit. With synchronous=FULL SQLite syncs the WAL inside COMMIT,
// holding the write lock, so the next batch could not run until the disk answered. The writer
// connection commits with synchronous=NORMAL instead (the WAL frames are written, not synced;
// NORMAL still syncs the WAL header on a restart and the WAL before and the database file after
// a checkpoint), and a second goroutine, the syncer, fdatasyncs the -wal file through a file
// descriptor of its own, opened when the store opens, before it answers the batch. Meanwhile the
// committer runs the next batch. Syncs are one at a time; one sync answers every batch
// committed before it started (under load one batch, grown as below, of several transactions).
//
// A batch whose transaction is open while a sync is in flight could not be answered before the
// next sync anyway, so it does not commit yet: the transactions that arrive meanwhile join it,
// each in its own savepoint, and it commits once the sync has ended (grow). One COMMIT, and
// one write of each page the batch shares, then serves what would have been several batches.
//
// What holds:
//
//   - No caller is answered before a sync that started after its batch's COMMIT returned. A
//     batch that committed nothing (its fns or its transaction failed) waits all the same when
//     an earlier batch's sync is still due (its fns may have read that batch's rows), and is
//     answered at once otherwise; one that committed without writing waits for a sync as any
//     other.
//     WAL frames are checksummed in a chain, so after a power loss SQLite keeps a prefix of the
//     commits: what is lost is a run of the last commits, none of them answered.
//   - Every other connection (the readers, migrations, the command line, other processes)
//     keeps synchronous=FULL, and so do SQLite's checkpoints: a checkpoint syncs the WAL before
//     it copies pages into the database file, so no page reaches the database file ahead of its
//     frame in the WAL.
//   - A failed sync leaves the WAL's state unknown (the kernel may have dropped the pages it
//     could not write and would report the next sync clean): the batches it was to cover are
//     answered the error, and from then on every write of this DB is refused with it, before
//     any statement runs; reads go on (they may see those writes, answered as failed).
//     Background checkpoints stop too, so that no page of unknown state is copied into the
//     database file, and Close leaves the connections open (SQLite's last connection to close
//     would checkpoint). Only a restart, which recovers from what is on disk, writes again.
//     The failure is logged.
//   - SQLite removes the WAL file only when the last connection to the file closes (it must
//     get the database file's EXCLUSIVE lock, which every open connection's SHARED lock
//     prevents); otherwise it reuses the file in place, writing from its start again after a
//     checkpoint, on the same inode (it truncates it only for journal_size_limit, not set, or
//     a TRUNCATE checkpoint, in place too). Should the WAL's name come to point at another file
//     (removed from outside, or recreated after every connection of this process closed), the
//     syncer syncs the old descriptor once more and opens the new file, where the writer's
//     commits go from then on (walFile.sync).
//   - Readers may see a batch between its COMMIT and its sync, and then answer as they would
//     a millisecond later. Only a power loss in that millisecond makes a difference: the write
//     is undone though a reader acted on it. Such a write came from a request entitled to it,
//     whose caller was never told it succeeded (SPEC §5 asks no more), and the reader learns
//     nothing that caller had not been given (a new session's token is only in its caller's
//     answer). Keeping batches from view would need the write lock held through the sync, the
//     very wait this pipeline removes.
//   - Close drains: every request taken gets its answer after its sync.

// maxBatch bounds how many transactions share one commit.
const maxBatch = 64

type commitReq struct {
	ctx  context.Context
	fn   func(q sqlstore.Queries) error
	err  error
	pval any           // the value fn panicked with
	done chan struct{} // capacity 1: receives once, when the request is answered
	// when it was made, when its fn began, and when its transaction's COMMIT returned
	// (metrics.go)
	queued, ran, committed time.Time
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

	// wal is the -wal file, synced by the syncer; syncWAL is its sync (tests replace it
	// before the first write).
	wal     *walFile
	syncWAL func() error

	mu        sync.Mutex
	committed uint64        // COMMITs made by the writer
	synced    uint64        // of which the last sync that succeeded covers this many
	pending   []*commitReq  // committed, waiting for a sync
	broken    error         // set by a failed sync: every later write answers it
	wake      chan struct{} // capacity 1: pending has something new
	drain     chan struct{} // closed when the committer has stopped
	// syncing is set while the syncer syncs; syncEnded (capacity 1) is signalled after each
	// sync, for a committer waiting in grow.
	syncing   atomic.Bool
	syncEnded chan struct{}
	syncerWG  sync.WaitGroup

	metrics *metrics
}

var errClosed = errors.New("sqlite: closed")

// errSyncFailed is wrapped by every write's error after a failed sync of the WAL.
var errSyncFailed = errors.New("sqlite: syncing the WAL to disk failed; this database refuses writes until the server restarts")

func (db *DB) startCommitter(ctx context.Context, path string) error {
	c := &committer{
		reqs:      make(chan *commitReq),
		quit:      make(chan struct{}),
		db:        db.w,
		wake:      make(chan struct{}, 1),
		drain:     make(chan struct{}),
		syncEnded: make(chan struct{}, 1),
		metrics:   newMetrics(),
	}
	db.c = c
	if _, err := c.writer(ctx); err != nil {
		return err
	}
	// The writer has read the file in WAL mode, so its WAL file exists. The descriptor is
	// opened now, before any write of ours: a write-back error is reported to every
	// descriptor open when it happens.
	wal, err := openWAL(path + "-wal")
	if err != nil {
		c.w.close()
		c.conn.Close()
		return err
	}
	c.wal, c.syncWAL = wal, wal.sync
	c.wg.Add(1)
	go db.commitLoop()
	c.syncerWG.Add(1)
	go c.syncLoop()
	return nil
}

func (db *DB) stopCommitter() {
	c := db.c
	c.once.Do(func() {
		close(c.quit)
		c.wg.Wait()
		close(c.drain)
		c.syncerWG.Wait()
		if c.w != nil {
			c.w.close()
			c.conn.Close()
		}
		c.wal.close()
	})
}

// failed answers the error every write answers after a failed sync, or nil.
func (c *committer) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.broken
}

// inTx runs fn with queries bound to a write transaction, shared with the other transactions
// waiting at the same moment, and answers once that transaction is committed and synced.
func (db *DB) inTx(ctx context.Context, fn func(q sqlstore.Queries) error) error {
	r := &commitReq{ctx: ctx, fn: fn, done: make(chan struct{}, 1), queued: time.Now()}
	select {
	case db.c.reqs <- r:
	case <-db.c.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	<-r.done // once taken, a request always finishes: fn may be running, or its sync
	if r.pval != nil {
		panic(r.pval)
	}
	if r.err == nil {
		db.c.metrics.observe(r, time.Now())
	}
	return r.err
}

func (db *DB) commitLoop() {
	c := db.c
	defer c.wg.Done()
	batch := make([]*commitReq, 0, maxBatch)
	for {
		var first *commitReq
		select {
		case first = <-c.reqs:
		case <-c.quit:
			return
		}
		batch = append(batch[:0], first)
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-c.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		if err := c.failed(); err != nil {
			fail(batch, err) // no statement runs after a failed sync
		} else {
			db.runBatch(&batch)
		}
		c.handOver(batch)
		clear(batch) // the answered requests are the callers' again
	}
}

// runBatch runs the batch's fns and commits them; every request gets its own outcome, and none
// is answered. Most batches are one transaction; one that is lost under a fn (below) ends
// there, and the fns after it run in a new one. The batch grows by the requests that join a
// transaction while a sync is in flight (grow).
func (db *DB) runBatch(batch *[]*commitReq) {
	for from := 0; from < len(*batch); {
		from = db.runTx(batch, from)
	}
}

// handOver passes a run batch to the syncer, or answers it at once when no commit of this
// writer is waiting for a sync (the batch committed nothing, and what it read is on disk) or
// when a sync has failed.
func (c *committer) handOver(batch []*commitReq) {
	c.mu.Lock()
	if c.broken == nil && c.committed != c.synced {
		c.pending = append(c.pending, batch...)
		c.mu.Unlock()
		select {
		case c.wake <- struct{}{}:
		default: // the syncer is due to look already
		}
		return
	}
	err := c.broken
	c.mu.Unlock()
	answer(batch, err)
}

// syncLoop syncs the WAL for the batches handed over and answers them, until the committer has
// stopped and every batch is answered.
func (c *committer) syncLoop() {
	defer c.syncerWG.Done()
	for {
		select {
		case <-c.wake:
			c.syncPending()
		case <-c.drain:
			c.syncPending() // the committer has stopped: this is the last batch
			return
		}
	}
}

// syncPending syncs the WAL once for every commit made so far and answers the batches waiting.
func (c *committer) syncPending() {
	c.mu.Lock()
	batch, target, err := c.pending, c.committed, c.broken
	c.pending = nil
	c.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	if err == nil {
		// Every request of batch was handed over after its COMMIT returned, so this sync,
		// started now, covers its frames.
		start := time.Now()
		c.syncing.Store(true)
		err = c.syncWAL()
		c.syncing.Store(false)
		select {
		case c.syncEnded <- struct{}{}:
		default: // a signal is waiting already
		}
		if err == nil {
			c.metrics.walSync.Observe(time.Since(start).Seconds())
		}
	}
	c.mu.Lock()
	if err != nil && c.broken == nil {
		c.broken = fmt.Errorf("%w: %w", errSyncFailed, err)
		slog.Error("sqlite: syncing the WAL failed; every later write of this database is refused until a restart",
			"file", c.wal.path, "err", err)
	}
	if c.broken == nil {
		c.synced = target
	}
	err = c.broken
	c.mu.Unlock()
	answer(batch, err)
}

// answer gives every request of batch its outcome: its own, or err when it has none.
func answer(batch []*commitReq, err error) {
	if err != nil {
		fail(batch, err)
	}
	for _, r := range batch {
		r.done <- struct{}{} // r is its caller's again from here
	}
}

// runTx runs the fns of batch from from on, in order, in one transaction and commits it,
// adding to batch the requests that join it while a sync is in flight (grow). It answers where
// a new transaction must take over: len(batch) when it is done, or the request after the one
// under which the transaction was lost. SQLite rolls a transaction back on its own after some
// errors of a statement (I/O, a full disk, no memory, an interrupt), and then every fn run in
// it so far has lost its work and is answered an error.
func (db *DB) runTx(batch *[]*commitReq, from int) (next int) {
	c := db.c
	ctx := context.Background() // the transaction outlives any one caller's context
	w, err := c.writer(ctx)
	if err != nil {
		fail((*batch)[from:], err)
		return len(*batch)
	}
	conn := c.conn
	// The explicit BEGIN IMMEDIATE takes the file's write lock at once (waiting busy_timeout
	// for another process), so no statement inside can fail with a busy upgrade.
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		fail((*batch)[from:], fmt.Errorf("sqlite: begin: %w", err))
		return len(*batch)
	}
	q := sqlstore.New(flavor, w, nil)
	// Each fn runs in a savepoint when there are several, or may be: a fn that fails outside
	// one leaves its statements in the transaction, which then only a ROLLBACK of the whole
	// undoes. A transaction begun without one does not grow.
	savepoints := len(*batch)-from > 1 || c.syncing.Load()
	ok := 0
	for i := from; i < len(*batch) || savepoints && c.grow(batch); i++ {
		r := (*batch)[i]
		if err := r.ctx.Err(); err != nil {
			r.err = err // the caller has gone: its fn is not run
			continue
		}
		if savepoints {
			if _, err := w.Exec(ctx, "SAVEPOINT tx"); err != nil {
				r.err = fmt.Errorf("sqlite: savepoint: %w", err)
				db.lost((*batch)[from : i+1])
				return i + 1
			}
		}
		r.ran = time.Now()
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
				db.lost((*batch)[from : i+1])
				return i + 1
			}
		}
		if succeeded {
			ok++
		}
	}
	done := (*batch)[from:]
	// A sync that failed while the transaction was open (it may have waited for that sync in
	// grow): nothing more is committed.
	if err := c.failed(); err != nil && ok > 0 {
		if rerr := c.rollback(ctx); rerr != nil {
			err = errors.Join(err, rerr)
		}
		fail(done, err)
		return len(*batch)
	}
	if ok == 0 {
		if err := c.rollback(ctx); err != nil {
			fail(done, err)
		}
		return len(*batch)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		err = fmt.Errorf("sqlite: commit: %w", err)
		if rerr := c.rollback(ctx); rerr != nil {
			err = errors.Join(err, rerr)
		}
		fail(done, err)
		return len(*batch)
	}
	committed := time.Now()
	for _, r := range done {
		r.committed = committed
	}
	c.mu.Lock()
	c.committed++
	c.mu.Unlock()
	return len(*batch)
}

// grow waits, while the syncer is syncing, for a request to join the open transaction of batch,
// and answers whether one did: that transaction's commit could not be answered before the next
// sync anyway. It answers false once the sync has ended, at maxBatch and when the store closes.
func (c *committer) grow(batch *[]*commitReq) bool {
	for len(*batch) < maxBatch && c.syncing.Load() {
		select {
		case r := <-c.reqs:
			*batch = append(*batch, r)
			return true
		case <-c.syncEnded: // this sync's, or an earlier one's: look again
		case <-c.quit:
			return false
		}
	}
	return false
}

// lost ends a transaction lost under the last fn of run (or in an unknown state after it):
// every fn of run, all run in it so far, is answered an error.
func (db *DB) lost(run []*commitReq) {
	err := errors.New("sqlite: transaction lost: rolled back by a later transaction's failure")
	if rerr := db.c.rollback(context.Background()); rerr != nil {
		err = errors.Join(err, rerr)
	}
	fail(run, err)
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
		// This connection's commits are synced by the syncer instead (see above).
		if _, err := conn.ExecContext(ctx, "PRAGMA synchronous=NORMAL"); err != nil {
			conn.Close()
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
