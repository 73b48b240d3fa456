// Package postgres is the PostgreSQL backend of store.Store, on pgx v5 and its pool, for
// several Twofold instances serving one organisation from one database.
//
// # Concurrency
//
// Every instance, and every command line run, talks to the same database, so the guarantees of
// store.Store are made by PostgreSQL, not by the process:
//
//   - Update runs fn in one READ COMMITTED transaction. User and Session inside it read with
//     SELECT ... FOR UPDATE, so the row stays locked until commit and a read-modify-write of an
//     account's counters cannot interleave with another instance's.
//   - The single-use writes (SetTOTPStep, UseBackupCode, ReplaceSession) are one conditional
//     UPDATE each. Under READ COMMITTED a second writer of the same row waits for the first,
//     then evaluates its WHERE clause again on the committed row and finds nothing to change:
//     exactly one of any number of racing writers wins, on any number of instances.
//   - PasswordFailures inside Update takes a transaction advisory lock of the name key, so
//     that the service's read, count and SetPasswordFailures of one name take turns across
//     instances even before the name has a row.
//   - ReserveAddressAttempt counts an address's attempts and adds one under a transaction
//     advisory lock of that address, so that attempts sent to several instances at once pass
//     the limit exactly; an address already at its limit is refused by a count before the lock,
//     so that a flood from it does not hold the pool's connections waiting on the lock.
//   - Inserts that may meet a taken key (CreateUser, CreateSession) use ON CONFLICT DO NOTHING
//     and report ErrConflict themselves, so that the refusal does not abort the transaction
//     around them (PostgreSQL aborts a transaction at its first error).
//   - Sweeps that delete rows other instances may be deleting at the same moment (expired
//     sessions, old address attempts, password failures that no longer count) lock with SKIP LOCKED, so that they never wait for, or
//     deadlock with, one another.
//
// No transaction runs at SERIALIZABLE, so none fails with a serialization error to retry.
//
// # Durability
//
// A commit is answered once PostgreSQL has flushed it (synchronous_commit on, the default), so
// after kill -9 of an instance nothing it answered is lost; PostgreSQL rolls back the
// transactions the dead instance left open as soon as their connections close.
//
// Times are BIGINT unix nanoseconds (0 for the zero time, read back as the zero time.Time;
// other times come back in UTC), as on SQLite, booleans BOOLEAN and byte strings BYTEA (NULL
// for none).
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/sqlstore"
)

// DefaultMaxConns is the pool size of one instance unless the URL says pool_max_conns: enough
// for the requests one instance serves at once (each holds a connection for a few
// milliseconds), small enough that several instances fit PostgreSQL's default
// max_connections of 100.
const DefaultMaxConns = 10

// idleInTxTimeout ends a transaction left open by an instance that stopped answering without
// closing its connection (a network partition rather than a crash), so that the account rows
// it locked do not stay locked. Twofold's transactions last milliseconds.
const idleInTxTimeout = "10s"

// DB is a Twofold store in a PostgreSQL database (the schema first in its search_path).
type DB struct {
	pool *pgxpool.Pool
	sqlstore.Queries
}

var (
	_ store.Store  = (*DB)(nil)
	_ store.Copier = (*DB)(nil)
)

// Open connects to the database at url (postgres://USER:PASSWORD@HOST:PORT/DB?...) and brings
// its schema up to date under an advisory lock, so that instances starting at once apply each
// migration once. It fails when the database was written by a newer Twofold, or when one of
// checks refuses it, which they do under the lock before any migration is applied.
//
// Besides libpq's parameters, url may set pool_max_conns (default DefaultMaxConns) and the
// pool's other pool_* settings, and any run-time parameter such as search_path, which
// chooses the schema.
func Open(ctx context.Context, url string, checks ...sqlstore.Check) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password included: keep only the kind of mistake.
		return nil, errors.New("postgres: the database URL cannot be parsed: give postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=MODE")
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"]; !ok {
		cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = idleInTxTimeout
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "twofold"
	}
	where := fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open %s: %w", where, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open %s: %w", where, err)
	}
	if err := migrate(ctx, pool, checks); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open %s: %w", where, err)
	}
	return &DB{pool: pool, Queries: queries(pool)}, nil
}

// Update runs fn in one transaction and commits when fn returns nil; otherwise, or when fn
// panics, it rolls back (and panics again). fn's error is returned as it is. Accounts and
// sessions fn reads through q stay locked until the end. fn must use q only: the DB's own
// methods take other connections from the pool and would not see, or would wait for, fn's
// transaction.
func (db *DB) Update(ctx context.Context, fn func(q store.Queries) error) error {
	// READ COMMITTED whatever the server's default: the row locks and the conditional writes
	// make the guarantees, and no statement can then fail with a serialization error.
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return mapErr("begin", err)
	}
	done := false
	defer func() {
		if !done { // fn panicked; the panic goes on
			rollback(tx)
		}
	}()
	ferr := fn(sqlstore.New(flavor, executor{tx}, nil))
	done = true
	if ferr != nil {
		if rerr := rollback(tx); rerr != nil {
			return errors.Join(ferr, mapErr("rollback", rerr))
		}
		return ferr
	}
	if err := tx.Commit(ctx); err != nil {
		return mapErr("commit", err)
	}
	return nil
}

// rollback ends tx even when the request's context is over, so that the connection goes back
// to the pool clean (pgx closes a connection whose rollback fails).
func rollback(tx pgx.Tx) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := tx.Rollback(ctx)
	if errors.Is(err, pgx.ErrTxClosed) {
		return nil
	}
	return err
}

// Ping checks that the database answers and has Twofold's schema.
func (db *DB) Ping(ctx context.Context) error {
	var v *int
	if err := db.pool.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return mapErr("ping", err)
	}
	return nil
}

// Close closes the pool's connections.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// PostgreSQL error codes the store turns into sentinels.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

// mapErr turns driver errors into the store's sentinels, with op as context.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) { // pgx.ErrNoRows is sql.ErrNoRows too
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case uniqueViolation:
			return fmt.Errorf("postgres: %s: %w (%v)", op, store.ErrConflict, err)
		case foreignKeyViolation:
			return fmt.Errorf("postgres: %s: %w (%v)", op, store.ErrNotFound, err)
		}
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}
