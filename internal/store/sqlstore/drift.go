package sqlstore

import (
	"context"

	"github.com/twofold-auth/twofold/internal/store"
)

// The offset of an account's last wrong TOTP code (SPEC §10 "Clock drift"), one row at most
// per account.

// CodeDrift answers the account's kept offset.
func (q Queries) CodeDrift(ctx context.Context, userID int64) (store.CodeDrift, error) {
	var d store.CodeDrift
	err := q.queryRow(ctx, `SELECT steps, step, failure FROM code_drift WHERE user_id = ?`, userID).Scan(&d.Steps, &d.Step, &d.Failure)
	return d, q.err("code drift", err)
}

// SetCodeDrift inserts or replaces the account's row.
func (q Queries) SetCodeDrift(ctx context.Context, userID int64, d store.CodeDrift) error {
	_, err := q.exec(ctx, `INSERT INTO code_drift (user_id, steps, step, failure) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET steps = excluded.steps, step = excluded.step, failure = excluded.failure`,
		userID, d.Steps, d.Step, d.Failure)
	return q.err("set code drift", err)
}

// DeleteCodeDrift removes the account's row.
func (q Queries) DeleteCodeDrift(ctx context.Context, userID int64) error {
	_, err := q.exec(ctx, `DELETE FROM code_drift WHERE user_id = ?`, userID)
	return q.err("delete code drift", err)
}
