package app_test

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/app/apptest"
	"github.com/twofold-auth/twofold/internal/keys"
	"github.com/twofold-auth/twofold/internal/store/postgres/pgtest"
)

var (
	keyA = strings.Repeat("a1", 32)
	keyB = strings.Repeat("b2", 32)
)

// keyConfig is a command's configuration with the server key key on db ("" for SQLite in
// data).
func keyConfig(data, db, key string) app.Config {
	return app.Config{Data: data, DB: db, SecretKey: key, MailFrom: "Twofold <twofold@localhost>", Hashing: apptest.CheapHashing}
}

// undoNewestMigrations makes the database look as an older Twofold left it, at version 8:
// migration 9 (the code_drift table) and any after it not applied yet. The later ones (SQLite's
// 10, the sessions' rowid) can be applied again to what they left.
func undoNewestMigrations(t *testing.T, exec func(statement string) error) {
	t.Helper()
	for _, q := range []string{`DROP TABLE code_drift`, `DELETE FROM schema_migrations WHERE version >= 9`} {
		if err := exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// testWrongKeyLeavesSchema: a database written with key A, then waiting for migrations, is
// refused with key B before any of them is applied; key A then applies them.
func testWrongKeyLeavesSchema(t *testing.T, data, db string, exec func(string) error, version func() int) {
	a := apptest.Open(t, keyConfig(data, db, keyA))
	a.Close()
	newest := version()
	undoNewestMigrations(t, exec)
	if a, err := app.Open(t.Context(), keyConfig(data, db, keyB)); err == nil {
		a.Close()
		t.Fatal("key B opened a database written with key A")
	} else if !errors.Is(err, keys.ErrWrongKey) {
		t.Fatalf("key B: %v, want %v", err, keys.ErrWrongKey)
	}
	if v := version(); v != 8 {
		t.Fatalf("schema version %d after a start refused for its key, want 8 as it was", v)
	}
	apptest.Open(t, keyConfig(data, db, keyA)).Close()
	if v := version(); v != newest || v < 9 {
		t.Fatalf("schema version %d after a start with the right key, want %d", v, newest)
	}
}

// TestWrongKeyLeavesSQLiteSchema: on SQLite, a start refused for its key migrates nothing.
func TestWrongKeyLeavesSQLiteSchema(t *testing.T) {
	data := t.TempDir()
	raw, err := sql.Open("sqlite", filepath.Join(data, "twofold.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	testWrongKeyLeavesSchema(t, data, "", func(q string) error {
		_, err := raw.Exec(q)
		return err
	}, func() (v int) {
		if err := raw.QueryRow(`SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	})
}

// TestWrongKeyLeavesPostgresSchema: on PostgreSQL, a start refused for its key migrates
// nothing, so that a canary with a mistyped key cannot break the instances still running.
func TestWrongKeyLeavesPostgresSchema(t *testing.T) {
	url := pgtest.URL(t)
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	testWrongKeyLeavesSchema(t, t.TempDir(), url, func(q string) error {
		_, err := conn.Exec(t.Context(), q)
		return err
	}, func() (v int) {
		if err := conn.QueryRow(t.Context(), `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	})
}

// TestMissingKeyFileRefused: a SQLite database that has recorded a server key, found without
// DATA/secret.key, is refused with the file to restore named, and no new key file is made in
// its place; the file restored, it opens again.
func TestMissingKeyFileRefused(t *testing.T) {
	data := t.TempDir()
	file := filepath.Join(data, "secret.key")
	apptest.Open(t, keyConfig(data, "", "")).Close()
	saved, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if a, err := app.Open(t.Context(), keyConfig(data, "", "")); err == nil {
		a.Close()
		t.Fatal("opened a database whose key file is missing")
	} else if !strings.Contains(err.Error(), file+" is missing: restore it") {
		t.Errorf("missing key file: %v, want the file to restore named", err)
	}
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a key file was made for a database written with another key (%v)", err)
	}
	if err := os.WriteFile(file, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	apptest.Open(t, keyConfig(data, "", "")).Close()
}
