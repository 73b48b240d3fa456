package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
)

// Security keys (SPEC §9): the registered credentials, and the one challenge a sign-in or
// session has begun.

// WebAuthnColumns are the columns webAuthnCredential reads, in order.
const WebAuthnColumns = `id, user_id, credential_id, public_key, sign_count, transports, flags,
	attestation_type, aaguid, name, created_at, last_used_at, disabled`

func webAuthnCredential(row Scanner) (*store.WebAuthnCredential, error) {
	var (
		c                 store.WebAuthnCredential
		signCount         int64
		flags             int
		transports        string
		created, lastUsed int64
	)
	err := row.Scan(&c.ID, &c.UserID, &c.CredentialID, &c.PublicKey, &signCount, &transports, &flags,
		&c.AttestationType, &c.AAGUID, &c.Name, &created, &lastUsed, &c.Disabled)
	if err != nil {
		return nil, err
	}
	if c.Transports, err = List(transports); err != nil {
		return nil, err
	}
	c.SignCount, c.Flags = uint32(signCount), byte(flags)
	c.AAGUID = NilIfEmpty(c.AAGUID)
	c.CreatedAt, c.LastUsedAt = Time(created), Time(lastUsed)
	return &c, nil
}

func webAuthnValues(c *store.WebAuthnCredential) []any {
	return []any{c.ID, c.UserID, c.CredentialID, c.PublicKey, int64(c.SignCount), ListText(c.Transports),
		int(c.Flags), c.AttestationType, blob(c.AAGUID), c.Name, Nanos(c.CreatedAt), Nanos(c.LastUsedAt), c.Disabled}
}

// AddWebAuthnCredential inserts with ON CONFLICT DO NOTHING, as CreateUser does.
func (q Queries) AddWebAuthnCredential(ctx context.Context, c *store.WebAuthnCredential) error {
	err := q.queryRow(ctx, `INSERT INTO webauthn_credentials (
		user_id, credential_id, public_key, sign_count, transports, flags,
		attestation_type, aaguid, name, created_at, last_used_at, disabled
	) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
		webAuthnValues(c)[1:]...).Scan(&c.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: add webauthn credential: %w (the credential is registered already)", q.f.Name, store.ErrConflict)
	}
	return q.err("add webauthn credential", err)
}

// WebAuthnCredentials lists the account's keys, oldest first.
func (q Queries) WebAuthnCredentials(ctx context.Context, userID int64) ([]*store.WebAuthnCredential, error) {
	return list(ctx, q, "webauthn credentials", webAuthnCredential, `SELECT `+WebAuthnColumns+` FROM webauthn_credentials WHERE user_id = ? ORDER BY created_at, id`, userID)
}

// UpdateWebAuthnCredential writes what a use of the key changes.
func (q Queries) UpdateWebAuthnCredential(ctx context.Context, c *store.WebAuthnCredential) error {
	n, err := q.exec(ctx, `UPDATE webauthn_credentials SET sign_count = ?, flags = ?, last_used_at = ?, disabled = ?
	WHERE id = ?`, int64(c.SignCount), int(c.Flags), Nanos(c.LastUsedAt), c.Disabled, c.ID)
	return q.err("update webauthn credential", one(n, err))
}

// DeleteWebAuthnCredential removes one key of the account.
func (q Queries) DeleteWebAuthnCredential(ctx context.Context, userID, id int64) error {
	n, err := q.exec(ctx, `DELETE FROM webauthn_credentials WHERE id = ? AND user_id = ?`, id, userID)
	return q.err("delete webauthn credential", one(n, err))
}

// DeleteWebAuthnCredentials removes every key of the account.
func (q Queries) DeleteWebAuthnCredentials(ctx context.Context, userID int64) error {
	_, err := q.exec(ctx, `DELETE FROM webauthn_credentials WHERE user_id = ?`, userID)
	return q.err("delete webauthn credentials", err)
}

// PutWebAuthnChallenge replaces the session's challenge in one upsert, then prunes.
func (q Queries) PutWebAuthnChallenge(ctx context.Context, idHash []byte, c store.WebAuthnChallenge, pruneBefore time.Time) error {
	_, err := q.exec(ctx, `INSERT INTO webauthn_challenges (id_hash, data, created_at) VALUES (?, ?, ?)
	ON CONFLICT (id_hash) DO UPDATE SET data = excluded.data, created_at = excluded.created_at`,
		idHash, c.Data, Nanos(c.CreatedAt))
	if err != nil {
		return q.err("put webauthn challenge", err)
	}
	_, err = q.exec(ctx, `DELETE FROM webauthn_challenges WHERE id_hash IN (
		SELECT id_hash FROM webauthn_challenges WHERE created_at < ? LIMIT ?`+q.f.SkipLocked+`)`, Nanos(pruneBefore), store.PruneBatch)
	return q.err("prune webauthn challenges", err)
}

// TakeWebAuthnChallenge is one DELETE ... RETURNING: of two takers, the second deletes nothing
// (PostgreSQL waits for the first to commit and finds the row gone).
func (q Queries) TakeWebAuthnChallenge(ctx context.Context, idHash []byte) (store.WebAuthnChallenge, error) {
	var c store.WebAuthnChallenge
	var created int64
	err := q.queryRow(ctx, `DELETE FROM webauthn_challenges WHERE id_hash = ? RETURNING data, created_at`, idHash).
		Scan(&c.Data, &created)
	if err != nil {
		return store.WebAuthnChallenge{}, q.err("take webauthn challenge", err)
	}
	c.CreatedAt = Time(created)
	return c, nil
}
