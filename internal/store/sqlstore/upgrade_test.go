package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/postgres"
	"github.com/twofold-auth/twofold/internal/store/postgres/pgtest"
	"github.com/twofold-auth/twofold/internal/store/sqlite"
	"github.com/twofold-auth/twofold/internal/store/storetest"
)

// v2Users are accounts of a database of schema version 2; each backend's test adds two
// sessions in its dialect.
const v2Users = `INSERT INTO users (username, kind, source, role, created_at) VALUES
	('alice', 'internal', 'local', 'user', 1), ('bob', 'internal', 'local', 'admin', 2),
	('carol', 'external', 'sso', 'user', 3)`

// TestUpgradeToProvider: a database of schema version 2 with accounts and sessions opens as
// version 3 on each backend, every account with a distinct random subject and every session
// with a distinct sid; new accounts are made after them as before.
func TestUpgradeToProvider(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "twofold.db")
		raw, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		statements := append(schemaV2(t, "../sqlite/migrations"),
			`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL DEFAULT (unixepoch())) STRICT`,
			`INSERT INTO schema_migrations (version) VALUES (1), (2)`)
		for _, q := range append(statements, v2Users,
			`INSERT INTO sessions (id_hash, user_id, done, created_at) SELECT x'aa', id, 1, 4 FROM users WHERE username = 'alice'`,
			`INSERT INTO sessions (id_hash, user_id, done, created_at) SELECT x'bb', id, 0, 5 FROM users WHERE username = 'bob'`) {
			if _, err := raw.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		raw.Close()
		db := storetest.Keep[*sqlite.DB](t)(sqlite.Open(t.Context(), path))
		checkUpgraded(t, db, func(t *testing.T, query string) []string {
			raw, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			return collect(t, func(each func(string)) error {
				r, err := raw.QueryContext(t.Context(), query)
				if err != nil {
					return err
				}
				defer r.Close()
				for r.Next() {
					var s string
					if err := r.Scan(&s); err != nil {
						return err
					}
					each(s)
				}
				return r.Err()
			})
		})
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		url := pgtest.URL(t)
		conn, err := pgx.Connect(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		statements := append(schemaV2(t, "../postgres/migrations"),
			`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
			`INSERT INTO schema_migrations (version) VALUES (1), (2)`)
		for _, q := range append(statements, v2Users,
			`INSERT INTO sessions (id_hash, user_id, done, created_at) SELECT '\xaa'::bytea, id, true, 4 FROM users WHERE username = 'alice'`,
			`INSERT INTO sessions (id_hash, user_id, done, created_at) SELECT '\xbb'::bytea, id, false, 5 FROM users WHERE username = 'bob'`) {
			if _, err := conn.Exec(t.Context(), q, pgx.QueryExecModeSimpleProtocol); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		db := storetest.Keep[*postgres.DB](t)(postgres.Open(t.Context(), url))
		checkUpgraded(t, db, func(t *testing.T, query string) []string {
			return collect(t, func(each func(string)) error {
				rows, err := conn.Query(t.Context(), query)
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					var s string
					if err := rows.Scan(&s); err != nil {
						return err
					}
					each(s)
				}
				return rows.Err()
			})
		})
	})
}

// schemaV2 answers the migrations of versions 1 and 2 in dir.
func schemaV2(t *testing.T, dir string) []string {
	t.Helper()
	var ss []string
	for _, f := range []string{"0001_init.sql", "0002_failure_keys.sql"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		ss = append(ss, string(b))
	}
	return ss
}

// collect answers the texts query passes to each.
func collect(t *testing.T, query func(each func(string)) error) []string {
	t.Helper()
	var ss []string
	if err := query(func(s string) { ss = append(ss, s) }); err != nil {
		t.Fatal(err)
	}
	return ss
}

// checkUpgraded checks the accounts of v2Users and the two sessions after the upgrade; column
// answers the values of a query of one text column, read outside the store.
func checkUpgraded(t *testing.T, db store.Store, column func(t *testing.T, query string) []string) {
	ctx := t.Context()
	if v, err := db.(interface {
		SchemaVersion(context.Context) (int, error)
	}).SchemaVersion(ctx); err != nil || v < 3 {
		t.Fatalf("SchemaVersion after the upgrade = %d, %v", v, err)
	}
	us, err := db.Users(ctx)
	if err != nil || len(us) != 3 {
		t.Fatalf("Users after the upgrade = %d, %v", len(us), err)
	}
	seen := map[string]bool{}
	for _, u := range us {
		if b, err := hex.DecodeString(u.Subject); err != nil || len(b) != 16 || seen[u.Subject] {
			t.Errorf("%s's subject after the upgrade = %q, want 32 hex digits of its own", u.Username, u.Subject)
		}
		seen[u.Subject] = true
		if got, err := db.UserBySubject(ctx, u.Subject); err != nil || got.ID != u.ID {
			t.Errorf("UserBySubject(%s's subject) = %v, %v", u.Username, got, err)
		}
		if u.EmailVerified {
			t.Errorf("%s's email is verified after the upgrade", u.Username)
		}
	}
	sids := column(t, `SELECT sid FROM sessions`)
	if len(sids) != 2 || sids[0] == "" || sids[1] == "" || sids[0] == sids[1] {
		t.Errorf("sessions' sids after the upgrade = %q, want two distinct", sids)
	}
	dave := storetest.NewUser(t, db, "dave")
	if seen[dave.Subject] {
		t.Errorf("a new account got an upgraded account's subject")
	}
}
