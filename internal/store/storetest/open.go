package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/sqlstore"
)

// Fresh is a new, empty database of a backend, for the cases of opening one.
type Fresh struct {
	// Open opens a store on the database, running checks and then applying the migrations it
	// lacks.
	Open func(ctx context.Context, checks ...sqlstore.Check) (store.Store, error)
	// Exec runs a statement on the database directly, outside the store.
	Exec func(t *testing.T, statement string)
	// Int runs a query of one integer on the database directly.
	Int func(t *testing.T, query string) int
	// Tables is the query of Int that counts the database's tables.
	Tables string
}

// RunOpen runs the cases of opening a database. fresh answers a new one for each case.
func RunOpen(t *testing.T, fresh func(t *testing.T) Fresh) {
	t.Run("Concurrently", func(t *testing.T) { testOpenConcurrently(t, fresh(t)) })
	t.Run("NewerSchemaRefused", func(t *testing.T) { testNewerSchemaRefused(t, fresh(t)) })
	t.Run("MissingVersionApplied", func(t *testing.T) { testMissingVersionApplied(t, fresh(t)) })
	t.Run("UnknownVersionRefused", func(t *testing.T) { testUnknownVersionRefused(t, fresh(t)) })
	t.Run("ChecksRunBeforeMigrations", func(t *testing.T) { testChecksRunBeforeMigrations(t, fresh(t)) })
}

// testChecksRunBeforeMigrations: Open's checks see a new database's metadata as absent (it has
// no meta table yet) and an existing one's as stored, and a refusal leaves a new database
// without a table.
func testChecksRunBeforeMigrations(t *testing.T, db Fresh) {
	ctx := t.Context()
	refused := errors.New("refused")
	var got []string
	check := func(refuse bool) sqlstore.Check {
		return func(ctx context.Context, meta func(context.Context, string) (string, bool, error)) error {
			v, ok, err := meta(ctx, "k")
			if err != nil {
				return err
			}
			if !ok {
				v = "absent"
			}
			got = append(got, v)
			if refuse {
				return refused
			}
			return nil
		}
	}
	if s, err := db.Open(ctx, check(true)); !errors.Is(err, refused) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open of a new database refused by a check = %v, want the check's error", err)
	}
	if n := db.Int(t, db.Tables); n != 0 {
		t.Fatalf("a new database refused by a check has %d tables, want none", n)
	}
	s, err := db.Open(ctx, check(false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetMetaOnce(ctx, "k", "v1"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = db.Open(ctx, check(false)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if want := []string{"absent", "absent", "v1"}; !slices.Equal(got, want) {
		t.Errorf("the checks read %q, want %q", got, want)
	}
}

// testOpenConcurrently opens a new database from several handles at once, as instances (or the
// server and a command) starting together do: every Open succeeds, and each migration is
// applied and recorded once.
func testOpenConcurrently(t *testing.T, db Fresh) {
	const n = 6
	var wg sync.WaitGroup
	stores := make([]store.Store, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = db.Open(t.Context())
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Open %d: %v", i, errs[i])
			continue
		}
		NewUser(t, stores[i], fmt.Sprint("u", i))
		if err := stores[i].Close(); err != nil {
			t.Errorf("Close %d: %v", i, err)
		}
	}
	s, err := db.Open(t.Context())
	if err != nil {
		t.Fatalf("Open after the others: %v", err)
	}
	defer s.Close()
	if n, err := s.CountUsers(t.Context(), ""); err != nil || n != 6 {
		t.Errorf("CountUsers = %d, %v; want 6", n, err)
	}
	// Versions may have gaps (a migration merged later fills one), so each is counted once.
	rows, versions := db.Int(t, `SELECT count(*) FROM schema_migrations`), db.Int(t, `SELECT count(DISTINCT version) FROM schema_migrations`)
	newest := db.Int(t, `SELECT max(version) FROM schema_migrations`)
	if rows != versions {
		t.Errorf("schema_migrations has %d rows for %d versions: a migration was recorded twice", rows, versions)
	}
	if v, ok := s.(interface {
		SchemaVersion(context.Context) (int, error)
	}); ok {
		if got, err := v.SchemaVersion(t.Context()); err != nil || got != newest {
			t.Errorf("SchemaVersion = %d, %v; want %d", got, err, newest)
		}
	}
}

// testNewerSchemaRefused: a database written by a newer Twofold is not opened, and the refusal
// names its version.
func testNewerSchemaRefused(t *testing.T, db Fresh) {
	s, err := db.Open(t.Context())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.Close()
	db.Exec(t, `INSERT INTO schema_migrations (version) VALUES (9999)`)
	if s, err := db.Open(t.Context()); err == nil {
		s.Close()
		t.Fatal("Open of a database with a newer schema succeeded")
	} else if !strings.Contains(err.Error(), "9999") {
		t.Errorf("Open error %q does not name the version", err)
	}
}

// withoutVersion4 makes db a database that records every version but 4 and lacks what 4 made
// (the users' groups column), as one is whose newer migrations were applied before 4 was
// merged.
func withoutVersion4(t *testing.T, db Fresh) {
	t.Helper()
	s, err := db.Open(t.Context())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	NewUser(t, s, "before")
	s.Close()
	db.Exec(t, `ALTER TABLE users DROP COLUMN groups`)
	db.Exec(t, `DELETE FROM schema_migrations WHERE version = 4`)
	if n := db.Int(t, `SELECT count(*) FROM schema_migrations WHERE version > 4`); n == 0 {
		t.Fatal("no version after 4 is recorded: the case needs one")
	}
}

// testMissingVersionApplied: a database that records 1, 2, 3 and 5 onwards gets 4 applied
// and recorded, once, and works with what 4 made; the accounts before it are kept.
func testMissingVersionApplied(t *testing.T, db Fresh) {
	withoutVersion4(t, db)
	newest := db.Int(t, `SELECT max(version) FROM schema_migrations`)
	s, err := db.Open(t.Context())
	if err != nil {
		t.Fatalf("Open of a database without version 4: %v", err)
	}
	defer s.Close()
	if n := db.Int(t, `SELECT count(*) FROM schema_migrations WHERE version = 4`); n != 1 {
		t.Errorf("version 4 recorded %d times, want once", n)
	}
	if got := db.Int(t, `SELECT max(version) FROM schema_migrations`); got != newest {
		t.Errorf("newest version %d after the upgrade, want %d still", got, newest)
	}
	if rows, versions := db.Int(t, `SELECT count(*) FROM schema_migrations`), db.Int(t, `SELECT count(DISTINCT version) FROM schema_migrations`); rows != versions {
		t.Errorf("schema_migrations has %d rows for %d versions: a migration was recorded twice", rows, versions)
	}
	u, err := s.UserByName(t.Context(), "before")
	if err != nil || len(u.Groups) != 0 {
		t.Fatalf("the account made before = %+v, %v; want it, in no group", u, err)
	}
	u.Groups = []string{"staff"}
	if err := s.UpdateUser(t.Context(), u); err != nil {
		t.Fatalf("UpdateUser with groups after version 4 was applied: %v", err)
	}
	if got, err := s.User(t.Context(), u.ID); err != nil || !slices.Equal(got.Groups, []string{"staff"}) {
		t.Errorf("groups after version 4 was applied = %v, %v; want [staff]", got.Groups, err)
	}
}

// testUnknownVersionRefused: a database that records a version this program does not have is
// refused, with the version and why, before any migration is applied: the missing 4 stays
// missing. Without it, the database opens.
func testUnknownVersionRefused(t *testing.T, db Fresh) {
	withoutVersion4(t, db)
	db.Exec(t, `INSERT INTO schema_migrations (version) VALUES (99)`)
	if s, err := db.Open(t.Context()); err == nil {
		s.Close()
		t.Fatal("Open of a database that records version 99 succeeded")
	} else if msg := err.Error(); !strings.Contains(msg, "version 99,") || !strings.Contains(msg, "newer Twofold") {
		t.Errorf("Open error %q does not name version 99 and a newer Twofold", msg)
	}
	if n := db.Int(t, `SELECT count(*) FROM schema_migrations WHERE version = 4`); n != 0 {
		t.Errorf("a refused database had version 4 applied")
	}
	db.Exec(t, `DELETE FROM schema_migrations WHERE version = 99`)
	s, err := db.Open(t.Context())
	if err != nil {
		t.Fatalf("Open without version 99: %v", err)
	}
	s.Close()
	if n := db.Int(t, `SELECT count(*) FROM schema_migrations WHERE version = 4`); n != 1 {
		t.Errorf("version 4 recorded %d times, want once", n)
	}
}
