package sqlite

import (
	"context"
	"sync"
	"time"
)

// Checkpoints.
//
// In WAL mode SQLite copies the log back into the database file (a checkpoint) from the
// connection whose commit crossed wal_autocheckpoint, inside that commit: the requests waiting
// on it pay for copying and syncing hundreds of pages, which was most of the second-factor
// step's p99. Here a goroutine runs a PASSIVE checkpoint a few times a second on a reader
// connection instead; PASSIVE never waits for readers or the writer, so commits go on while it
// runs. wal_autocheckpoint stays on the writer at a high value, only as a bound should the
// goroutine fall behind.
//
// Measured with the pipelined commit (commit.go) on a verify-only load of about 2,500
// requests a second on two cores, checkpointing every 50 ms, 100 ms, 250 ms or 2 s gave the
// same p99 within the runs' noise, and no checkpoint at all a worse one (a longer WAL to
// search). What does show in the p99 is the WAL never starting over while the writer is busy
// (a checkpoint running beside it can never catch up with it, and SQLite starts the WAL over
// only when every frame is copied back), so the writer's own wal_autocheckpoint, about once a
// second at this load, copies in its COMMIT what arrived since the last tick (15-20 ms).
//
// Ways around it were measured and left out. On that load, the committer running a RESTART
// checkpoint on the writer between batches, right after this goroutine's checkpoint and once
// the WAL was past 8,192 pages, did start the WAL over, twice a second, but each such
// checkpoint took 12-24 ms though it had only the 100-200 frames committed meanwhile to copy,
// and the p99 stayed where it was (three alternated pairs: 9.9, 9.9, 9.7 ms against 9.7, 9.1,
// 11.4 ms). A PASSIVE checkpoint instead, run by the committer between batches whenever this
// goroutine's had copied the whole WAL it saw, was worse (four pairs on a later tree at
// about 4,000 requests a second: p99 5.33-7.63 ms against 4.84-5.63 ms). This goroutine's
// syncs do not set the p99 either: the same checkpoint with none at all (unsafe, measured as a
// bound) gave 5.12-5.75 ms against 4.88-5.44 ms. Nor did two reader connections instead of
// four change anything beyond the noise.
// The writer's other stall, a BEGIN IMMEDIATE of 12-21 ms a few times in ten seconds, is not
// SQLITE_BUSY (none with busy_timeout 0 on the writer), so a busy handler of our own would not
// help: it is SQLite's wait for a WAL read mark. A connection (the writer or a reader) takes a
// mark's slot for what is a few instructions and is seen holding it 14-18 ms, while the others
// retry with sleeps growing to milliseconds. A runtime trace shows why the holder does not run
// meanwhile: the driver makes SQLite's sleep a nanosleep system call, a short system call keeps
// its P, so the waiters hold both Ps until the runtime's monitor takes them back
// (docs/PERFORMANCE.md, "The second-factor step's p99").
//
// The bound is 40,000 pages rather than 20,000: the writer's own checkpoint, and the stall of
// every request behind it, comes half as often. At 20,000 pages it was a stall of 16-23 ms
// about every 0.8 s at 3,900 verifications a second, and 100 of the 333 answers over 5 ms in
// that run came during one. Eight alternated pairs, 10 s at 8 at once: p99 4.47-5.22 ms
// against 4.45-5.56 ms, lower in six. The price is disk: under a sustained load the -wal file
// grows to about 160 MiB, and SQLite keeps the file at that size, writing it from the start
// again after each checkpoint.

const (
	checkpointEvery = 250 * time.Millisecond
	walSafetyPages  = 40000 // about 160 MiB of WAL at the 4 KiB page size
)

type checkpointer struct {
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func (db *DB) startCheckpoints() {
	db.ck.stop = make(chan struct{})
	db.ck.wg.Add(1)
	go func() {
		defer db.ck.wg.Done()
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		for {
			select {
			case <-db.ck.stop:
				return
			case <-t.C:
				if db.c.failed() != nil {
					return // see commit.go: no page of unknown state goes into the file
				}
				db.checkpoint(context.Background())
			}
		}
	}()
}

func (db *DB) stopCheckpoints() {
	db.ck.once.Do(func() { close(db.ck.stop) })
	db.ck.wg.Wait()
}

// checkpoint copies what it can of the WAL into the database file without waiting for anyone.
// A failure is harmless (the WAL keeps everything) and the next tick tries again.
func (db *DB) checkpoint(ctx context.Context) (busy, logPages, done int, err error) {
	err = db.r.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logPages, &done)
	return busy, logPages, done, err
}
