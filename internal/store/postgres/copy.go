package postgres

import (
	"context"
	"fmt"
	"iter"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/sqlstore"
)

// Export reads every table in one REPEATABLE READ, READ ONLY transaction: one snapshot of the
// database, while the instances go on writing.
func (db *DB) Export(ctx context.Context) iter.Seq2[store.Record, error] {
	return func(yield func(store.Record, error) bool) {
		tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			yield(store.Record{}, mapErr("export", err))
			return
		}
		defer rollback(tx)
		for _, t := range store.Tables {
			if !flavor.ExportTable(ctx, executor{tx}, t, yield) {
				return
			}
		}
	}
}

// Import writes the records with COPY, table by table, in one transaction that first locks
// every table against writers and checks that they are empty; the identity sequences then
// continue after the largest imported id.
func (db *DB) Import(ctx context.Context, records iter.Seq2[store.Record, error]) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(store.Tables, ", ")+` IN EXCLUSIVE MODE`); err != nil {
			return mapErr("import", err)
		}
		n, err := flavor.CountTables(ctx, executor{tx})
		if err != nil {
			return err
		}
		if !n.Empty() {
			return fmt.Errorf("postgres: import: %w (%s)", store.ErrNotEmpty, n)
		}

		next, stop := iter.Pull2(records)
		defer stop()
		src := &copySource{next: next, last: -1}
		src.advance()
		for src.err == nil && src.cur.Table() != "" {
			t := src.cur.Table()
			src.table = t
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{t}, sqlstore.Columns[t], src); err != nil {
				if src.err != nil {
					return src.err
				}
				return mapErr("import "+t, err)
			}
		}
		if src.err != nil {
			return src.err
		}
		for _, t := range []string{"users", "events", "logout_notices", "access_rules", "webauthn_credentials", "remembered_devices"} {
			if _, err := tx.Exec(ctx, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', 'id'), max(id)) FROM %s`,
				t, pgx.Identifier{t}.Sanitize())); err != nil {
				return mapErr("import "+t, err)
			}
		}
		return nil
	})
}

// copySource feeds COPY the records of one table from the pulled sequence: it stops at the
// first record of another table, keeping it for the next COPY.
type copySource struct {
	next  func() (store.Record, error, bool)
	cur   store.Record // the record Next moves onto; zero at the end
	table string       // the table being copied
	last  int          // the position in store.Tables of the last table seen
	err   error
	row   []any
}

// advance pulls the next record into cur, checking the table order.
func (s *copySource) advance() {
	r, err, ok := s.next()
	switch {
	case !ok:
		s.cur = store.Record{}
	case err != nil:
		s.cur, s.err = store.Record{}, err
	default:
		s.cur = r
		s.last, s.err = store.TableOrder(s.last, r.Table())
	}
}

func (s *copySource) Next() bool {
	if s.err != nil || s.cur.Table() != s.table {
		return false
	}
	s.row = sqlstore.Values(s.cur)
	s.advance()
	return true
}

func (s *copySource) Values() ([]any, error) { return s.row, nil }

func (s *copySource) Err() error { return s.err }

// Count answers the number of rows of every table.
func (db *DB) Count(ctx context.Context) (store.Counts, error) {
	return flavor.CountTables(ctx, executor{db.pool})
}
