package sqlstore

// How rows are kept: the columns of an account and a session and how a row becomes a
// store.User, times as INTEGER/BIGINT unix nanoseconds (0 for none) and lists as JSON text, so
// that both backends hold the same values and copy-db moves them unchanged.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
)

// UserColumns are the columns User reads, in order.
const UserColumns = `id, username, email, name, kind, source, role, disabled,
	password_hash, password_temporary, password_expires_at,
	totp_key, totp_key_version, totp_last_step, backup_salt,
	mfa_failures, mfa_locked_until, mfa_locked_forever, subject, email_verified, groups, created_at`

// Nanos is how a time is stored: unix nanoseconds, 0 for the zero time.
func Nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// ListText is how a list of strings is stored: a JSON array in a TEXT column, ” for an empty
// one, so that any string round-trips (a URI, a scope, a group name) and a column's default ”
// reads as no list.
func ListText(l []string) string {
	if len(l) == 0 {
		return ""
	}
	// The usual list (an amr, scopes) is of plain printable ASCII, which JSON writes as it is:
	// written here in one allocation, the same text json.Marshal makes.
	n := 1 + len(l)*3 // [ ] , and the quotes
	for _, e := range l {
		if !plainJSON(e) {
			b, _ := json.Marshal(l) // a []string always encodes
			return string(b)
		}
		n += len(e)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteByte('[')
	for i, e := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(e)
		b.WriteByte('"')
	}
	b.WriteByte(']')
	return b.String()
}

// plainJSON tells whether json.Marshal writes s between quotes as it is: printable ASCII but
// the characters it escapes (the quote and backslash, and < > & as HTML-safe JSON does).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// List reads a stored list back; ” (and an empty array) is nil, as the store's values hold an
// empty list.
func List(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	if l, ok := plainList(s); ok {
		return l, nil
	}
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("a stored list: %w", err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// plainList reads a list as ListText writes one of plain strings (["a","b"], printable ASCII,
// no escapes, no spaces between), its strings sharing s's memory; ok is false for any other
// text, which json.Unmarshal then reads.
func plainList(s string) (l []string, ok bool) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '\\' {
			return nil, false
		}
	}
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil, false
	}
	inner := s[1 : len(s)-1]
	if inner == "" {
		return nil, true
	}
	if len(inner) < 2 || inner[0] != '"' || inner[len(inner)-1] != '"' {
		return nil, false
	}
	inner = inner[1 : len(inner)-1]
	// Without a backslash every quote ends or starts a string, so the strings are what lies
	// between "," separators, and none may hold a quote.
	l = make([]string, 0, strings.Count(inner, `","`)+1)
	for e := range strings.SplitSeq(inner, `","`) {
		if strings.IndexByte(e, '"') >= 0 {
			return nil, false
		}
		l = append(l, e)
	}
	return l, true
}

// GroupsText is how an account's groups are stored: ListText of the names sorted, each once.
func GroupsText(names []string) string {
	return ListText(slices.Compact(slices.Sorted(slices.Values(names))))
}

// Time reads a stored time back, in UTC; 0 is the zero time.
func Time(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// NilIfEmpty reads an empty byte string back as nil, as the store's values hold it.
func NilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// userSelect is what the account queries read: UserColumns, then whether the account holds a
// security key not disabled (store.User.SecurityKey), which copy-db does not carry.
const userSelect = UserColumns + `, ` + userKeyColumn

// userKeyColumn is that last column of userSelect, of the row of users read.
const userKeyColumn = `EXISTS (SELECT 1 FROM webauthn_credentials w WHERE w.user_id = users.id AND NOT w.disabled)`

// userWithKey reads a row of userSelect.
func userWithKey(s Scanner) (*store.User, error) { return scanUser(s, true) }

// User reads a row of UserColumns.
func User(s Scanner) (*store.User, error) { return scanUser(s, false) }

// userScan is what scanning an account's row needs besides the store.User itself: the columns
// stored in another form.
type userScan struct {
	passwordExpires, lockedUntil, createdAt int64
	groups                                  string
	key                                     bool
}

// scratch keeps values of T for the next scan, so that reading a row allocates only what it
// answers. A value comes zeroed and is zeroed again when put back, so that nothing of one row
// (or a pointer into its result) stays behind for the next.
type scratch[T any] struct{ pool sync.Pool }

func (s *scratch[T]) get() *T {
	if v, ok := s.pool.Get().(*T); ok {
		return v
	}
	return new(T)
}

func (s *scratch[T]) put(v *T) {
	var zero T
	*v = zero
	s.pool.Put(v)
}

// userColumns is how many destinations userScan.dests appends at most.
const userColumns = 23

// userRead is a userScan with the destinations of one row. It is kept for the next scan
// (userReads), so that reading an account allocates the store.User and what the driver hands
// back only.
type userRead struct {
	userScan
	dest [userColumns]any
}

var userReads scratch[userRead]

// scanUser reads a row of UserColumns, followed by the security-key column when withKey.
func scanUser(s Scanner, withKey bool) (*store.User, error) {
	u := new(store.User)
	r := userReads.get()
	defer userReads.put(r)
	if err := s.Scan(r.dests(r.dest[:0], u, withKey)...); err != nil {
		return nil, err
	}
	return u, r.finish(u, withKey)
}

// dests appends to dst where the columns of an account's row go: u's fields, or sc for those
// stored in another form.
func (sc *userScan) dests(dst []any, u *store.User, withKey bool) []any {
	dst = append(dst, &u.ID, &u.Username, &u.Email, &u.Name, &u.Kind, &u.Source, &u.Role, &u.Disabled,
		&u.PasswordHash, &u.PasswordTemporary, &sc.passwordExpires,
		&u.TOTPKey, &u.TOTPKeyVersion, &u.TOTPLastStep, &u.BackupSalt,
		&u.MFAFailures, &sc.lockedUntil, &u.MFALockedForever, &u.Subject, &u.EmailVerified, &sc.groups, &sc.createdAt)
	if withKey {
		dst = append(dst, &sc.key)
	}
	return dst
}

// finish sets u's fields from the columns scanned into sc.
func (sc *userScan) finish(u *store.User, withKey bool) error {
	var err error
	if u.Groups, err = List(sc.groups); err != nil {
		return err
	}
	u.PasswordExpiresAt = Time(sc.passwordExpires)
	u.MFALockedUntil = Time(sc.lockedUntil)
	u.CreatedAt = Time(sc.createdAt)
	u.TOTPKey = NilIfEmpty(u.TOTPKey)
	u.BackupSalt = NilIfEmpty(u.BackupSalt)
	u.SecurityKey = withKey && sc.key
	return nil
}

// SessionColumns are the columns Session reads, in order.
const SessionColumns = `id_hash, user_id, done, mfa_passed, mfa_skipped, pending_key,
	reauthenticated, sid, amr, mfa_required, return_to, created_at, last_seen_at, device_remembered`

// sessionScan is what scanning a session's row needs besides the store.Session.
type sessionScan struct {
	amr                 string
	createdAt, lastSeen int64
}

// sessionColumns is how many destinations sessionScan.dests appends.
const sessionColumns = 14

// sessionRead is a sessionScan with the destinations of one row, kept for the next scan as
// userRead is.
type sessionRead struct {
	sessionScan
	dest [sessionColumns]any
}

var sessionReads scratch[sessionRead]

// Session reads a row of SessionColumns.
func Session(row Scanner) (*store.Session, error) {
	s := new(store.Session)
	r := sessionReads.get()
	defer sessionReads.put(r)
	if err := row.Scan(r.dests(r.dest[:0], s)...); err != nil {
		return nil, err
	}
	return s, r.finish(s)
}

// dests appends to dst where the columns of a session's row go, as userScan.dests does.
func (sc *sessionScan) dests(dst []any, s *store.Session) []any {
	return append(dst, &s.IDHash, &s.UserID, &s.Done, &s.MFAPassed, &s.MFASkipped, &s.PendingKey,
		&s.Reauthenticated, &s.SID, &sc.amr, &s.MFARequired, &s.ReturnTo, &sc.createdAt, &sc.lastSeen, &s.DeviceRemembered)
}

// finish sets s's fields from the columns scanned into sc.
func (sc *sessionScan) finish(s *store.Session) error {
	s.PendingKey = NilIfEmpty(s.PendingKey)
	s.CreatedAt, s.LastSeenAt = Time(sc.createdAt), Time(sc.lastSeen)
	var err error
	s.AMR, err = List(sc.amr)
	return err
}

// sessionUserScan is what scanning a row of sessionUserSelect needs, kept for the next scan as
// userRead is: the destinations of both rows in one array.
type sessionUserScan struct {
	s    sessionScan
	u    userScan
	dest [sessionColumns + userColumns]any
}

var sessionUserScans scratch[sessionUserScan]

// sessionUser reads a row of sessionUserSelect: a session, then its account as userSelect
// reads it.
func sessionUser(row Scanner) (*store.Session, *store.User, error) {
	s, u := new(store.Session), new(store.User)
	sc := sessionUserScans.get()
	defer sessionUserScans.put(sc)
	if err := row.Scan(sc.u.dests(sc.s.dests(sc.dest[:0], s), u, true)...); err != nil {
		return nil, nil, err
	}
	if err := sc.s.finish(s); err != nil {
		return nil, nil, err
	}
	if err := sc.u.finish(u, true); err != nil {
		return nil, nil, err
	}
	return s, u, nil
}

// sessionUserSelect reads a session by its id hash and its account in one query (SessionUser).
var sessionUserSelect = `SELECT ` + qualified("sessions", SessionColumns) + `, ` + qualified("users", UserColumns) +
	`, ` + userKeyColumn + ` FROM sessions JOIN users ON users.id = sessions.user_id WHERE sessions.id_hash = ?`

// qualified writes a list of columns as the queries write it with each column's table named, for
// a join of tables that share column names.
func qualified(table, list string) string {
	cs := columns(list)
	for i, c := range cs {
		cs[i] = table + "." + c
	}
	return strings.Join(cs, ", ")
}

// Record reads a row of table t as copy-db exports it: the table's columns in their order.
func Record(t string, rows Scanner) (store.Record, error) {
	switch t {
	case "users":
		u, err := User(rows)
		return store.Record{User: u}, err
	case "backup_codes":
		var c store.BackupCodeRecord
		var usedAt int64
		err := rows.Scan(&c.UserID, &c.MAC, &usedAt)
		c.UsedAt = Time(usedAt)
		return store.Record{BackupCode: &c}, err
	case "password_failures":
		var p store.PasswordFailureRecord
		var until, counts int64
		err := rows.Scan(&p.NameKey, &p.Failures, &until, &counts)
		p.LockedUntil, p.CountsUntil = Time(until), Time(counts)
		return store.Record{PasswordFailure: &p}, err
	case "address_failures":
		var a store.AddressFailureRecord
		var at int64
		err := rows.Scan(&a.Addr, &at)
		a.At = Time(at)
		return store.Record{AddressFailure: &a}, err
	case "sessions":
		s, err := Session(rows)
		return store.Record{Session: s}, err
	case "options":
		var kv store.KeyValue
		err := rows.Scan(&kv.Key, &kv.Value)
		return store.Record{Option: &kv}, err
	case "events":
		e, err := event(rows)
		return store.Record{Event: e}, err
	case "meta":
		var kv store.KeyValue
		err := rows.Scan(&kv.Key, &kv.Value)
		return store.Record{Meta: &kv}, err
	case "clients":
		c, err := client(rows)
		return store.Record{Client: c}, err
	case "auth_requests":
		a, err := authRequest(rows)
		return store.Record{AuthRequest: a}, err
	case "tokens":
		tok, err := token(rows)
		return store.Record{Token: tok}, err
	case "consents":
		c, err := consent(rows)
		return store.Record{Consent: c}, err
	case "signing_keys":
		k, err := signingKey(rows)
		return store.Record{SigningKey: k}, err
	case "webauthn_credentials":
		c, err := webAuthnCredential(rows)
		return store.Record{WebAuthn: c}, err
	case "remembered_devices":
		d, err := rememberedDevice(rows)
		return store.Record{Device: d}, err
	case "session_clients":
		var c store.SessionClientRecord
		var cat int64
		err := rows.Scan(&c.SID, &c.ClientID, &c.UserID, &cat)
		c.CreatedAt = Time(cat)
		return store.Record{SessionClient: &c}, err
	case "logout_notices":
		n, err := logoutNotice(rows)
		return store.Record{LogoutNotice: n}, err
	case "access_rules":
		r, err := accessRule(rows)
		return store.Record{AccessRule: r}, err
	}
	return store.Record{}, fmt.Errorf("unknown table %q", t)
}
