package sqlite

import (
	"context"

	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/sqlstore"
)

// The access rules' store.Queries of a DB outside Update, as in db.go: reads on the reader
// pool, each change a transaction of its own through the committer.

func (db *DB) AccessRules(ctx context.Context) ([]*store.AccessRule, error) {
	return db.rq.AccessRules(ctx)
}

func (db *DB) AccessRulesVersion(ctx context.Context) (int64, error) {
	return db.rq.AccessRulesVersion(ctx)
}

func (db *DB) AddAccessRule(ctx context.Context, r *store.AccessRule, position int) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.AddAccessRule(ctx, r, position) })
}

func (db *DB) RemoveAccessRule(ctx context.Context, n int) (*store.AccessRule, error) {
	return write(ctx, db, func(q sqlstore.Queries) (*store.AccessRule, error) { return q.RemoveAccessRule(ctx, n) })
}

func (db *DB) MoveAccessRule(ctx context.Context, n, m int) (*store.AccessRule, error) {
	return write(ctx, db, func(q sqlstore.Queries) (*store.AccessRule, error) { return q.MoveAccessRule(ctx, n, m) })
}
