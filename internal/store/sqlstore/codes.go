package sqlstore

import (
	"context"
	"strings"
	"time"
)

// Backup codes: only their MACs are kept.

// AddBackupCodes inserts every code in one statement.
func (q Queries) AddBackupCodes(ctx context.Context, userID int64, macs [][]byte) error {
	if len(macs) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(macs))
	for _, mac := range macs {
		args = append(args, userID, mac)
	}
	values := strings.Repeat(`, (?, ?, 0)`, len(macs))[2:]
	_, err := q.exec(ctx, `INSERT INTO backup_codes (user_id, mac, used_at) VALUES `+values, args...)
	return q.err("add backup codes", err)
}

// DeleteBackupCodes removes every code of the account, used or not.
func (q Queries) DeleteBackupCodes(ctx context.Context, userID int64) error {
	_, err := q.exec(ctx, `DELETE FROM backup_codes WHERE user_id = ?`, userID)
	return q.err("delete backup codes", err)
}

// UseBackupCode is one conditional write, as SetTOTPStep.
func (q Queries) UseBackupCode(ctx context.Context, userID int64, mac []byte, now time.Time) (bool, error) {
	usedAt := Nanos(now)
	if usedAt == 0 {
		usedAt = 1 // 0 means unused
	}
	n, err := q.exec(ctx, `UPDATE backup_codes SET used_at = ? WHERE user_id = ? AND mac = ? AND used_at = 0`, usedAt, userID, mac)
	return n == 1, q.err("use backup code", err)
}

// CountBackupCodes counts the account's unused codes.
func (q Queries) CountBackupCodes(ctx context.Context, userID int64) (int, error) {
	var n int
	err := q.queryRow(ctx, `SELECT count(*) FROM backup_codes WHERE user_id = ? AND used_at = 0`, userID).Scan(&n)
	return n, q.err("count backup codes", err)
}
