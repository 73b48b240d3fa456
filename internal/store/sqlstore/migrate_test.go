package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/twofold-auth/twofold/internal/store/sqlstore"
)

// sqlExec is an Executor over database/sql, for Migrate on its own.
type sqlExec struct {
	x interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
}

func (e sqlExec) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	r, err := e.x.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

func (e sqlExec) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Scanner {
	return e.x.QueryRowContext(ctx, query, args...)
}

func (e sqlExec) QueryEach(ctx context.Context, each func(sqlstore.Scanner) error, query string, args ...any) error {
	rows, err := e.x.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return sqlstore.Each(rows, each)
}

// TestMigrateEveryMissingVersion: Migrate applies, in order, every migration not recorded,
// those older than the newest recorded too, and refuses a database that records a version it
// does not have, below its newest too, before applying any.
func TestMigrateEveryMissingVersion(t *testing.T) {
	ctx := t.Context()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	f := &sqlstore.Flavor{Name: "test", MapErr: func(op string, err error) error { return err }}
	migration := func(v int, name string) sqlstore.Migration {
		return sqlstore.Migration{Version: v, Name: name,
			SQL: `CREATE TABLE ` + name + ` (x INTEGER); INSERT INTO applied (name) VALUES ('` + name + `')`}
	}
	migrate := func(ms ...sqlstore.Migration) error {
		return f.Migrate(ctx, sqlExec{db}, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)`, ms,
			func(ctx context.Context, fn func(tx sqlstore.Executor) error) error {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					return err
				}
				defer tx.Rollback()
				if err := fn(sqlExec{tx}); err != nil {
					return err
				}
				return tx.Commit()
			})
	}
	column := func(query string) []string {
		t.Helper()
		rows, err := db.QueryContext(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	if _, err := db.Exec(`CREATE TABLE applied (n INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT)`); err != nil {
		t.Fatal(err)
	}
	one, two, three, four, five := migration(1, "one"), migration(2, "two"), migration(3, "three"), migration(4, "four"), migration(5, "five")

	// A program that knows 1, 2, 3 and 5; then one that knows 4 too, merged later.
	if err := migrate(one, two, three, five); err != nil {
		t.Fatal(err)
	}
	if err := migrate(one, two, three, four, five); err != nil {
		t.Fatalf("Migrate with 4 missing: %v", err)
	}
	if got, want := column(`SELECT name FROM applied ORDER BY n`), []string{"one", "two", "three", "five", "four"}; !slices.Equal(got, want) {
		t.Errorf("applied %q, want %q", got, want)
	}
	if got := column(`SELECT version FROM schema_migrations ORDER BY version`); !slices.Equal(got, []string{"1", "2", "3", "4", "5"}) {
		t.Errorf("recorded %q, want 1 to 5", got)
	}
	// Again: nothing to do.
	if err := migrate(one, two, three, four, five); err != nil {
		t.Fatal(err)
	}
	if n := len(column(`SELECT name FROM applied`)); n != 5 {
		t.Errorf("%d migrations applied after a second run, want 5", n)
	}

	// A program that does not know 3 (below its newest) nor 5 is refused before applying its 6.
	six := migration(6, "six")
	err = migrate(one, two, four, six)
	if err == nil {
		t.Fatal("Migrate of a database that records versions the program does not know succeeded")
	}
	if msg := err.Error(); !strings.Contains(msg, "schema versions 3, 5,") || !strings.Contains(msg, "newer Twofold") || !strings.Contains(msg, "up to 6") {
		t.Errorf("refusal %q does not name versions 3 and 5, what the program knows and why", msg)
	}
	if slices.Contains(column(`SELECT name FROM applied`), "six") {
		t.Errorf("a refused database had a migration applied")
	}
	// A migration that fails is named, and not recorded.
	bad := sqlstore.Migration{Version: 7, Name: "0007_bad.sql", SQL: `CREATE TABLE one (x INTEGER)`}
	if err := migrate(one, two, three, four, five, bad); err == nil || !strings.Contains(err.Error(), "0007_bad.sql") {
		t.Errorf("a failing migration: %v, want an error naming it", err)
	} else if slices.Contains(column(`SELECT version FROM schema_migrations`), "7") {
		t.Errorf("a failing migration was recorded")
	}
}
