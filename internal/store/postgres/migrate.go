package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/twofold-auth/twofold/internal/store/sqlstore"
)

// Migrations are numbered files, NNNN_what.sql, applied in order, each in its own transaction.
// A migration is never edited once released: a change is a new file. They are PostgreSQL's
// own, beside SQLite's, not SQLite's rewritten.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrate runs checks and then applies the migrations the schema lacks, holding a session
// advisory lock (its second key a hash of the schema, so that databases and schemas do not wait
// for one another) on one connection for the whole run: instances starting at once wait for the
// first one, then find nothing left to do, and a check sees no migration half done.
func migrate(ctx context.Context, pool *pgxpool.Pool, checks []sqlstore.Check) (err error) {
	ms, err := sqlstore.Migrations(migrationFiles)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	const key = `$1::int, hashtext(coalesce(current_schema(), ''))`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+key+`)`, migrationLock); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, uerr := conn.Exec(uctx, `SELECT pg_advisory_unlock(`+key+`)`, migrationLock); uerr != nil {
			// The lock lives as long as the session: end it rather than pool it.
			conn.Conn().Close(uctx)
			err = errors.Join(err, fmt.Errorf("migrate: unlock: %w", uerr))
		}
	}()

	if current, err := schemaName(ctx, conn.Conn()); err != nil {
		return fmt.Errorf("migrate: %w", err)
	} else if current == "" {
		return errors.New("migrate: no schema of the search_path exists: create it, or give search_path=SCHEMA in the URL")
	}
	// Simple protocol: a migration is several statements.
	c := executor{simpleProtocol{conn.Conn()}}
	// The meta table of the current schema only: another schema of the search_path may have one.
	if err := flavor.RunChecks(ctx, c,
		`SELECT (to_regclass(quote_ident(current_schema()) || '.meta') IS NOT NULL)::int`, checks); err != nil {
		return err
	}
	return flavor.Migrate(ctx, c, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
	)`, ms, func(ctx context.Context, fn func(tx sqlstore.Executor) error) error {
		return pgx.BeginFunc(ctx, conn.Conn(), func(tx pgx.Tx) error { return fn(executor{simpleProtocol{tx}}) })
	})
}

// simpleProtocol runs statements with pgx's simple protocol, which takes several statements
// in one text.
type simpleProtocol struct{ r runner }

func (s simpleProtocol) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return s.r.Exec(ctx, sql, append([]any{pgx.QueryExecModeSimpleProtocol}, args...)...)
}

func (s simpleProtocol) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return s.r.Query(ctx, sql, append([]any{pgx.QueryExecModeSimpleProtocol}, args...)...)
}

func (s simpleProtocol) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return s.r.QueryRow(ctx, sql, append([]any{pgx.QueryExecModeSimpleProtocol}, args...)...)
}

func schemaName(ctx context.Context, conn *pgx.Conn) (string, error) {
	var s *string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&s); err != nil {
		return "", err
	}
	if s == nil {
		return "", nil
	}
	return *s, nil
}

// SchemaVersion answers the newest migration applied to the database.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	return flavor.SchemaVersion(ctx, executor{db.pool})
}
