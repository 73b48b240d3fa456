package sqlstore

import (
	"context"
	"strings"

	"github.com/twofold-auth/twofold/internal/store"
)

// What copy-db reads and writes, the same for every backend; how a backend imports (one
// INSERT a row, or COPY) is its own.

// Columns are the columns of each table of store.Tables as Export reads them and Import writes
// them, in the order Record scans and Values answers.
var Columns = map[string][]string{
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

// ExportTable yields the rows of table t read through x (a transaction of one snapshot); false
// when the export is over (an error or the caller stopped).
func (f *Flavor) ExportTable(ctx context.Context, x Executor, t string, yield func(store.Record, error) bool) bool {
	stopped := false
	err := x.QueryEach(ctx, func(row Scanner) error {
		r, err := Record(t, row)
		if err != nil {
			return err
		}
		if !yield(r, nil) {
			stopped = true
			return errStop
		}
		return nil
	}, `SELECT `+strings.Join(Columns[t], ", ")+` FROM `+t+` ORDER BY `+exportOrder[t])
	if stopped {
		return false
	}
	if err != nil {
		yield(store.Record{}, f.MapErr("export "+t, err))
		return false
	}
	return true
}

// errStop ends a QueryEach whose caller stopped the export.
var errStop = stopError{}

type stopError struct{}

func (stopError) Error() string { return "export stopped" }

// InsertSQL answers the statement that imports one row of table t, in the flavour's
// placeholders, with the values Values answers.
func (f *Flavor) InsertSQL(t string) string {
	cols := Columns[t]
	return f.sql(`INSERT INTO ` + t + ` (` + strings.Join(cols, ", ") + `) VALUES (` +
		strings.Repeat(", ?", len(cols))[2:] + `)`)
}

// Values answers a record's columns in the order of Columns.
func Values(r store.Record) []any {
	switch {
	case r.User != nil:
		u := r.User
		return []any{u.ID, u.Username, u.Email, u.Name, u.Kind, u.Source, u.Role, u.Disabled,
			u.PasswordHash, u.PasswordTemporary, Nanos(u.PasswordExpiresAt),
			blob(u.TOTPKey), u.TOTPKeyVersion, u.TOTPLastStep, blob(u.BackupSalt),
			u.MFAFailures, Nanos(u.MFALockedUntil), u.MFALockedForever, Nanos(u.CreatedAt)}
	case r.BackupCode != nil:
		c := r.BackupCode
		return []any{c.UserID, c.MAC, Nanos(c.UsedAt)}
	case r.PasswordFailure != nil:
		p := r.PasswordFailure
		return []any{p.NameKey, p.Failures, Nanos(p.LockedUntil), Nanos(p.CountsUntil)}
	case r.AddressFailure != nil:
		return []any{r.AddressFailure.Addr, Nanos(r.AddressFailure.At)}
	case r.Session != nil:
		s := r.Session
		return []any{s.IDHash, s.UserID, s.Done, s.MFAPassed, s.MFASkipped, blob(s.PendingKey),
			s.Reauthenticated, Nanos(s.CreatedAt), Nanos(s.LastSeenAt)}
	case r.Option != nil:
		return []any{r.Option.Key, r.Option.Value}
	case r.Event != nil:
		e := r.Event
		return []any{e.ID, Nanos(e.At), e.Actor, e.User, e.Action, e.Detail}
	case r.Meta != nil:
		return []any{r.Meta.Key, r.Meta.Value}
	}
	return nil
}

// CountTables answers the number of rows of every table, read through x.
func (f *Flavor) CountTables(ctx context.Context, x Executor) (store.Counts, error) {
	c := store.Counts{}
	for _, t := range store.Tables {
		var n int64
		if err := x.QueryRow(ctx, `SELECT count(*) FROM `+t).Scan(&n); err != nil {
			return nil, f.MapErr("count "+t, err)
		}
		c[t] = n
	}
	return c, nil
}
