package sqlstore

import (
	"context"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
)

// Back-channel logout notices (SPEC §7 "Logout"): the queue every instance delivers from. A
// claim is a conditional write of next_at, so that one deliverer alone sends a notice.

// LogoutNoticeColumns are the columns logoutNotice reads, in order.
const LogoutNoticeColumns = `id, client_id, user_id, subject, sid, created_at, attempts, next_at, last_error`

func logoutNotice(row Scanner) (*store.LogoutNotice, error) {
	var (
		n         store.LogoutNotice
		cat, next int64
	)
	if err := row.Scan(&n.ID, &n.ClientID, &n.UserID, &n.Subject, &n.SID, &cat, &n.Attempts, &next, &n.LastError); err != nil {
		return nil, err
	}
	n.CreatedAt, n.NextAt = Time(cat), Time(next)
	return &n, nil
}

func logoutNoticeValues(n *store.LogoutNotice) []any {
	return []any{n.ID, n.ClientID, n.UserID, n.Subject, n.SID, Nanos(n.CreatedAt), n.Attempts, Nanos(n.NextAt), n.LastError}
}

// AddLogoutNotice inserts n and sets n.ID.
func (q Queries) AddLogoutNotice(ctx context.Context, n *store.LogoutNotice) error {
	err := q.queryRow(ctx, `INSERT INTO logout_notices (client_id, user_id, subject, sid, created_at, attempts, next_at, last_error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		n.ClientID, n.UserID, n.Subject, n.SID, Nanos(n.CreatedAt), n.Attempts, Nanos(n.NextAt), n.LastError).Scan(&n.ID)
	return q.err("add logout notice", err)
}

// DueLogoutNotices answers up to limit notices due at now, the earliest due first.
func (q Queries) DueLogoutNotices(ctx context.Context, now time.Time, limit int) ([]*store.LogoutNotice, error) {
	return list(ctx, q, "due logout notices", logoutNotice, `SELECT `+LogoutNoticeColumns+` FROM logout_notices WHERE next_at <= ? ORDER BY next_at, id LIMIT ?`,
		Nanos(now), limit)
}

// ClaimLogoutNotice is one conditional write: of claims racing on one notice, the first moves
// next_at and the others find it moved (PostgreSQL evaluates the condition again on the row
// committed meanwhile).
func (q Queries) ClaimLogoutNotice(ctx context.Context, id int64, oldNextAt, newNextAt time.Time) (bool, error) {
	n, err := q.exec(ctx, `UPDATE logout_notices SET next_at = ? WHERE id = ? AND next_at = ?`,
		Nanos(newNextAt), id, Nanos(oldNextAt))
	if err != nil {
		return false, q.err("claim logout notice", err)
	}
	return n == 1, nil
}

// DeleteLogoutNotice removes the notice; no error when it is gone already.
func (q Queries) DeleteLogoutNotice(ctx context.Context, id int64) error {
	_, err := q.exec(ctx, `DELETE FROM logout_notices WHERE id = ?`, id)
	return q.err("delete logout notice", err)
}

// RetryLogoutNotice records a failed attempt; ErrNotFound when the notice is gone.
func (q Queries) RetryLogoutNotice(ctx context.Context, id int64, attempts int, nextAt time.Time, lastErr string) error {
	n, err := q.exec(ctx, `UPDATE logout_notices SET attempts = ?, next_at = ?, last_error = ? WHERE id = ?`,
		attempts, Nanos(nextAt), lastErr, id)
	return q.err("retry logout notice", one(n, err))
}

// CountLogoutNotices counts the notices waiting.
func (q Queries) CountLogoutNotices(ctx context.Context) (int, error) {
	var n int
	err := q.queryRow(ctx, `SELECT count(*) FROM logout_notices`).Scan(&n)
	return n, q.err("count logout notices", err)
}
