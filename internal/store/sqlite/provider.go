package sqlite

import (
	"context"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/sqlstore"
)

// The OpenID Connect provider's store.Queries of a DB outside Update, as in db.go: reads on
// the reader pool, each write a transaction of its own through the committer.

func (db *DB) UserBySubject(ctx context.Context, subject string) (*store.User, error) {
	return db.rq.UserBySubject(ctx, subject)
}

func (db *DB) CreateClient(ctx context.Context, c *store.Client) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.CreateClient(ctx, c) })
}

func (db *DB) Client(ctx context.Context, id string) (*store.Client, error) {
	return db.rq.Client(ctx, id)
}

func (db *DB) Clients(ctx context.Context) ([]*store.Client, error) { return db.rq.Clients(ctx) }

func (db *DB) UpdateClient(ctx context.Context, c *store.Client) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.UpdateClient(ctx, c) })
}

func (db *DB) DeleteClient(ctx context.Context, id string) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.DeleteClient(ctx, id) })
}

func (db *DB) CreateAuthRequest(ctx context.Context, a *store.AuthRequest) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.CreateAuthRequest(ctx, a) })
}

func (db *DB) AuthRequest(ctx context.Context, id string) (*store.AuthRequest, error) {
	return db.rq.AuthRequest(ctx, id)
}

func (db *DB) AuthRequestByCode(ctx context.Context, codeHash []byte) (*store.AuthRequest, error) {
	return db.rq.AuthRequestByCode(ctx, codeHash)
}

func (db *DB) UpdateAuthRequest(ctx context.Context, a *store.AuthRequest) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.UpdateAuthRequest(ctx, a) })
}

func (db *DB) DeleteAuthRequest(ctx context.Context, id string) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.DeleteAuthRequest(ctx, id) })
}

func (db *DB) DeleteUnredeemedCodes(ctx context.Context, userID int64, clientID string) (int, error) {
	return write(ctx, db, func(q sqlstore.Queries) (int, error) { return q.DeleteUnredeemedCodes(ctx, userID, clientID) })
}

func (db *DB) DeleteExpiredAuthRequests(ctx context.Context, before time.Time) (int, error) {
	return write(ctx, db, func(q sqlstore.Queries) (int, error) { return q.DeleteExpiredAuthRequests(ctx, before) })
}

func (db *DB) CreateToken(ctx context.Context, t *store.Token) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.CreateToken(ctx, t) })
}

func (db *DB) Token(ctx context.Context, idHash []byte) (*store.Token, error) {
	return db.rq.Token(ctx, idHash)
}

func (db *DB) UseToken(ctx context.Context, idHash []byte) (bool, error) {
	return write(ctx, db, func(q sqlstore.Queries) (bool, error) { return q.UseToken(ctx, idHash) })
}

func (db *DB) DeleteToken(ctx context.Context, idHash []byte) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.DeleteToken(ctx, idHash) })
}

func (db *DB) DeleteTokens(ctx context.Context, f store.TokenFilter) (int, error) {
	return write(ctx, db, func(q sqlstore.Queries) (int, error) { return q.DeleteTokens(ctx, f) })
}

func (db *DB) DeleteExpiredTokens(ctx context.Context, before time.Time) (int, error) {
	return write(ctx, db, func(q sqlstore.Queries) (int, error) { return q.DeleteExpiredTokens(ctx, before) })
}

func (db *DB) TokenClients(ctx context.Context, userID int64, now time.Time) ([]string, error) {
	return db.rq.TokenClients(ctx, userID, now)
}

func (db *DB) Consent(ctx context.Context, userID int64, clientID string) (*store.Consent, error) {
	return db.rq.Consent(ctx, userID, clientID)
}

func (db *DB) SetConsent(ctx context.Context, c *store.Consent) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.SetConsent(ctx, c) })
}

func (db *DB) DeleteConsent(ctx context.Context, userID int64, clientID string) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.DeleteConsent(ctx, userID, clientID) })
}

func (db *DB) Consents(ctx context.Context, userID int64) ([]*store.Consent, error) {
	return db.rq.Consents(ctx, userID)
}

func (db *DB) SigningKeys(ctx context.Context) ([]*store.SigningKey, error) {
	return db.rq.SigningKeys(ctx)
}

func (db *DB) CreateSigningKey(ctx context.Context, k *store.SigningKey) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.CreateSigningKey(ctx, k) })
}

func (db *DB) RetireSigningKeys(ctx context.Context, keepID string, at time.Time) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.RetireSigningKeys(ctx, keepID, at) })
}

func (db *DB) DeleteSigningKeys(ctx context.Context, before time.Time) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.DeleteSigningKeys(ctx, before) })
}

func (db *DB) AddSessionClient(ctx context.Context, sid, clientID string, userID int64, at time.Time) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.AddSessionClient(ctx, sid, clientID, userID, at) })
}

func (db *DB) SessionClients(ctx context.Context, sid string) ([]string, error) {
	return db.rq.SessionClients(ctx, sid)
}

func (db *DB) DeleteSessionClients(ctx context.Context, sid string) ([]string, error) {
	return write(ctx, db, func(q sqlstore.Queries) ([]string, error) { return q.DeleteSessionClients(ctx, sid) })
}

func (db *DB) DeleteEndedSessionClients(ctx context.Context, limit int) ([]*store.EndedSessionClient, error) {
	return write(ctx, db, func(q sqlstore.Queries) ([]*store.EndedSessionClient, error) {
		return q.DeleteEndedSessionClients(ctx, limit)
	})
}

func (db *DB) DeleteExpiredSessionClients(ctx context.Context, before time.Time) (int, error) {
	return write(ctx, db, func(q sqlstore.Queries) (int, error) { return q.DeleteExpiredSessionClients(ctx, before) })
}

func (db *DB) AddLogoutNotice(ctx context.Context, n *store.LogoutNotice) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.AddLogoutNotice(ctx, n) })
}

func (db *DB) DueLogoutNotices(ctx context.Context, now time.Time, limit int) ([]*store.LogoutNotice, error) {
	return db.rq.DueLogoutNotices(ctx, now, limit)
}

func (db *DB) ClaimLogoutNotice(ctx context.Context, id int64, oldNextAt, newNextAt time.Time) (bool, error) {
	return write(ctx, db, func(q sqlstore.Queries) (bool, error) { return q.ClaimLogoutNotice(ctx, id, oldNextAt, newNextAt) })
}

func (db *DB) DeleteLogoutNotice(ctx context.Context, id int64) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.DeleteLogoutNotice(ctx, id) })
}

func (db *DB) RetryLogoutNotice(ctx context.Context, id int64, attempts int, nextAt time.Time, lastErr string) error {
	return db.inTx(ctx, func(q sqlstore.Queries) error { return q.RetryLogoutNotice(ctx, id, attempts, nextAt, lastErr) })
}

func (db *DB) CountLogoutNotices(ctx context.Context) (int, error) {
	return db.rq.CountLogoutNotices(ctx)
}
