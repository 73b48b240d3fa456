package postgres

import (
	"context"
	"fmt"
	"github.com/twofold-auth/twofold/internal/store/sqlrow"
	"iter"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/twofold-auth/twofold/internal/store"
)

// tableColumns are the columns of each table as Export reads them and Import writes them.
var tableColumns = map[string][]string{
	"users": {"id", "username", "email", "name", "kind", "source", "role", "disabled",
		"password_hash", "password_temporary", "password_expires_at",
		"totp_key", "totp_key_version", "totp_last_step", "backup_salt",
		"mfa_failures", "mfa_locked_until", "mfa_locked_forever", "created_at"},
	"backup_codes":      {"user_id", "mac", "used_at"},
	"password_failures": {"name_mac", "failures", "locked_until", "counts_until"},
	"address_failures":  {"addr", "at"},
	"sessions": {"id_hash", "user_id", "done", "mfa_passed", "mfa_skipped", "pending_key",
		"reauthenticated", "created_at", "last_seen_at"},
	"options": {"key", "value"},
	"events":  {"id", "at", "actor", "account", "action", "detail"},
	"meta":    {"key", "value"},
}

// exportOrder sorts each table so that an export is the same from one run to the next.
var exportOrder = map[string]string{
	"users": "id", "backup_codes": "user_id, mac", "password_failures": "name_mac",
	"address_failures": "at, addr", "sessions": "id_hash", "options": "key", "events": "id", "meta": "key",
}

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
			if !exportTable(ctx, tx, t, yield) {
				return
			}
		}
	}
}

// exportTable yields the rows of table t; false when the export is over (an error or the
// caller stopped).
func exportTable(ctx context.Context, tx pgx.Tx, t string, yield func(store.Record, error) bool) bool {
	rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT %s FROM %s ORDER BY %s`,
		quoted(tableColumns[t]), pgx.Identifier{t}.Sanitize(), exportOrder[t]))
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

// quoted answers names as a list of quoted identifiers.
func quoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = pgx.Identifier{n}.Sanitize()
	}
	return strings.Join(q, ", ")
}

func scanRecord(t string, rows pgx.Rows) (store.Record, error) { return sqlrow.Record(t, rows) }

// values answers a record's columns in the order of tableColumns.
func values(r store.Record) []any {
	switch {
	case r.User != nil:
		u := r.User
		return []any{u.ID, u.Username, u.Email, u.Name, u.Kind, u.Source, u.Role, u.Disabled,
			u.PasswordHash, u.PasswordTemporary, toNanos(u.PasswordExpiresAt),
			bytea(u.TOTPKey), u.TOTPKeyVersion, u.TOTPLastStep, bytea(u.BackupSalt),
			u.MFAFailures, toNanos(u.MFALockedUntil), u.MFALockedForever, toNanos(u.CreatedAt)}
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
		return []any{s.IDHash, s.UserID, s.Done, s.MFAPassed, s.MFASkipped, bytea(s.PendingKey),
			s.Reauthenticated, toNanos(s.CreatedAt), toNanos(s.LastSeenAt)}
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

// Import writes the records with COPY, table by table, in one transaction that first locks
// every table against writers and checks that they are empty; the identity sequences then
// continue after the largest imported id.
func (db *DB) Import(ctx context.Context, records iter.Seq2[store.Record, error]) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE `+quoted(store.Tables)+` IN EXCLUSIVE MODE`); err != nil {
			return mapErr("import", err)
		}
		n, err := countTables(ctx, tx)
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
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{t}, tableColumns[t], src); err != nil {
				if src.err != nil {
					return src.err
				}
				return mapErr("import "+t, err)
			}
		}
		if src.err != nil {
			return src.err
		}
		for _, t := range []string{"users", "events"} {
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
	s.row = values(s.cur)
	s.advance()
	return true
}

func (s *copySource) Values() ([]any, error) { return s.row, nil }

func (s *copySource) Err() error { return s.err }

// Count answers the number of rows of every table.
func (db *DB) Count(ctx context.Context) (store.Counts, error) {
	return countTables(ctx, db.pool)
}

func countTables(ctx context.Context, x execer) (store.Counts, error) {
	c := store.Counts{}
	for _, t := range store.Tables {
		var n int64
		if err := x.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{t}.Sanitize()).Scan(&n); err != nil {
			return nil, mapErr("count "+t, err)
		}
		c[t] = n
	}
	return c, nil
}
