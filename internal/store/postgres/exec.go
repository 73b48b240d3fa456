package postgres

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/twofold-auth/twofold/internal/store/sqlstore"
)

// Advisory lock keys: the first of the two keys of a lock, per kind of thing locked.
const (
	addressLock   = 0x7466_6164 // "tfad": an address's attempts, with a hash of the address
	nameLock      = 0x7466_6e6d // "tfnm": a name key's password failures, with a hash of the key
	migrationLock = 0x7466_6d67 // "tfmg": the migrations, with a hash of the schema
)

// flavor is how PostgreSQL's SQL differs from the queries as sqlstore writes them: numbered
// placeholders, reads inside Update that lock their rows, sweeps that skip rows other instances
// hold, and transaction advisory locks where instances must take turns before a row exists
// (two names or addresses sharing a hash only wait for each other).
var flavor = &sqlstore.Flavor{
	Name:        "postgres",
	Numbered:    true,
	ForUpdate:   ` FOR UPDATE`,
	SkipLocked:  ` FOR UPDATE SKIP LOCKED`,
	LockName:    `SELECT pg_advisory_xact_lock(` + strconv.Itoa(nameLock) + `, hashtext(encode(?, 'hex')))`,
	LockAddress: `SELECT pg_advisory_xact_lock(` + strconv.Itoa(addressLock) + `, hashtext(?))`,
	MapErr:      mapErr,
}

// runner is what *pgxpool.Pool, *pgx.Conn and pgx.Tx have in common.
type runner interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// executor is the sqlstore.Executor of a pool or a transaction. pgx prepares and caches each
// statement per connection itself.
type executor struct{ r runner }

func (e executor) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := e.r.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (e executor) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Scanner {
	return e.r.QueryRow(ctx, query, args...)
}

func (e executor) QueryEach(ctx context.Context, each func(sqlstore.Scanner) error, query string, args ...any) error {
	rows, err := e.r.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return sqlstore.Each(rows, each)
}

// queries answers the store's queries on the pool: each is atomic by itself, and those of more
// than one statement run in a READ COMMITTED transaction of their own.
func queries(pool *pgxpool.Pool) sqlstore.Queries {
	return sqlstore.New(flavor, executor{pool}, func(ctx context.Context, fn func(q sqlstore.Queries) error) error {
		return pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
			return fn(sqlstore.New(flavor, executor{tx}, nil))
		})
	})
}
