package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"

	"github.com/twofold-auth/twofold/internal/store/sqlstore"
)

// Migrations are numbered files, NNNN_what.sql, applied in order, each in its own transaction.
// A migration is never edited once released: a change is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrate runs checks and then applies the migrations the database lacks, each in a BEGIN
// IMMEDIATE transaction (the writer pool's _txlock), which holds the file's write lock: two
// processes starting at once apply each migration once.
func migrate(ctx context.Context, w *sql.DB, checks []sqlstore.Check) error {
	ms, err := sqlstore.Migrations(migrationFiles)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := flavor.RunChecks(ctx, unprepared{w},
		`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'`, checks); err != nil {
		return err
	}
	return flavor.Migrate(ctx, unprepared{w}, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL DEFAULT (unixepoch())
	) STRICT`, ms, func(ctx context.Context, fn func(tx sqlstore.Executor) error) error {
		tx, err := w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := fn(unprepared{tx}); err != nil {
			return err
		}
		return tx.Commit()
	})
}
