package sqlite

import (
	"context"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/sqlstore"
)

// Remembered devices' store.Queries of a DB outside Update, as in db.go: reads on the reader
// pool, each write a transaction of its own through the committer.

func (db *DB) AddRememberedDevice(ctx context.Context, d *store.RememberedDevice, pruneBefore time.Time) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.AddRememberedDevice(ctx, d, pruneBefore) })
}

func (db *DB) RememberedDevice(ctx context.Context, tokenHash []byte) (*store.RememberedDevice, error) {
	return db.rq.RememberedDevice(ctx, tokenHash)
}

func (db *DB) RememberedDevices(ctx context.Context, userID int64) ([]*store.RememberedDevice, error) {
	return db.rq.RememberedDevices(ctx, userID)
}

func (db *DB) TouchRememberedDevice(ctx context.Context, id int64, at time.Time) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.TouchRememberedDevice(ctx, id, at) })
}

func (db *DB) DeleteRememberedDevice(ctx context.Context, userID, id int64) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.DeleteRememberedDevice(ctx, userID, id) })
}

func (db *DB) DeleteRememberedDevices(ctx context.Context, userID int64) (int, error) {
	return write(ctx, db, func(q sqlstore.Queries) (int, error) { return q.DeleteRememberedDevices(ctx, userID) })
}
