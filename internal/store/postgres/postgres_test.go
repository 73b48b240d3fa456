package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/postgres"
	"github.com/twofold-auth/twofold/internal/store/postgres/pgtest"
	"github.com/twofold-auth/twofold/internal/store/sqlite"
	"github.com/twofold-auth/twofold/internal/store/sqlstore"
	"github.com/twofold-auth/twofold/internal/store/storetest"
)

func open(t testing.TB, url string) *postgres.DB {
	return storetest.Keep[*postgres.DB](t)(postgres.Open(context.Background(), url))
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, pgtest.URL(t))
	})
}

// TestCopyToAndFromSQLite is copy-db's core both ways: every row of a SQLite file into
// PostgreSQL and back, ids, times and byte strings unchanged.
func TestCopyToAndFromSQLite(t *testing.T) {
	pg := func(t *testing.T) store.Store { return open(t, pgtest.URL(t)) }
	lite := func(t *testing.T) store.Store {
		return storetest.Keep[*sqlite.DB](t)(sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "twofold.db")))
	}
	storetest.RunCopy(t, lite, pg)
}

// TestOpen: several instances starting at once on a new schema (the advisory lock lets one
// apply the migrations while the others wait), and a database of a newer schema.
func TestOpen(t *testing.T) {
	storetest.RunOpen(t, func(t *testing.T) storetest.Fresh {
		url := pgtest.URL(t)
		return storetest.Fresh{
			Open: func(ctx context.Context, checks ...sqlstore.Check) (store.Store, error) {
				return postgres.Open(ctx, url, checks...)
			},
			Tables: `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()`,
			Exec: func(t *testing.T, statement string) {
				if _, err := rawConn(t, url).Exec(t.Context(), statement); err != nil {
					t.Fatal(err)
				}
			},
			Int: func(t *testing.T, query string) (n int) {
				if err := rawConn(t, url).QueryRow(t.Context(), query).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			},
		}
	})
}

func rawConn(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestOpenErrors: a URL that cannot be parsed does not echo its password; a schema that does
// not exist is named as the problem.
func TestOpenErrors(t *testing.T) {
	url := pgtest.URL(t)
	if _, err := postgres.Open(t.Context(), "postgres://u:s3cret@[bad/x"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Open(bad URL) = %v, want an error without the password", err)
	}
	missing := strings.Replace(url, "search_path=twofold_test_", "search_path=twofold_missing_", 1)
	if db, err := postgres.Open(t.Context(), missing); err == nil {
		db.Close()
		t.Error("Open with a search_path naming no schema succeeded")
	} else if !strings.Contains(err.Error(), "search_path") {
		t.Errorf("Open with a missing schema: %v, want a hint about search_path", err)
	}
}

// TestTwoInstances writes through two pools on one schema at once, as two instances do.
func TestTwoInstances(t *testing.T) {
	storetest.RunTwoHandles(t, func(t *testing.T) (store.Store, store.Store) {
		url := pgtest.URL(t)
		return open(t, url), open(t, url)
	})
}

// TestAddressFloodDoesNotQueue: an address at its limit is refused without waiting for its
// advisory lock, so that a flood from it cannot hold every connection of the pool. Another
// connection holds the address's lock while more attempts than the pool has connections arrive
// at once: all are refused, none waits for the lock, and the pool still serves others.
func TestAddressFloodDoesNotQueue(t *testing.T) {
	url := pgtest.URL(t)
	db := open(t, url+"&pool_max_conns=3")
	ctx := t.Context()
	const addr, limit, n = "198.51.100.9", 4, 20
	now := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	since := now.Add(-time.Minute)
	for range limit {
		if _, ok, err := db.ReserveAddressAttempt(ctx, addr, now, since, limit); err != nil || !ok {
			t.Fatalf("ReserveAddressAttempt under the limit = %v, %v", ok, err)
		}
	}
	holder := rawConn(t, url)
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1::int, hashtext($2))`, 0x7466_6164, addr); err != nil {
		t.Fatal(err)
	}

	// The deadline only stops a hang: attempts that wait for the lock wait until it.
	hang, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, ok, err := db.ReserveAddressAttempt(hang, addr, now, since, limit); err != nil {
				errs[i] = err
			} else if ok {
				errs[i] = errors.New("passed the limit")
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("attempts at the limit, the address's lock held elsewhere: %v", err)
	}
	if _, err := db.CountUsers(hang, ""); err != nil {
		t.Errorf("the pool after the flood: %v", err)
	}
}

// TestUpgradeScrubsTypedNamesFromAudit: schema version 1 audited a password lock under the
// username as typed, account or not. The upgrade blanks the names without an account, as a lock
// is audited now; a lock of an existing account stays.
func TestUpgradeScrubsTypedNamesFromAudit(t *testing.T) {
	url := pgtest.URL(t)
	ctx := t.Context()
	v1, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	conn := rawConn(t, url)
	for _, q := range []string{string(v1),
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
		`INSERT INTO schema_migrations (version) VALUES (1)`,
		`INSERT INTO users (username, kind, source, role, created_at) VALUES ('alice', 'internal', 'local', 'user', 1)`,
		`INSERT INTO password_failures (username, failures, locked_until) VALUES ('typed-secret-okapi-1', 3, 0)`,
		`INSERT INTO events (at, actor, account, action, detail) VALUES
			(2, 'system', 'alice', 'password.locked', 'locked until 2025-03-14T15:24:26Z'),
			(3, 'alice', 'alice', 'password.changed', ''),
			(4, 'system', 'typed-secret-okapi-1', 'password.locked', 'locked until 2025-03-14T15:24:26Z'),
			(5, 'system', 'typed-secret-okapi-2', 'password.locked', 'locked until 2025-03-14T15:25:26Z')`,
	} {
		if _, err := conn.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db := open(t, url)
	if v, err := db.SchemaVersion(ctx); err != nil || v < 2 {
		t.Fatalf("SchemaVersion after the upgrade = %d, %v", v, err)
	}
	var typed int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM events WHERE account LIKE '%okapi%' OR detail LIKE '%okapi%'`).Scan(&typed); err != nil || typed != 0 {
		t.Errorf("events naming a typed username after the upgrade: %d, %v", typed, err)
	}
	es, err := db.Events(ctx, store.EventFilter{})
	if err != nil || len(es) != 4 {
		t.Fatalf("Events after the upgrade = %d, %v; want 4", len(es), err)
	}
	want := map[int64][2]string{
		2: {"alice", "locked until 2025-03-14T15:24:26Z"},
		3: {"alice", ""},
		4: {"", "a username with no account locked until 2025-03-14T15:24:26Z"},
		5: {"", "a username with no account locked until 2025-03-14T15:25:26Z"},
	}
	for _, e := range es {
		if w := want[e.At.UnixNano()]; e.User != w[0] || e.Detail != w[1] {
			t.Errorf("event at %d after the upgrade: account %q, detail %q; want %q, %q", e.At.UnixNano(), e.User, e.Detail, w[0], w[1])
		}
	}
}

// TestUpdateKeepsGoingAfterConflict: PostgreSQL aborts a transaction at its first error, so a
// refused insert must not be an SQL error, or the statements after it would fail.
func TestUpdateKeepsGoingAfterConflict(t *testing.T) {
	ctx := t.Context()
	db := open(t, pgtest.URL(t))
	u := storetest.NewUser(t, db, "carol")
	s := &store.Session{IDHash: []byte("0123456789abcdef0123456789abcdef"), UserID: u.ID, CreatedAt: time.Now()}
	if err := db.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	err := db.Update(ctx, func(q store.Queries) error {
		if err := q.CreateSession(ctx, s); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("CreateSession of a taken id = %v, want ErrConflict", err)
		}
		if err := q.CreateUser(ctx, &store.User{Username: "carol", Kind: "internal", Source: "local", Role: "user", CreatedAt: time.Now()}); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("CreateUser of a taken name = %v, want ErrConflict", err)
		}
		return q.SetOption(ctx, "after", "conflict")
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if o, err := db.Options(ctx); err != nil || o["after"] != "conflict" {
		t.Errorf("Options = %v, %v", o, err)
	}
}

// TestUpdateLocksSession: two transactions that read a sign-in and then write it take turns,
// so that the second sees the first's write (the first request for an enrolment key).
func TestUpdateLocksSession(t *testing.T) {
	ctx := t.Context()
	db := open(t, pgtest.URL(t))
	u := storetest.NewUser(t, db, "dan")
	id := []byte("session-lock-0123456789abcdef012")
	if err := db.CreateSession(ctx, &store.Session{IDHash: id, UserID: u.ID, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	made := 0
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := db.Update(ctx, func(q store.Queries) error {
				s, err := q.Session(ctx, id)
				if err != nil {
					return err
				}
				if s.PendingKey != nil {
					return nil
				}
				time.Sleep(2 * time.Millisecond)
				s.PendingKey = []byte(fmt.Sprint("key-", i))
				mu.Lock()
				made++
				mu.Unlock()
				return q.ReplaceSession(ctx, id, s)
			})
			if err != nil {
				t.Errorf("Update: %v", err)
			}
		}()
	}
	wg.Wait()
	if made != 1 {
		t.Errorf("%d transactions found no pending key and made one, want 1", made)
	}
}

// TestSessionUserAfterTheAccountsLock: SessionUser inside Update, waiting for the account's
// lock held by a transaction that replaces the session, answers what that transaction committed
// (the old session gone), not the session as it was when the read began. This is the second
// of two requests that race on one sign-in: it must find the sign-in moved on.
func TestSessionUserAfterTheAccountsLock(t *testing.T) {
	ctx := t.Context()
	url, app := pgtest.WatchedURL(t)
	db := open(t, url)
	watch := rawConn(t, url)
	u := storetest.NewUser(t, db, "erin")
	old := []byte("sign-in before its step 0123456")
	now := time.Now()
	if err := db.CreateSession(ctx, &store.Session{IDHash: old, UserID: u.ID, CreatedAt: now, LastSeenAt: now}); err != nil {
		t.Fatal(err)
	}
	inTx, release := make(chan struct{}), make(chan struct{})
	moved := make(chan error, 1)
	go func() {
		moved <- db.Update(ctx, func(q store.Queries) error {
			s, _, err := q.SessionUser(ctx, old)
			if err != nil {
				return err
			}
			s.IDHash = []byte("sign-in after its step 012345678")
			if err := q.ReplaceSession(ctx, old, s); err != nil {
				return err
			}
			close(inTx)
			<-release
			return nil
		})
	}()
	select {
	case <-inTx:
	case err := <-moved:
		t.Fatalf("the first request ended before moving the sign-in on: %v", err)
	}
	read := make(chan error, 1)
	go func() {
		read <- db.Update(ctx, func(q store.Queries) error {
			_, _, err := q.SessionUser(ctx, old)
			return err
		})
	}()
	pgtest.WaitForLock(t, watch, app, read)
	close(release)
	if err := <-moved; err != nil {
		t.Fatal(err)
	}
	if err := <-read; !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SessionUser after the lock = %v, want ErrNotFound: the sign-in was moved on", err)
	}
}

// TestKill9 ends an instance's connection while it is inside a transaction holding an
// account's row lock: PostgreSQL rolls the transaction back at once, nothing of it is kept,
// and the other instance gets the row without waiting for a timeout.
func TestKill9(t *testing.T) {
	ctx := t.Context()
	url := pgtest.URL(t)
	survivor := open(t, url)
	u := storetest.NewUser(t, survivor, "erin")

	victim, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := victim.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE users SET mfa_failures = 99 WHERE id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	// What the kernel does for a process killed with SIGKILL: the socket closes.
	victim.PgConn().Conn().Close()

	start := time.Now()
	err = survivor.Update(ctx, func(q store.Queries) error {
		u, err := q.User(ctx, u.ID)
		if err != nil {
			return err
		}
		if u.MFAFailures != 0 {
			return fmt.Errorf("MFAFailures = %d: the dead transaction's write was kept", u.MFAFailures)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the row lock of a dead connection was held %v", d)
	}
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store { return open(b, pgtest.URL(b)) })
}

// TestClearWaitsForACountInFlight: an unlock (ClearPasswordFailures) that arrives while another
// instance is counting a failure of the same name waits for that count to commit and then
// clears it, so an unlock is never undone by a failure read before it and written after it.
func TestClearWaitsForACountInFlight(t *testing.T) {
	url := pgtest.URL(t)
	a, b := open(t, url), open(t, url)
	ctx := t.Context()
	key := []byte("name key of quinn")
	now := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	nine := store.PasswordFailures{Failures: 9, CountsUntil: now.Add(15 * time.Minute)}
	if err := a.SetPasswordFailures(ctx, key, nine, now); err != nil {
		t.Fatal(err)
	}
	hang, cancel := context.WithTimeout(ctx, 2*time.Minute) // only stops a hang
	defer cancel()
	watch := rawConn(t, url)
	cleared := make(chan error, 1)
	err := a.Update(hang, func(q store.Queries) error {
		f, err := q.PasswordFailures(hang, key, now) // takes the name's lock
		if err != nil || f.Failures != 9 {
			return fmt.Errorf("read %+v, %v; want 9 failures", f, err)
		}
		go func() { cleared <- b.ClearPasswordFailures(hang, key) }()
		// Wait until the clear waits for the name's lock: then the count below is written
		// while the clear is pending, which is the race it must win.
		for {
			var waiting int
			if err := watch.QueryRow(hang, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&waiting); err != nil {
				return err
			}
			if waiting > 0 {
				break
			}
			select {
			case err := <-cleared:
				return fmt.Errorf("the clear finished while the count held the name's lock: %v", err)
			case <-time.After(10 * time.Millisecond):
			}
		}
		return q.SetPasswordFailures(hang, key, store.PasswordFailures{Failures: 0, LockedUntil: now.Add(15 * time.Minute),
			CountsUntil: now.Add(15 * time.Minute)}, now)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-cleared; err != nil {
		t.Fatal(err)
	}
	if f, err := a.PasswordFailures(ctx, key, now); err != nil || f != (store.PasswordFailures{}) {
		t.Fatalf("after the clear: %+v, %v; want nothing left (the lock written before it undone)", f, err)
	}
}

// TestOptionChangesTakeTurns: a change of options that begins while another holds the
// options' lock reads the options only once that one has committed, so that it audits the
// value the other left as the old one (SPEC §2); READ COMMITTED alone would let both read
// the value from before either.
func TestOptionChangesTakeTurns(t *testing.T) {
	ctx := t.Context()
	url, app := pgtest.WatchedURL(t)
	db := open(t, url)
	watch, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { watch.Close(context.Background()) })
	if err := db.SetOption(ctx, "k", "A"); err != nil {
		t.Fatal(err)
	}

	locked, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	releaseFirst := func() { once.Do(func() { close(release) }) }
	t.Cleanup(releaseFirst) // a failure below must not leave the first transaction waiting
	first := make(chan error, 1)
	go func() {
		first <- db.Update(ctx, func(q store.Queries) error {
			if _, err := q.LockOptions(ctx); err != nil {
				return err
			}
			close(locked)
			<-release
			return q.SetOption(ctx, "k", "B")
		})
	}()
	<-locked
	second := make(chan error, 1)
	var seen string
	go func() {
		second <- db.Update(ctx, func(q store.Queries) error {
			o, err := q.LockOptions(ctx)
			seen = o["k"]
			return err
		})
	}()
	pgtest.WaitForLock(t, watch, app, second)
	releaseFirst()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if seen != "B" {
		t.Errorf("the second change read k = %q, want B, what the first committed", seen)
	}
}
