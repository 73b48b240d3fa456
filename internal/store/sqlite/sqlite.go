// Package sqlite is the SQLite backend of store.Store, on the pure-Go driver modernc.org/sqlite
// (no cgo).
//
// # Two pools
//
// A DB holds two database/sql pools on the same file:
//
//   - the writer, one connection pinned by the committer (commit.go), runs every write:
//     Update's transactions and every single write, each as a transaction of its own.
//     Transactions waiting at the same moment share one BEGIN IMMEDIATE transaction and one
//     commit (group commit), each inside its own savepoint. Writers of this process therefore
//     queue in Go instead of meeting SQLITE_BUSY among themselves; BEGIN IMMEDIATE takes the
//     write lock at once, so a transaction that reads and then writes never fails with a busy
//     upgrade when another process (the CLI) writes to the same file. Between processes
//     busy_timeout waits for the lock.
//   - the readers, a few read-only connections, run plain reads outside Update. In WAL mode a
//     reader sees the last commit and never waits for the writer, so reads (a session lookup,
//     the audit log) do not queue behind writes.
//
// Both run the queries of package sqlstore, each statement prepared once per pool (or on the
// writer's connection) and kept (stmtcache.go).
//
// Update's fn must use the Queries it is given: calling the DB's own write methods from inside
// fn would wait for the writer connection that fn is holding.
//
// # Durability
//
// The journal is a WAL, and every commit is synced to disk before it is answered, so after a
// crash, a kill -9 or a power loss nothing that was answered is lost (a used code stays used, a
// recorded TOTP step stays recorded). Every connection runs with synchronous=FULL but the
// committer's writer, whose commits are synced by a goroutine of their own while the next
// batch runs (commit.go). foreign_keys is on for every connection.
//
// Times are INTEGER unix nanoseconds (0 for the zero time, read back as the zero time.Time;
// other times come back in UTC), booleans INTEGER 0/1 and byte strings BLOB.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	msqlite "modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/sqlstore"
)

// readers is the size of the reader pool.
const readers = 4

// busyTimeoutMS is how long a statement waits for a lock another process holds.
const busyTimeoutMS = 10000

// DB is a Twofold store in one SQLite file.
type DB struct {
	w, r *sql.DB
	rq   sqlstore.Queries // read queries on the reader pool
	rc   *stmtCache       // the reader pool's prepared statements
	c    *committer       // runs every write, on the pinned writer connection
	ck   checkpointer
}

var _ store.Store = (*DB)(nil)

// Open opens the database file at path, creating it when missing, and brings its schema up to
// date. It fails when the file was written by a newer Twofold (an unknown schema version), or
// when one of checks refuses the file, which they do before any migration is applied.
func Open(ctx context.Context, path string, checks ...sqlstore.Check) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: open: empty path")
	}
	if err := ownerOnly(path); err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite", dsn(path,
		"_pragma=busy_timeout("+fmt.Sprint(busyTimeoutMS)+")",
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(FULL)",
		// Checkpoints run beside the writer (checkpoint.go); this bounds the WAL when they
		// cannot let it start over (a sustained load) or stop.
		"_pragma=wal_autocheckpoint("+fmt.Sprint(walSafetyPages)+")",
		"_pragma=foreign_keys(1)",
		"_txlock=immediate",
	))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := prepareFile(ctx, w, checks); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	r, err := sql.Open("sqlite", dsn(path,
		"_pragma=busy_timeout("+fmt.Sprint(busyTimeoutMS)+")",
		"_pragma=foreign_keys(1)",
		"_query_only=1",
	))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	db := &DB{w: w, r: r, rc: newStmtCache(r, false)}
	if err := db.startCommitter(ctx, path); err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	db.startCheckpoints()
	db.rq = sqlstore.New(flavor, db.rc, func(context.Context, func(sqlstore.Queries) error) error {
		return errors.New("sqlite: write on the reader pool") // never called: reads only
	})
	return db, nil
}

// ownerOnly makes the database file readable by its owner only (SPEC §5), before SQLite opens
// it: SQLite would create it with mode 0644 less the umask, and it creates the -wal, -shm and
// -journal files with the mode of the database file. A missing file is created empty with mode
// 0600 (SQLite makes a new database of an empty file); group and other access is taken from an
// existing one and its journal files, as an earlier version may have left them.
func ownerOnly(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		err = f.Close()
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		info, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			if err := os.Chmod(p, perm&^0o077); err != nil {
				return fmt.Errorf("sqlite: %s has mode %04o, which lets other users read it, and could not be made private: %w", p, perm, err)
			}
		}
	}
	return nil
}

// dsn builds a modernc.org/sqlite data source name for the file at path with query
// parameters. The path goes into a file: URI, so the characters that URI syntax gives a
// meaning are escaped.
func dsn(path string, params ...string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	return "file:" + esc.Replace(path) + "?" + strings.Join(params, "&")
}

// Update runs fn in a BEGIN IMMEDIATE transaction on the writer connection and commits when
// fn returns nil; otherwise, or when fn panics, it rolls back (and panics again). fn's error is
// returned as it is. Transactions waiting at the same moment share one commit (commit.go). fn must use q only: the DB's own write methods would wait for the
// connection fn holds. When ctx ends, fn's next statement is refused with ctx's error; one
// already running is never cut short, as that would roll back the shared transaction.
func (db *DB) Update(ctx context.Context, fn func(q store.Queries) error) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return fn(q) })
}

// Ping checks that the file can be read.
func (db *DB) Ping(ctx context.Context) error {
	var v sql.NullInt64
	if err := db.r.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close closes both pools. After a failed sync of the WAL (commit.go) it stops the store's
// goroutines but leaves the connections open until the process exits, and answers the
// failure: SQLite's last connection to close checkpoints the WAL into the database file, which
// would copy the pages of unknown state there.
func (db *DB) Close() error {
	db.stopCheckpoints()
	db.stopCommitter()
	if err := db.c.failed(); err != nil {
		return fmt.Errorf("sqlite: close: left open: %w", err)
	}
	db.checkpoint(context.Background())
	db.rc.close()
	return errors.Join(db.r.Close(), db.w.Close())
}

// flavor is how SQLite's SQL differs from the queries as sqlstore writes them: it takes ?
// placeholders, and one writer at a time makes row locks needless.
var flavor = &sqlstore.Flavor{Name: "sqlite", MapErr: mapErr}

// prepareFile opens the writer's connection (turning a new file to WAL mode), runs checks and
// applies the migrations. Processes opening one new file at the same moment (instances, or the server and
// a command, starting together) can meet SQLITE_BUSY there without SQLite waiting its busy
// timeout (switching the journal mode, reading a WAL index another connection is making), so
// a busy answer is tried again, for as long as the busy timeout, before it is an error.
func prepareFile(ctx context.Context, w *sql.DB, checks []sqlstore.Check) error {
	deadline := time.Now().Add(busyTimeoutMS * time.Millisecond)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err := w.PingContext(ctx)
		if err == nil {
			err = migrate(ctx, w, checks)
		}
		var se *msqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// mapErr turns driver errors into the store's sentinels, with op as context.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("sqlite: %s: %w (%v)", op, store.ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("sqlite: %s: %w (%v)", op, store.ErrNotFound, err)
		}
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}
