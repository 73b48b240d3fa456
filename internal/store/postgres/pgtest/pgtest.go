// Package pgtest gives each test its own empty PostgreSQL schema, so that tests run in
// parallel on one server and leave nothing behind.
//
// The server is named by TWOFOLD_TEST_POSTGRES (for example
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable). Without it a developer's go test
// skips the PostgreSQL tests; under CI (the CI variable set) a missing variable or a server
// that does not answer fails them, so that CI cannot pass without having run them.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL is the variable that names the test server.
const EnvURL = "TWOFOLD_TEST_POSTGRES"

// URL makes a new schema on the test server and answers a URL whose search_path is that
// schema alone; t.Cleanup drops it with everything in it. It skips t, or under CI fails it,
// when no server is named, and fails t when the named server does not answer.
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: CI must run the PostgreSQL tests (.ci/run starts a server and sets it)", EnvURL)
		}
		t.Skipf("%s is not set: skipping the PostgreSQL tests (set it to postgres://USER@HOST:PORT/DB?sslmode=disable to run them)", EnvURL)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "twofold_test_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("the PostgreSQL server of %s does not answer: %v", EnvURL, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// WatchedURL is URL with an application_name of its own, app, by which WaitForLock finds the
// connections opened with it.
func WatchedURL(t testing.TB) (url, app string) {
	var b [6]byte
	rand.Read(b[:])
	app = "twofold_test_" + hex.EncodeToString(b[:])
	return URL(t) + "&application_name=" + app, app
}

// WaitForLock waits until a connection whose application_name is app waits for a lock, as
// PostgreSQL's own view of its sessions shows, polling through watch. It fails t should done
// answer first (what was to wait ended without waiting) or ten seconds pass.
func WaitForLock(t testing.TB, watch *pgx.Conn, app string, done <-chan error) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("it did not wait for the lock: it ended (%v) while the lock was held", err)
		default:
		}
		var n int
		if err := watch.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
	}
	t.Fatal("it never waited for a lock")
}
