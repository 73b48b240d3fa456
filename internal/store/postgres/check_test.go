package postgres_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/twofold-auth/twofold/internal/store/postgres"
	"github.com/twofold-auth/twofold/internal/store/postgres/pgtest"
	"github.com/twofold-auth/twofold/internal/store/sqlstore"
)

// TestChecksRunBeforeMigrations: Open's checks see a new schema's metadata as absent (it has
// no meta table yet) and an existing one's as stored, and a refusal leaves the schema
// unmigrated.
func TestChecksRunBeforeMigrations(t *testing.T) {
	ctx := t.Context()
	url := pgtest.URL(t)
	refused := errors.New("refused")
	var got []string
	check := func(refuse bool) sqlstore.Check {
		return func(ctx context.Context, meta func(context.Context, string) (string, bool, error)) error {
			v, ok, err := meta(ctx, "k")
			if err != nil {
				return err
			}
			if ok {
				got = append(got, v)
			} else {
				got = append(got, "absent")
			}
			if refuse {
				return refused
			}
			return nil
		}
	}
	if db, err := postgres.Open(ctx, url, check(true)); !errors.Is(err, refused) {
		if err == nil {
			db.Close()
		}
		t.Fatalf("Open of a new schema refused by a check = %v, want the check's error", err)
	}
	var n int
	if err := rawConn(t, url).QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()`).Scan(&n); err != nil {
		t.Fatal(err)
	} else if n != 0 {
		t.Fatalf("a new schema refused by a check has %d tables, want none", n)
	}
	db, err := postgres.Open(ctx, url, check(false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetMetaOnce(ctx, "k", "v1"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = postgres.Open(ctx, url, check(false))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if want := []string{"absent", "absent", "v1"}; !slices.Equal(got, want) {
		t.Errorf("the checks read %q, want %q", got, want)
	}
}
