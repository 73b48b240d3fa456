package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
)

// Remembered devices (SPEC §10).

// RememberedDeviceColumns are the columns rememberedDevice reads, in order.
const RememberedDeviceColumns = `id, user_id, token_hash, label, created_at, last_used_at, expires_at`

func rememberedDevice(row Scanner) (*store.RememberedDevice, error) {
	var (
		d                          store.RememberedDevice
		created, lastUsed, expires int64
	)
	if err := row.Scan(&d.ID, &d.UserID, &d.TokenHash, &d.Label, &created, &lastUsed, &expires); err != nil {
		return nil, err
	}
	d.CreatedAt, d.LastUsedAt, d.ExpiresAt = Time(created), Time(lastUsed), Time(expires)
	return &d, nil
}

// AddRememberedDevice inserts with ON CONFLICT DO NOTHING, as CreateUser does, then prunes.
func (q Queries) AddRememberedDevice(ctx context.Context, d *store.RememberedDevice, pruneBefore time.Time) error {
	err := q.queryRow(ctx, `INSERT INTO remembered_devices (user_id, token_hash, label, created_at, last_used_at, expires_at)
	VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
		d.UserID, d.TokenHash, d.Label, Nanos(d.CreatedAt), Nanos(d.LastUsedAt), Nanos(d.ExpiresAt)).Scan(&d.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: add remembered device: %w (the token is stored already)", q.f.Name, store.ErrConflict)
	}
	if err != nil {
		return q.err("add remembered device", err)
	}
	_, err = q.exec(ctx, `DELETE FROM remembered_devices WHERE id IN (
		SELECT id FROM remembered_devices WHERE expires_at < ? LIMIT ?`+q.f.SkipLocked+`)`, Nanos(pruneBefore), store.PruneBatch)
	return q.err("prune remembered devices", err)
}

// RememberedDevice reads the device of the token hash.
func (q Queries) RememberedDevice(ctx context.Context, tokenHash []byte) (*store.RememberedDevice, error) {
	d, err := rememberedDevice(q.queryRow(ctx, `SELECT `+RememberedDeviceColumns+` FROM remembered_devices WHERE token_hash = ?`, tokenHash))
	if err != nil {
		return nil, q.err("remembered device", err)
	}
	return d, nil
}

// RememberedDevices lists the account's devices, oldest first.
func (q Queries) RememberedDevices(ctx context.Context, userID int64) ([]*store.RememberedDevice, error) {
	return list(ctx, q, "remembered devices", rememberedDevice, `SELECT `+RememberedDeviceColumns+` FROM remembered_devices WHERE user_id = ? ORDER BY created_at, id`, userID)
}

// TouchRememberedDevice writes when the device was last used.
func (q Queries) TouchRememberedDevice(ctx context.Context, id int64, at time.Time) error {
	n, err := q.exec(ctx, `UPDATE remembered_devices SET last_used_at = ? WHERE id = ?`, Nanos(at), id)
	return q.err("touch remembered device", one(n, err))
}

// DeleteRememberedDevice removes one device of the account.
func (q Queries) DeleteRememberedDevice(ctx context.Context, userID, id int64) error {
	n, err := q.exec(ctx, `DELETE FROM remembered_devices WHERE id = ? AND user_id = ?`, id, userID)
	return q.err("delete remembered device", one(n, err))
}

// DeleteRememberedDevices removes every device of the account.
func (q Queries) DeleteRememberedDevices(ctx context.Context, userID int64) (int, error) {
	n, err := q.exec(ctx, `DELETE FROM remembered_devices WHERE user_id = ?`, userID)
	return int(n), q.err("delete remembered devices", err)
}
