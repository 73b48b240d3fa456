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
	"users":                columns(UserColumns),
	"backup_codes":         {"user_id", "mac", "used_at"},
	"password_failures":    {"name_mac", "failures", "locked_until", "counts_until"},
	"address_failures":     {"addr", "at"},
	"sessions":             columns(SessionColumns),
	"options":              {"key", "value"},
	"events":               {"id", "at", "actor", "account", "action", "detail"},
	"meta":                 {"key", "value"},
	"clients":              columns(ClientColumns),
	"auth_requests":        columns(AuthRequestColumns),
	"tokens":               columns(TokenColumns),
	"consents":             columns(ConsentColumns),
	"signing_keys":         columns(SigningKeyColumns),
	"session_clients":      columns(SessionClientColumns),
	"logout_notices":       columns(LogoutNoticeColumns),
	"access_rules":         columns(AccessRuleColumns),
	"webauthn_credentials": columns(WebAuthnColumns),
	"remembered_devices":   columns(RememberedDeviceColumns),
}

// columns splits a list of columns as the queries write it.
func columns(list string) []string {
	cs := strings.Split(list, ",")
	for i, c := range cs {
		cs[i] = strings.TrimSpace(c)
	}
	return cs
}

// exportOrder sorts each table so that an export is the same from one run to the next.
var exportOrder = map[string]string{
	"users": "id", "backup_codes": "user_id, mac", "password_failures": "name_mac",
	"address_failures": "at, addr", "sessions": "id_hash", "options": "key", "events": "id", "meta": "key",
	"clients": "id", "auth_requests": "id", "tokens": "id_hash", "consents": "user_id, client_id",
	"signing_keys": "id", "session_clients": "sid, client_id", "logout_notices": "id",
	"access_rules": "position", "webauthn_credentials": "id", "remembered_devices": "id",
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
			u.MFAFailures, Nanos(u.MFALockedUntil), u.MFALockedForever, u.Subject, u.EmailVerified,
			GroupsText(u.Groups), Nanos(u.CreatedAt)}
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
			s.Reauthenticated, s.SID, ListText(s.AMR), s.MFARequired, s.ReturnTo,
			Nanos(s.CreatedAt), Nanos(s.LastSeenAt), s.DeviceRemembered}
	case r.Option != nil:
		return []any{r.Option.Key, r.Option.Value}
	case r.Event != nil:
		e := r.Event
		return []any{e.ID, Nanos(e.At), e.Actor, e.User, e.Action, e.Detail}
	case r.Meta != nil:
		return []any{r.Meta.Key, r.Meta.Value}
	case r.Client != nil:
		return clientValues(r.Client)
	case r.AuthRequest != nil:
		return authRequestValues(r.AuthRequest)
	case r.Token != nil:
		return tokenValues(r.Token)
	case r.Consent != nil:
		return consentValues(r.Consent)
	case r.SigningKey != nil:
		return signingKeyValues(r.SigningKey)
	case r.SessionClient != nil:
		c := r.SessionClient
		return []any{c.SID, c.ClientID, c.UserID, Nanos(c.CreatedAt)}
	case r.LogoutNotice != nil:
		return logoutNoticeValues(r.LogoutNotice)
	case r.AccessRule != nil:
		return accessRuleValues(r.AccessRule)
	case r.WebAuthn != nil:
		return webAuthnValues(r.WebAuthn)
	case r.Device != nil:
		d := r.Device
		return []any{d.ID, d.UserID, d.TokenHash, d.Label, Nanos(d.CreatedAt), Nanos(d.LastUsedAt), Nanos(d.ExpiresAt)}
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
