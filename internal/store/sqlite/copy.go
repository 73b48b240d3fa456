package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/twofold-auth/twofold/internal/store/sqlrow"
	"iter"

	"github.com/twofold-auth/twofold/internal/store"
)

var _ store.Copier = (*DB)(nil)

// exportQueries read each table with the columns in the order scanRecord and importStatements
// use, sorted so that an export is the same from one run to the next.
var exportQueries = map[string]string{
	"users":             `SELECT ` + userColumns + ` FROM users ORDER BY id`,
	"backup_codes":      `SELECT user_id, mac, used_at FROM backup_codes ORDER BY user_id, mac`,
	"password_failures": `SELECT name_mac, failures, locked_until, counts_until FROM password_failures ORDER BY name_mac`,
	"address_failures":  `SELECT addr, at FROM address_failures ORDER BY at, addr`,
	"sessions": `SELECT id_hash, user_id, done, mfa_passed, mfa_skipped, pending_key,
		reauthenticated, created_at, last_seen_at FROM sessions ORDER BY id_hash`,
	"options": `SELECT key, value FROM options ORDER BY key`,
	"events":  `SELECT id, at, actor, account, action, detail FROM events ORDER BY id`,
	"meta":    `SELECT key, value FROM meta ORDER BY key`,
}

var importStatements = map[string]string{
	"users": `INSERT INTO users (` + userColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	"backup_codes":      `INSERT INTO backup_codes (user_id, mac, used_at) VALUES (?, ?, ?)`,
	"password_failures": `INSERT INTO password_failures (name_mac, failures, locked_until, counts_until) VALUES (?, ?, ?, ?)`,
	"address_failures":  `INSERT INTO address_failures (addr, at) VALUES (?, ?)`,
	"sessions": `INSERT INTO sessions (id_hash, user_id, done, mfa_passed, mfa_skipped, pending_key,
		reauthenticated, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	"options": `INSERT INTO options (key, value) VALUES (?, ?)`,
	"events":  `INSERT INTO events (id, at, actor, account, action, detail) VALUES (?, ?, ?, ?, ?, ?)`,
	"meta":    `INSERT INTO meta (key, value) VALUES (?, ?)`,
}

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
			if !exportTable(ctx, tx, t, yield) {
				return
			}
		}
	}
}

// exportTable yields the rows of table t; false when the export is over (an error or the
// caller stopped).
func exportTable(ctx context.Context, tx *sql.Tx, t string, yield func(store.Record, error) bool) bool {
	rows, err := tx.QueryContext(ctx, exportQueries[t])
	if err != nil {
		yield(store.Record{}, mapErr("export "+t, err))
		return false
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRecord(t, rows)
		if err != nil {
			yield(store.Record{}, mapErr("export "+t, err))
			return false
		}
		if !yield(r, nil) {
			return false
		}
	}
	if err := rows.Err(); err != nil {
		yield(store.Record{}, mapErr("export "+t, err))
		return false
	}
	return true
}

func scanRecord(t string, rows *sql.Rows) (store.Record, error) { return sqlrow.Record(t, rows) }

// args answers a record's columns in the order of importStatements.
func args(r store.Record) []any {
	switch {
	case r.User != nil:
		u := r.User
		return []any{u.ID, u.Username, u.Email, u.Name, u.Kind, u.Source, u.Role, b2i(u.Disabled),
			u.PasswordHash, b2i(u.PasswordTemporary), toNanos(u.PasswordExpiresAt),
			blob(u.TOTPKey), u.TOTPKeyVersion, u.TOTPLastStep, blob(u.BackupSalt),
			u.MFAFailures, toNanos(u.MFALockedUntil), b2i(u.MFALockedForever), toNanos(u.CreatedAt)}
	case r.BackupCode != nil:
		c := r.BackupCode
		return []any{c.UserID, c.MAC, toNanos(c.UsedAt)}
	case r.PasswordFailure != nil:
		p := r.PasswordFailure
		return []any{p.NameKey, p.Failures, toNanos(p.LockedUntil), toNanos(p.CountsUntil)}
	case r.AddressFailure != nil:
		return []any{r.AddressFailure.Addr, toNanos(r.AddressFailure.At)}
	case r.Session != nil:
		s := r.Session
		return []any{s.IDHash, s.UserID, b2i(s.Done), b2i(s.MFAPassed), b2i(s.MFASkipped), blob(s.PendingKey),
			b2i(s.Reauthenticated), toNanos(s.CreatedAt), toNanos(s.LastSeenAt)}
	case r.Option != nil:
		return []any{r.Option.Key, r.Option.Value}
	case r.Event != nil:
		e := r.Event
		return []any{e.ID, toNanos(e.At), e.Actor, e.User, e.Action, e.Detail}
	case r.Meta != nil:
		return []any{r.Meta.Key, r.Meta.Value}
	}
	return nil
}

// Import writes the records in one write transaction, which also holds the file's write lock,
// after checking that every table is empty. Explicit ids carry on as they are: SQLite hands out
// the next ones after the largest (AUTOINCREMENT's sqlite_sequence follows an explicit id).
func (db *DB) Import(ctx context.Context, records iter.Seq2[store.Record, error]) error {
	return db.inTx(ctx, func(q queries) error {
		tx, ok := q.x.(*connStmts)
		if !ok {
			return fmt.Errorf("sqlite: import: not in a write transaction")
		}
		n, err := countTables(ctx, tx)
		if err != nil {
			return err
		}
		if !n.Empty() {
			return fmt.Errorf("sqlite: import: %w (%s)", store.ErrNotEmpty, n)
		}
		last := -1
		for r, err := range records {
			if err != nil {
				return err
			}
			t := r.Table()
			if last, err = store.TableOrder(last, t); err != nil {
				return err
			}
			// Through tx, so that cancelling ctx stops the import between rows, never
			// interrupting one (see connStmts).
			if _, err := tx.ExecContext(ctx, importStatements[t], args(r)...); err != nil {
				return mapErr("import "+t, err)
			}
		}
		return nil
	})
}

// Count answers the number of rows of every table.
func (db *DB) Count(ctx context.Context) (store.Counts, error) {
	return countTables(ctx, db.r)
}

func countTables(ctx context.Context, x execer) (store.Counts, error) {
	c := store.Counts{}
	for _, t := range store.Tables {
		var n int64
		if err := x.QueryRowContext(ctx, `SELECT count(*) FROM `+t).Scan(&n); err != nil {
			return nil, mapErr("count "+t, err)
		}
		c[t] = n
	}
	return c, nil
}

// SchemaVersion answers the newest migration applied to the file.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := db.r.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, mapErr("schema version", err)
	}
	return int(v.Int64), nil
}
