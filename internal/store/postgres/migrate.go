package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"github.com/twofold-auth/twofold/internal/store/sqlrow"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Migrations are numbered files, NNNN_what.sql, applied in order, each in its own transaction.
// A migration is never edited once released: a change is a new file. They are PostgreSQL's
// own, beside SQLite's, not SQLite's rewritten.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// loadMigrations reads the embedded migrations in version order.
func loadMigrations() ([]sqlrow.Migration, error) { return sqlrow.Migrations(migrationFiles) }

// migrationLock is the first key of the advisory lock migrations run under; the second is a
// hash of the schema, so that databases (and schemas) do not wait for one another.
const migrationLock = 0x7466_6d67 // "tfmg"

// migrate applies the migrations the schema lacks, holding a session advisory lock on one
// connection for the whole run: instances starting at once wait for the first one, then find
// nothing left to do.
func migrate(ctx context.Context, pool *pgxpool.Pool) (err error) {
	ms, err := loadMigrations()
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
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var newest *int
	if err := conn.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(ms) > 0 && newest != nil && *newest > ms[len(ms)-1].Version {
		return fmt.Errorf("migrate: the database has schema version %d, newer than this program knows (%d)",
			*newest, ms[len(ms)-1].Version)
	}
	for _, m := range ms {
		if newest != nil && m.Version <= *newest {
			continue
		}
		if err := apply(ctx, conn.Conn(), m); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.Name, err)
		}
	}
	return nil
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

func apply(ctx context.Context, conn *pgx.Conn, m sqlrow.Migration) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// Simple protocol: a migration is several statements.
		if _, err := tx.Exec(ctx, m.SQL, pgx.QueryExecModeSimpleProtocol); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.Version)
		return err
	})
}

// SchemaVersion answers the newest migration applied to the database.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v *int
	if err := db.pool.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, mapErr("schema version", err)
	}
	if v == nil {
		return 0, nil
	}
	return *v, nil
}
