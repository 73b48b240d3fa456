package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/twofold-auth/twofold/internal/store"
)

// Fresh is a new, empty database of a backend, for the cases of opening one.
type Fresh struct {
	// Open opens a store on the database, applying the migrations it lacks.
	Open func(ctx context.Context) (store.Store, error)
	// Exec runs a statement on the database directly, outside the store.
	Exec func(t *testing.T, statement string)
	// Int runs a query of one integer on the database directly.
	Int func(t *testing.T, query string) int
}

// RunOpen runs the cases of opening a database. fresh answers a new one for each case.
func RunOpen(t *testing.T, fresh func(t *testing.T) Fresh) {
	t.Run("Concurrently", func(t *testing.T) { testOpenConcurrently(t, fresh(t)) })
	t.Run("NewerSchemaRefused", func(t *testing.T) { testNewerSchemaRefused(t, fresh(t)) })
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
