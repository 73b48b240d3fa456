package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/twofold-auth/twofold/internal/store/sqlite"
	"github.com/twofold-auth/twofold/internal/store/sqlstore"
)

// TestChecksRunBeforeMigrations: Open's checks see a new file's metadata as absent (it has no
// meta table yet) and an existing one's as stored, and a refusal leaves the file unmigrated.
func TestChecksRunBeforeMigrations(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "twofold.db")
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
	if db, err := sqlite.Open(ctx, path, check(true)); !errors.Is(err, refused) {
		if err == nil {
			db.Close()
		}
		t.Fatalf("Open of a new file refused by a check = %v, want the check's error", err)
	}
	tables := func() (n int) {
		raw, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		if err := raw.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := tables(); n != 0 {
		t.Fatalf("a new file refused by a check has %d tables, want none", n)
	}
	db, err := sqlite.Open(ctx, path, check(false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetMetaOnce(ctx, "k", "v1"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = sqlite.Open(ctx, path, check(false))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if want := []string{"absent", "absent", "v1"}; !slices.Equal(got, want) {
		t.Errorf("the checks read %q, want %q", got, want)
	}
}
