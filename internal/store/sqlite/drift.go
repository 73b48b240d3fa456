package sqlite

import (
	"context"

	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/sqlstore"
)

// A code's clock drift as store.Queries of a DB outside Update, as in db.go.

func (db *DB) CodeDrift(ctx context.Context, userID int64) (store.CodeDrift, error) {
	return db.rq.CodeDrift(ctx, userID)
}

func (db *DB) SetCodeDrift(ctx context.Context, userID int64, d store.CodeDrift) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.SetCodeDrift(ctx, userID, d) })
}

func (db *DB) DeleteCodeDrift(ctx context.Context, userID int64) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.DeleteCodeDrift(ctx, userID) })
}
