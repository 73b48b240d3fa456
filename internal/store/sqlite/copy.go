package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"iter"

	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/sqlstore"
)

var _ store.Copier = (*DB)(nil)

// Export reads every table in one read transaction on a reader connection: in WAL mode that
// is one snapshot of the file, while the server goes on writing.
func (db *DB) Export(ctx context.Context) iter.Seq2[store.Record, error] {
	return func(yield func(store.Record, error) bool) {
		tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			yield(store.Record{}, mapErr("export", err))
			return
		}
		defer tx.Rollback()
		for _, t := range store.Tables {
			if !flavor.ExportTable(ctx, unprepared{tx}, t, yield) {
				return
			}
		}
	}
}

// Import writes the records one INSERT a row in one write transaction, which also holds the
// file's write lock, after checking that every table is empty. Explicit ids carry on as they
// are: SQLite hands out the next ones after the largest (AUTOINCREMENT's sqlite_sequence
// follows an explicit id).
func (db *DB) Import(ctx context.Context, records iter.Seq2[store.Record, error]) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error {
		// Through the writer, so that cancelling ctx stops the import between rows, never
		// interrupting one (see stmtCache).
		w := q.Executor()
		n, err := flavor.CountTables(ctx, w)
		if err != nil {
			return err
		}
		if !n.Empty() {
			return fmt.Errorf("sqlite: import: %w (%s)", store.ErrNotEmpty, n)
		}
		last := -1
		inserts := map[string]string{}
		for r, err := range records {
			if err != nil {
				return err
			}
			t := r.Table()
			if last, err = store.TableOrder(last, t); err != nil {
				return err
			}
			if inserts[t] == "" {
				inserts[t] = flavor.InsertSQL(t)
			}
			if _, err := w.Exec(ctx, inserts[t], sqlstore.Values(r)...); err != nil {
				return mapErr("import "+t, err)
			}
		}
		return nil
	})
}

// Count answers the number of rows of every table.
func (db *DB) Count(ctx context.Context) (store.Counts, error) {
	return flavor.CountTables(ctx, db.rc)
}

// SchemaVersion answers the newest migration applied to the file.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	return flavor.SchemaVersion(ctx, db.rc)
}
