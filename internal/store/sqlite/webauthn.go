package sqlite

import (
	"context"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/sqlstore"
)

// Security keys' store.Queries of a DB outside Update, as in db.go: reads on the reader pool,
// each write a transaction of its own through the committer.

func (db *DB) AddWebAuthnCredential(ctx context.Context, c *store.WebAuthnCredential) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.AddWebAuthnCredential(ctx, c) })
}

func (db *DB) WebAuthnCredentials(ctx context.Context, userID int64) ([]*store.WebAuthnCredential, error) {
	return db.rq.WebAuthnCredentials(ctx, userID)
}

func (db *DB) UpdateWebAuthnCredential(ctx context.Context, c *store.WebAuthnCredential) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.UpdateWebAuthnCredential(ctx, c) })
}

func (db *DB) DeleteWebAuthnCredential(ctx context.Context, userID, id int64) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.DeleteWebAuthnCredential(ctx, userID, id) })
}

func (db *DB) DeleteWebAuthnCredentials(ctx context.Context, userID int64) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.DeleteWebAuthnCredentials(ctx, userID) })
}

func (db *DB) PutWebAuthnChallenge(ctx context.Context, idHash []byte, c store.WebAuthnChallenge, pruneBefore time.Time) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.PutWebAuthnChallenge(ctx, idHash, c, pruneBefore) })
}

func (db *DB) TakeWebAuthnChallenge(ctx context.Context, idHash []byte) (store.WebAuthnChallenge, error) {
	return write(ctx, db, func(q sqlstore.Queries) (store.WebAuthnChallenge, error) { return q.TakeWebAuthnChallenge(ctx, idHash) })
}
