package sqlstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
)

// The OpenID Connect provider's rows (SPEC §7): clients, authorization requests, tokens,
// consents, signing keys and the clients of each session. Inserts use ON CONFLICT DO NOTHING
// and answer ErrConflict when nothing was written, as CreateUser does, so that a taken key is
// not an SQL error that would abort the transaction around it on PostgreSQL.

// ---- clients

// ClientColumns are the columns client reads, in order.
const ClientColumns = `id, name, secret_hash, public, redirect_uris, post_logout_redirect_uris,
	backchannel_logout_uri, require_mfa, skip_consent, groups, created_at`

func client(row Scanner) (*store.Client, error) {
	var (
		c                        store.Client
		redirect, logout, groups string
		cat                      int64
	)
	err := row.Scan(&c.ID, &c.Name, &c.SecretHash, &c.Public, &redirect, &logout,
		&c.BackchannelLogoutURI, &c.RequireMFA, &c.SkipConsent, &groups, &cat)
	if err != nil {
		return nil, err
	}
	c.SecretHash = NilIfEmpty(c.SecretHash)
	c.CreatedAt = Time(cat)
	if c.RedirectURIs, err = List(redirect); err != nil {
		return nil, err
	}
	if c.PostLogoutRedirectURIs, err = List(logout); err != nil {
		return nil, err
	}
	if c.Groups, err = List(groups); err != nil {
		return nil, err
	}
	return &c, nil
}

func clientValues(c *store.Client) []any {
	return []any{c.ID, c.Name, blob(c.SecretHash), c.Public, ListText(c.RedirectURIs),
		ListText(c.PostLogoutRedirectURIs), c.BackchannelLogoutURI, c.RequireMFA, c.SkipConsent,
		ListText(c.Groups), Nanos(c.CreatedAt)}
}

// CreateClient inserts c; ErrConflict when the id is taken.
func (q Queries) CreateClient(ctx context.Context, c *store.Client) error {
	n, err := q.exec(ctx, `INSERT INTO clients (`+ClientColumns+`)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, clientValues(c)...)
	return q.inserted("create client", n, err)
}

// Client answers the client with id.
func (q Queries) Client(ctx context.Context, id string) (*store.Client, error) {
	c, err := client(q.queryRow(ctx, `SELECT `+ClientColumns+` FROM clients WHERE id = ?`, id))
	return c, q.err("client", err)
}

// Clients lists every client, newest first.
func (q Queries) Clients(ctx context.Context) ([]*store.Client, error) {
	return list(ctx, q, "clients", client, `SELECT `+ClientColumns+` FROM clients ORDER BY created_at DESC, id DESC`)
}

// UpdateClient writes every field of c except ID and CreatedAt.
func (q Queries) UpdateClient(ctx context.Context, c *store.Client) error {
	n, err := q.exec(ctx, `UPDATE clients SET
		name = ?, secret_hash = ?, public = ?, redirect_uris = ?, post_logout_redirect_uris = ?,
		backchannel_logout_uri = ?, require_mfa = ?, skip_consent = ?, groups = ?
	WHERE id = ?`,
		c.Name, blob(c.SecretHash), c.Public, ListText(c.RedirectURIs), ListText(c.PostLogoutRedirectURIs),
		c.BackchannelLogoutURI, c.RequireMFA, c.SkipConsent, ListText(c.Groups),
		c.ID)
	return q.err("update client", one(n, err))
}

// DeleteClient removes the client; its authorization requests, tokens, consents and session
// records go with it (ON DELETE CASCADE).
func (q Queries) DeleteClient(ctx context.Context, id string) error {
	n, err := q.exec(ctx, `DELETE FROM clients WHERE id = ?`, id)
	return q.err("delete client", one(n, err))
}

// ---- authorization requests

// AuthRequestColumns are the columns authRequest reads, in order.
const AuthRequestColumns = `id, client_id, request, created_at, done, user_id, sid, auth_time, amr,
	code_hash, code_expires_at, redeemed, replayed`

func authRequest(row Scanner) (*store.AuthRequest, error) {
	var (
		a             store.AuthRequest
		userID        *int64
		amr           string
		cat, authTime int64
		codeExpires   int64
	)
	err := row.Scan(&a.ID, &a.ClientID, &a.Request, &cat, &a.Done, &userID, &a.SID, &authTime, &amr,
		&a.CodeHash, &codeExpires, &a.Redeemed, &a.Replayed)
	if err != nil {
		return nil, err
	}
	if userID != nil {
		a.UserID = *userID
	}
	a.Request, a.CodeHash = NilIfEmpty(a.Request), NilIfEmpty(a.CodeHash)
	a.CreatedAt, a.AuthTime, a.CodeExpiresAt = Time(cat), Time(authTime), Time(codeExpires)
	if a.AMR, err = List(amr); err != nil {
		return nil, err
	}
	return &a, nil
}

func authRequestValues(a *store.AuthRequest) []any {
	return []any{a.ID, a.ClientID, blob(a.Request), Nanos(a.CreatedAt), a.Done, nullID(a.UserID),
		a.SID, Nanos(a.AuthTime), ListText(a.AMR), blob(a.CodeHash), Nanos(a.CodeExpiresAt), a.Redeemed, a.Replayed}
}

// nullID stores the id 0 (no account yet) as NULL, which the foreign key lets through.
func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// CreateAuthRequest inserts a; ErrConflict when the id (or the code hash) is taken.
func (q Queries) CreateAuthRequest(ctx context.Context, a *store.AuthRequest) error {
	n, err := q.exec(ctx, `INSERT INTO auth_requests (`+AuthRequestColumns+`)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, authRequestValues(a)...)
	return q.inserted("create auth request", n, err)
}

// AuthRequest locks the row inside a transaction, so that a sign-in meeting the request and
// anything else writing it take turns.
func (q Queries) AuthRequest(ctx context.Context, id string) (*store.AuthRequest, error) {
	a, err := authRequest(q.queryRow(ctx, `SELECT `+AuthRequestColumns+` FROM auth_requests WHERE id = ?`+q.forUpdate(), id))
	return a, q.err("auth request", err)
}

// AuthRequestByCode locks the row inside a transaction: of redemptions of one code at once, at
// any instance, each reads what the one before it wrote, so only the first finds it unredeemed.
func (q Queries) AuthRequestByCode(ctx context.Context, codeHash []byte) (*store.AuthRequest, error) {
	a, err := authRequest(q.queryRow(ctx, `SELECT `+AuthRequestColumns+` FROM auth_requests WHERE code_hash = ?`+q.forUpdate(), codeHash))
	return a, q.err("auth request by code", err)
}

// UpdateAuthRequest writes every field of a except ID, ClientID, Request and CreatedAt. A code
// hash another request holds leaves the row as it is and answers ErrConflict, not an SQL error
// (the check and the write are one statement; a conflict committed by a concurrent statement
// still answers ErrConflict, from the unique index).
func (q Queries) UpdateAuthRequest(ctx context.Context, a *store.AuthRequest) error {
	code := blob(a.CodeHash)
	n, err := q.exec(ctx, `UPDATE auth_requests SET
		done = ?, user_id = ?, sid = ?, auth_time = ?, amr = ?, code_hash = ?, code_expires_at = ?,
		redeemed = ?, replayed = ?
	WHERE id = ? AND NOT EXISTS (SELECT 1 FROM auth_requests WHERE code_hash = ? AND id <> ?)`,
		a.Done, nullID(a.UserID), a.SID, Nanos(a.AuthTime), ListText(a.AMR), code, Nanos(a.CodeExpiresAt),
		a.Redeemed, a.Replayed,
		a.ID, code, a.ID)
	if err != nil || n == 1 {
		return q.err("update auth request", err)
	}
	// Gone, or the code hash is taken: tell them apart (rare path).
	var found int
	if err := q.queryRow(ctx, `SELECT 1 FROM auth_requests WHERE id = ?`, a.ID).Scan(&found); err != nil {
		return q.err("update auth request", err)
	}
	return fmt.Errorf("%s: update auth request: %w (the code hash is taken)", q.f.Name, store.ErrConflict)
}

// DeleteAuthRequest removes one request; no error when it is gone already.
func (q Queries) DeleteAuthRequest(ctx context.Context, id string) error {
	_, err := q.exec(ctx, `DELETE FROM auth_requests WHERE id = ?`, id)
	return q.err("delete auth request", err)
}

// DeleteUnredeemedCodes removes the account's finished requests whose code is not exchanged
// (or not written yet), of one client when clientID is set.
func (q Queries) DeleteUnredeemedCodes(ctx context.Context, userID int64, clientID string) (int, error) {
	query := `DELETE FROM auth_requests WHERE user_id = ? AND NOT redeemed AND NOT replayed`
	args := []any{userID}
	if clientID != "" {
		query += ` AND client_id = ?`
		args = append(args, clientID)
	}
	n, err := q.exec(ctx, query, args...)
	return int(n), q.err("delete unredeemed codes", err)
}

// DeleteExpiredAuthRequests is a sweep every instance runs: rows another transaction holds
// (a code being redeemed) are skipped, and go at a later sweep.
func (q Queries) DeleteExpiredAuthRequests(ctx context.Context, before time.Time) (int, error) {
	n, err := q.exec(ctx, `DELETE FROM auth_requests WHERE id IN (
		SELECT id FROM auth_requests WHERE created_at < ?`+q.f.SkipLocked+`)`, Nanos(before))
	return int(n), q.err("delete expired auth requests", err)
}

// ---- tokens

// TokenColumns are the columns token reads, in order.
const TokenColumns = `id_hash, kind, family, client_id, user_id, sid, scopes, amr, auth_time,
	expires_at, used, created_at`

func token(row Scanner) (*store.Token, error) {
	var (
		t                      store.Token
		scopes, amr            string
		authTime, expires, cat int64
	)
	err := row.Scan(&t.IDHash, &t.Kind, &t.Family, &t.ClientID, &t.UserID, &t.SID, &scopes, &amr,
		&authTime, &expires, &t.Used, &cat)
	if err != nil {
		return nil, err
	}
	t.AuthTime, t.ExpiresAt, t.CreatedAt = Time(authTime), Time(expires), Time(cat)
	if t.Scopes, err = List(scopes); err != nil {
		return nil, err
	}
	if t.AMR, err = List(amr); err != nil {
		return nil, err
	}
	return &t, nil
}

func tokenValues(t *store.Token) []any {
	return []any{t.IDHash, t.Kind, t.Family, t.ClientID, t.UserID, t.SID, ListText(t.Scopes),
		ListText(t.AMR), Nanos(t.AuthTime), Nanos(t.ExpiresAt), t.Used, Nanos(t.CreatedAt)}
}

// CreateToken inserts t; ErrConflict when the hash is taken.
func (q Queries) CreateToken(ctx context.Context, t *store.Token) error {
	n, err := q.exec(ctx, `INSERT INTO tokens (`+TokenColumns+`)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, tokenValues(t)...)
	return q.inserted("create token", n, err)
}

// Token answers the token with the hash, expired or not, and locks it inside a transaction.
func (q Queries) Token(ctx context.Context, idHash []byte) (*store.Token, error) {
	t, err := token(q.queryRow(ctx, `SELECT `+TokenColumns+` FROM tokens WHERE id_hash = ?`+q.forUpdate(), idHash))
	return t, q.err("token", err)
}

// UseToken is one conditional write, as UseBackupCode: of uses of one refresh token at once,
// at any instance, exactly one changes the row.
func (q Queries) UseToken(ctx context.Context, idHash []byte) (bool, error) {
	n, err := q.exec(ctx, `UPDATE tokens SET used = ? WHERE id_hash = ? AND NOT used`, true, idHash)
	if err != nil {
		return false, q.err("use token", err)
	}
	if n != 1 {
		// Used already, or no such token: tell them apart (rare path).
		var found int
		return false, q.err("use token", q.queryRow(ctx, `SELECT 1 FROM tokens WHERE id_hash = ?`, idHash).Scan(&found))
	}
	return true, nil
}

// DeleteToken removes one token; no error when it is gone already.
func (q Queries) DeleteToken(ctx context.Context, idHash []byte) error {
	_, err := q.exec(ctx, `DELETE FROM tokens WHERE id_hash = ?`, idHash)
	return q.err("delete token", err)
}

// errNoFilter refuses a DeleteTokens that would remove every token.
var errNoFilter = errors.New("delete tokens: no field of the filter is set")

// DeleteTokens removes the tokens that match every set field of f. The conditions are left out
// rather than bound empty, as Events does, so that the planner uses the indexes.
func (q Queries) DeleteTokens(ctx context.Context, f store.TokenFilter) (int, error) {
	query := `DELETE FROM tokens WHERE true`
	var args []any
	for _, c := range []struct {
		set  bool
		cond string
		arg  any
	}{
		{f.Family != "", ` AND family = ?`, f.Family},
		{f.ClientID != "", ` AND client_id = ?`, f.ClientID},
		{f.UserID != 0, ` AND user_id = ?`, f.UserID},
		{f.SID != "", ` AND sid = ?`, f.SID},
	} {
		if c.set {
			query += c.cond
			args = append(args, c.arg)
		}
	}
	if len(args) == 0 {
		return 0, fmt.Errorf("%s: %w", q.f.Name, errNoFilter)
	}
	n, err := q.exec(ctx, query, args...)
	return int(n), q.err("delete tokens", err)
}

// DeleteExpiredTokens is a sweep every instance runs, skipping rows another transaction holds.
func (q Queries) DeleteExpiredTokens(ctx context.Context, before time.Time) (int, error) {
	n, err := q.exec(ctx, `DELETE FROM tokens WHERE id_hash IN (
		SELECT id_hash FROM tokens WHERE expires_at < ?`+q.f.SkipLocked+`)`, Nanos(before))
	return int(n), q.err("delete expired tokens", err)
}

// TokenClients answers the ids of the clients holding a token of the account that expires
// after now, sorted.
func (q Queries) TokenClients(ctx context.Context, userID int64, now time.Time) ([]string, error) {
	return q.strings(ctx, "token clients", `SELECT DISTINCT client_id FROM tokens WHERE user_id = ? AND expires_at > ?
		ORDER BY client_id`, userID, Nanos(now))
}

// strings answers the one text column of a query's rows; what names the query in an error.
func (q Queries) strings(ctx context.Context, what, query string, args ...any) ([]string, error) {
	return list(ctx, q, what, func(row Scanner) (s string, err error) {
		err = row.Scan(&s)
		return s, err
	}, query, args...)
}

// ---- consents

// ConsentColumns are the columns consent reads, in order.
const ConsentColumns = `user_id, client_id, scopes, created_at`

func consent(row Scanner) (*store.Consent, error) {
	var (
		c      store.Consent
		scopes string
		cat    int64
	)
	if err := row.Scan(&c.UserID, &c.ClientID, &scopes, &cat); err != nil {
		return nil, err
	}
	c.CreatedAt = Time(cat)
	var err error
	c.Scopes, err = List(scopes)
	return &c, err
}

func consentValues(c *store.Consent) []any {
	return []any{c.UserID, c.ClientID, ListText(c.Scopes), Nanos(c.CreatedAt)}
}

// Consent answers what the person allowed the client.
func (q Queries) Consent(ctx context.Context, userID int64, clientID string) (*store.Consent, error) {
	c, err := consent(q.queryRow(ctx, `SELECT `+ConsentColumns+` FROM consents WHERE user_id = ? AND client_id = ?`,
		userID, clientID))
	return c, q.err("consent", err)
}

// SetConsent writes c in place of any consent of the same person and client.
func (q Queries) SetConsent(ctx context.Context, c *store.Consent) error {
	_, err := q.exec(ctx, `INSERT INTO consents (`+ConsentColumns+`) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, created_at = excluded.created_at`,
		consentValues(c)...)
	return q.err("set consent", err)
}

// DeleteConsent removes the consent; ErrNotFound when there is none.
func (q Queries) DeleteConsent(ctx context.Context, userID int64, clientID string) error {
	n, err := q.exec(ctx, `DELETE FROM consents WHERE user_id = ? AND client_id = ?`, userID, clientID)
	return q.err("delete consent", one(n, err))
}

// Consents lists the person's consents, newest first.
func (q Queries) Consents(ctx context.Context, userID int64) ([]*store.Consent, error) {
	return list(ctx, q, "consents", consent, `SELECT `+ConsentColumns+` FROM consents WHERE user_id = ? ORDER BY created_at DESC, client_id`, userID)
}

// ---- signing keys

// SigningKeyColumns are the columns signingKey reads, in order.
const SigningKeyColumns = `id, sealed, key_version, created_at, retired_at`

func signingKey(row Scanner) (*store.SigningKey, error) {
	var (
		k            store.SigningKey
		cat, retired int64
	)
	if err := row.Scan(&k.ID, &k.Sealed, &k.KeyVersion, &cat, &retired); err != nil {
		return nil, err
	}
	k.CreatedAt, k.RetiredAt = Time(cat), Time(retired)
	return &k, nil
}

func signingKeyValues(k *store.SigningKey) []any {
	return []any{k.ID, k.Sealed, k.KeyVersion, Nanos(k.CreatedAt), Nanos(k.RetiredAt)}
}

// SigningKeys lists every signing key, newest first.
func (q Queries) SigningKeys(ctx context.Context) ([]*store.SigningKey, error) {
	return list(ctx, q, "signing keys", signingKey, `SELECT `+SigningKeyColumns+` FROM signing_keys ORDER BY created_at DESC, id DESC`)
}

// CreateSigningKey inserts k; ErrConflict when the id is taken.
func (q Queries) CreateSigningKey(ctx context.Context, k *store.SigningKey) error {
	n, err := q.exec(ctx, `INSERT INTO signing_keys (`+SigningKeyColumns+`) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, signingKeyValues(k)...)
	return q.inserted("create signing key", n, err)
}

// RetireSigningKeys sets the retirement time of every key still signing but keepID.
func (q Queries) RetireSigningKeys(ctx context.Context, keepID string, at time.Time) error {
	_, err := q.exec(ctx, `UPDATE signing_keys SET retired_at = ? WHERE retired_at = 0 AND id <> ?`,
		Nanos(at), keepID)
	return q.err("retire signing keys", err)
}

// DeleteSigningKeys removes keys retired before before; a key still signing (retired_at 0) is
// never removed.
func (q Queries) DeleteSigningKeys(ctx context.Context, before time.Time) error {
	_, err := q.exec(ctx, `DELETE FROM signing_keys WHERE retired_at <> 0 AND retired_at < ?`, Nanos(before))
	return q.err("delete signing keys", err)
}

// ---- the clients of a session

// SessionClientColumns are the columns of a session's client record, in order.
const SessionClientColumns = `sid, client_id, user_id, created_at`

// AddSessionClient records the client for sid; a record there already stays as it is.
func (q Queries) AddSessionClient(ctx context.Context, sid, clientID string, userID int64, at time.Time) error {
	_, err := q.exec(ctx, `INSERT INTO session_clients (`+SessionClientColumns+`) VALUES (?, ?, ?, ?)
		ON CONFLICT (sid, client_id) DO NOTHING`, sid, clientID, userID, Nanos(at))
	return q.err("add session client", err)
}

// SessionClients answers the ids of the clients recorded for sid, sorted.
func (q Queries) SessionClients(ctx context.Context, sid string) ([]string, error) {
	return q.strings(ctx, "session clients", `SELECT client_id FROM session_clients WHERE sid = ? ORDER BY client_id`, sid)
}

// DeleteSessionClients forgets the records of sid and answers the clients of the rows this
// statement deleted: a row another transaction deleted first is not among them (PostgreSQL
// waits for that transaction and then finds the row gone; SQLite has one writer).
func (q Queries) DeleteSessionClients(ctx context.Context, sid string) ([]string, error) {
	ids, err := q.strings(ctx, "delete session clients", `DELETE FROM session_clients WHERE sid = ? RETURNING client_id`, sid)
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	return ids, nil
}

// DeleteEndedSessionClients is a sweep every instance runs: of the records whose session is
// gone it takes up to limit, the oldest first, skipping rows another transaction holds, and
// answers what this statement deleted, each record to one sweep alone. The subject is read in
// the statement, without locking the account.
func (q Queries) DeleteEndedSessionClients(ctx context.Context, limit int) ([]*store.EndedSessionClient, error) {
	es, err := list(ctx, q, "delete ended session clients", func(row Scanner) (*store.EndedSessionClient, error) {
		var e store.EndedSessionClient
		err := row.Scan(&e.SID, &e.ClientID, &e.UserID, &e.Subject)
		return &e, err
	}, `DELETE FROM session_clients WHERE (sid, client_id) IN (
		SELECT sid, client_id FROM session_clients AS sc
		WHERE NOT EXISTS (SELECT 1 FROM sessions WHERE sessions.sid = sc.sid)
		ORDER BY created_at, sid, client_id LIMIT ?`+q.f.SkipLocked+`)
		RETURNING sid, client_id, user_id,
			coalesce((SELECT subject FROM users WHERE users.id = session_clients.user_id), '')`, limit)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(es, func(a, b *store.EndedSessionClient) int {
		return cmp.Or(strings.Compare(a.SID, b.SID), strings.Compare(a.ClientID, b.ClientID))
	})
	return es, nil
}

// DeleteExpiredSessionClients is a sweep every instance runs, skipping rows another
// transaction holds.
func (q Queries) DeleteExpiredSessionClients(ctx context.Context, before time.Time) (int, error) {
	n, err := q.exec(ctx, `DELETE FROM session_clients WHERE (sid, client_id) IN (
		SELECT sid, client_id FROM session_clients WHERE created_at < ?`+q.f.SkipLocked+`)`, Nanos(before))
	return int(n), q.err("delete expired session clients", err)
}

// inserted answers the outcome of an INSERT ... ON CONFLICT DO NOTHING of one row: ErrConflict
// when it wrote none.
func (q Queries) inserted(op string, n int64, err error) error {
	if err != nil {
		return q.err(op, err)
	}
	if n != 1 {
		return fmt.Errorf("%s: %s: %w (the key is taken)", q.f.Name, op, store.ErrConflict)
	}
	return nil
}
