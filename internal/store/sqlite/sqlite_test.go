package sqlite_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/sqlite"
	"github.com/twofold-auth/twofold/internal/store/sqlstore"
	"github.com/twofold-auth/twofold/internal/store/storetest"
)

func open(t testing.TB, path string) *sqlite.DB {
	return storetest.Keep[*sqlite.DB](t)(sqlite.Open(context.Background(), path))
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "twofold.db"))
	})
}

// TestReopen writes, closes, and reads back from the same file.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "dir with space ? and #", "twofold.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	u := storetest.NewUser(t, db, "alice")
	err = db.Update(ctx, func(q store.Queries) error {
		u, err := q.User(ctx, u.ID)
		if err != nil {
			return err
		}
		u.TOTPKey = []byte("sealed")
		if err := q.UpdateUser(ctx, u); err != nil {
			return err
		}
		return q.AddBackupCodes(ctx, u.ID, [][]byte{[]byte("a"), []byte("b")})
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if ok, err := db.UseBackupCode(ctx, u.ID, []byte("a"), time.Now()); err != nil || !ok {
		t.Fatalf("UseBackupCode = %v, %v", ok, err)
	}
	if ok, err := db.SetTOTPStep(ctx, u.ID, 42); err != nil || !ok {
		t.Fatalf("SetTOTPStep = %v, %v", ok, err)
	}
	if err := db.SetOption(ctx, "mfaPolicyInternal", "required"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetMetaOnce(ctx, "key_check", "abc"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the database file: %v", err)
	}

	db = open(t, path) // migrations run again: nothing to do
	got, err := db.User(ctx, u.ID)
	if err != nil {
		t.Fatalf("User after reopening: %v", err)
	}
	if string(got.TOTPKey) != "sealed" || got.TOTPLastStep != 42 || got.Username != "alice" {
		t.Errorf("after reopening: key %q, step %d, username %q", got.TOTPKey, got.TOTPLastStep, got.Username)
	}
	if n, err := db.CountBackupCodes(ctx, u.ID); err != nil || n != 1 {
		t.Errorf("CountBackupCodes after reopening = %d, %v; want 1", n, err)
	}
	if ok, err := db.UseBackupCode(ctx, u.ID, []byte("a"), time.Now()); err != nil || ok {
		t.Errorf("a used code works again after reopening: %v, %v", ok, err)
	}
	if opts, err := db.Options(ctx); err != nil || opts["mfaPolicyInternal"] != "required" {
		t.Errorf("Options after reopening = %v, %v", opts, err)
	}
	if v, err := db.Meta(ctx, "key_check"); err != nil || v != "abc" {
		t.Errorf("Meta after reopening = %q, %v", v, err)
	}
}

// TestTwoHandles opens the file twice, as the server and the CLI do, and writes through both
// at once.
func TestTwoHandles(t *testing.T) {
	storetest.RunTwoHandles(t, func(t *testing.T) (store.Store, store.Store) {
		path := filepath.Join(t.TempDir(), "twofold.db")
		return open(t, path), open(t, path)
	})
}

// TestOpen: opening a new file from several handles at once, and a file of a newer schema.
func TestOpen(t *testing.T) {
	storetest.RunOpen(t, func(t *testing.T) storetest.Fresh {
		path := filepath.Join(t.TempDir(), "twofold.db")
		raw := func(t *testing.T) *sql.DB {
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}
		return storetest.Fresh{
			Open: func(ctx context.Context, checks ...sqlstore.Check) (store.Store, error) {
				return sqlite.Open(ctx, path, checks...)
			},
			Tables: `SELECT count(*) FROM sqlite_master WHERE type = 'table'`,
			Exec: func(t *testing.T, statement string) {
				if _, err := raw(t).Exec(statement); err != nil {
					t.Fatal(err)
				}
			},
			Int: func(t *testing.T, query string) (n int) {
				if err := raw(t).QueryRow(query).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			},
		}
	})
}

// TestKill9 kills a writing process with SIGKILL and checks that every write it had answered
// is in the file: no TOTP step it recorded can be replayed, no code it used works again.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "twofold.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	u := storetest.NewUser(t, db, "carol")
	const codes = 400
	var macs [][]byte
	for i := range codes {
		macs = append(macs, []byte(fmt.Sprint("mac-", i)))
	}
	if err := db.AddBackupCodes(ctx, u.ID, macs); err != nil {
		t.Fatal(err)
	}
	db.Close()

	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestKill9Child$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TWOFOLD_SQLITE_KILL9="+path, fmt.Sprint("TWOFOLD_SQLITE_KILL9_USER=", u.ID))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	acked, killed := 0, false
	for sc.Scan() {
		i, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "acked "))
		if err != nil {
			continue // test framework output
		}
		acked = i
		if i == codes/4 && !killed {
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	cmd.Wait()
	if !killed || acked < codes/4 {
		t.Fatalf("the child acknowledged %d writes before it ended (killed %v)", acked, killed)
	}
	t.Logf("killed after %d acknowledged writes", acked)

	db = open(t, path)
	if ok, err := db.SetTOTPStep(ctx, u.ID, int64(acked)); err != nil || ok {
		t.Errorf("TOTP step %d, acknowledged before kill -9, accepted again: %v, %v", acked, ok, err)
	}
	for i := range acked {
		if ok, err := db.UseBackupCode(ctx, u.ID, macs[i], time.Now()); err != nil || ok {
			t.Errorf("backup code %d, used before kill -9, works again: %v, %v", i, ok, err)
		}
	}
}

// TestKill9Child is the writing process of TestKill9.
func TestKill9Child(t *testing.T) {
	path := os.Getenv("TWOFOLD_SQLITE_KILL9")
	if path == "" {
		t.Skip("only run by TestKill9")
	}
	id, _ := strconv.ParseInt(os.Getenv("TWOFOLD_SQLITE_KILL9_USER"), 10, 64)
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; ; i++ {
		ok, err := db.SetTOTPStep(ctx, id, int64(i))
		if err != nil || !ok {
			t.Fatalf("SetTOTPStep(%d) = %v, %v", i, ok, err)
		}
		ok, err = db.UseBackupCode(ctx, id, []byte(fmt.Sprint("mac-", i-1)), time.Now())
		if err != nil || !ok {
			t.Fatalf("UseBackupCode(%d) = %v, %v", i-1, ok, err)
		}
		fmt.Fprintf(os.Stdout, "acked %d\n", i) // both writes of step i are answered
	}
}

// TestUpdateFnError checks the wrapping: fn's own error comes back as it is.
func TestUpdateFnError(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "twofold.db"))
	sentinel := errors.New("mine")
	if err := db.Update(t.Context(), func(store.Queries) error { return sentinel }); err != sentinel {
		t.Errorf("Update = %v, want fn's error itself", err)
	}
}

// The benchmarks measure one durable commit (synchronous=FULL) on the disk of the temporary
// directory: set TMPDIR to measure another disk.

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store { return open(b, filepath.Join(b.TempDir(), "twofold.db")) })
}

// BenchmarkUserParallel is a read on the reader pool, 8 at once.
func BenchmarkUserParallel(b *testing.B) {
	ctx := context.Background()
	db := open(b, filepath.Join(b.TempDir(), "twofold.db"))
	u := storetest.NewUser(b, db, "bench")
	b.SetParallelism(4) // 8 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := db.User(ctx, u.ID); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestUpgradeDropsClearUsernames: a database of schema version 1 kept password failures under
// the username as typed; the upgrade drops those rows, and no byte of the file keeps them.
func TestUpgradeDropsClearUsernames(t *testing.T) {
	path, db := upgradeV1(t,
		// Enough rows for several pages, not only one that a new table could take over.
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
		 INSERT INTO password_failures (username, failures, locked_until) SELECT 'typed-secret-zebra-' || i, 3, 0 FROM n`,
	)
	if n, err := db.Count(t.Context()); err != nil || n["password_failures"] != 0 {
		t.Fatalf("after the upgrade: %v, %v; want no password_failures rows", n, err)
	}
	f := store.PasswordFailures{Failures: 1, CountsUntil: time.Now().Add(time.Minute)}
	if err := db.SetPasswordFailures(t.Context(), []byte("mac"), f, time.Now()); err != nil {
		t.Fatalf("SetPasswordFailures after the upgrade: %v", err)
	}
	if a, err := db.PasswordFailures(t.Context(), []byte("mac"), time.Now()); err != nil || a.Failures != 1 {
		t.Fatalf("PasswordFailures after the upgrade = %+v, %v", a, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for f, b := range files(t, path) {
		if bytes.Contains(b, []byte("typed-secret-zebra")) {
			t.Errorf("%s still holds the clear username", f)
		}
	}
}

// TestReleaseAfterVacuum: an attempt's id is the table's INTEGER PRIMARY KEY, not an implicit
// rowid, which VACUUM (or a dump and reload) may renumber; so releasing an attempt reserved
// before a VACUUM removes that attempt and no other.
func TestReleaseAfterVacuum(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "twofold.db")
	db := open(t, path)
	now := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	since := now.Add(-time.Minute)
	ids := map[string]int64{}
	for _, addr := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		id, ok, err := db.ReserveAddressAttempt(ctx, addr, now, since, 5)
		if err != nil || !ok {
			t.Fatalf("ReserveAddressAttempt(%s) = %v, %v", addr, ok, err)
		}
		ids[addr] = id
	}
	if err := db.ReleaseAddressAttempt(ctx, ids["192.0.2.1"]); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	var pk int
	if err := raw.QueryRowContext(ctx, `SELECT pk FROM pragma_table_info('address_failures') WHERE name = 'id' AND type = 'INTEGER'`).Scan(&pk); err != nil || pk != 1 {
		t.Fatalf("address_failures.id as INTEGER PRIMARY KEY: pk %d, %v", pk, err)
	}
	if _, err := raw.ExecContext(ctx, `VACUUM`); err != nil {
		t.Fatalf("VACUUM: %v", err)
	}
	for addr, id := range ids {
		var got string
		if err := raw.QueryRowContext(ctx, `SELECT addr FROM address_failures WHERE id = ?`, id).Scan(&got); addr == "192.0.2.1" {
			if !errors.Is(err, sql.ErrNoRows) {
				t.Errorf("the released attempt's id %d after VACUUM: %q, %v; want no row", id, got, err)
			}
		} else if err != nil || got != addr {
			t.Errorf("attempt id %d after VACUUM = %q, %v; want %s", id, got, err, addr)
		}
	}
	raw.Close()
	if err := db.ReleaseAddressAttempt(ctx, ids["192.0.2.2"]); err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]int{"192.0.2.1": 0, "192.0.2.2": 0, "192.0.2.3": 1} {
		if n, err := db.CountAddressFailures(ctx, addr, since); err != nil || n != want {
			t.Errorf("after a VACUUM and a release, CountAddressFailures(%s) = %d, %v; want %d", addr, n, err, want)
		}
	}
}

// TestUpgradeScrubsTypedNamesFromAudit: schema version 1 audited a password lock under the
// username as typed, account or not. The upgrade blanks the names without an account, as a lock
// is audited now, and no byte of the file keeps them (not even the space that page splits left
// behind); a lock of an existing account stays.
func TestUpgradeScrubsTypedNamesFromAudit(t *testing.T) {
	path, db := upgradeV1(t,
		`INSERT INTO users (username, kind, source, role, created_at) VALUES ('alice', 'internal', 'local', 'user', 1)`,
		`INSERT INTO events (at, actor, account, action, detail) VALUES (2, 'system', 'alice', 'password.locked', 'locked until 2025-03-14T15:24:26Z')`,
		`INSERT INTO events (at, actor, account, action, detail) VALUES (3, 'alice', 'alice', 'password.changed', '')`,
		// Enough rows for several pages of the table and of its index on account.
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
		 INSERT INTO events (at, actor, account, action, detail)
		 SELECT 10 + i, 'system', 'typed-secret-okapi-' || i, 'password.locked', 'locked until 2025-03-14T15:24:26Z' FROM n`,
	)
	es, err := db.Events(t.Context(), store.EventFilter{Limit: 1000})
	if err != nil || len(es) != 502 {
		t.Fatalf("Events after the upgrade = %d, %v; want 502", len(es), err)
	}
	for _, e := range es {
		switch {
		case e.Action == "password.locked" && e.User == "alice":
			if e.Detail != "locked until 2025-03-14T15:24:26Z" {
				t.Errorf("alice's lock after the upgrade: %+v", *e)
			}
		case e.Action == "password.locked":
			if e.User != "" || e.Detail != "a username with no account locked until 2025-03-14T15:24:26Z" {
				t.Fatalf("a lock without an account after the upgrade: %+v", *e)
			}
		case e.User != "alice":
			t.Errorf("another event after the upgrade: %+v", *e)
		}
	}
	// Ids go on after the newest event, as before the upgrade.
	e := &store.Event{At: time.Unix(0, 600), Actor: "cli", Action: "user.created"}
	if err := db.AddEvent(t.Context(), e); err != nil || e.ID != 503 {
		t.Errorf("AddEvent after the upgrade: id %d, %v; want 503", e.ID, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for f, b := range files(t, path) {
		if bytes.Contains(b, []byte("typed-secret-okapi")) {
			t.Errorf("%s still holds a typed username of the audit log", f)
		}
		if !bytes.Contains(b, []byte("alice")) && f == "twofold.db" {
			t.Errorf("%s lost the account's name", f)
		}
	}
}

// upgradeV1 makes a database file of schema version 1 holding the rows that statements
// insert, and opens it, which upgrades it.
func upgradeV1(t *testing.T, statements ...string) (path string, db *sqlite.DB) {
	return upgradeFrom(t, 1, statements...)
}

// upgradeFrom makes a database file of schema version v (the migrations up to v, applied as
// they are released) holding the rows that statements insert, and opens it, which upgrades it.
func upgradeFrom(t *testing.T, v int, statements ...string) (path string, db *sqlite.DB) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "twofold.db")
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) < v {
		t.Fatalf("migrations: %d files, %v; want at least %d", len(files), err, v)
	}
	sort.Strings(files)
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	schema := []string{`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL DEFAULT (unixepoch())) STRICT`}
	for i, f := range files[:v] {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		schema = append(schema, string(b), fmt.Sprintf(`INSERT INTO schema_migrations (version) VALUES (%d)`, i+1))
	}
	for _, q := range append(schema, statements...) {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	return path, open(t, path)
}

// files answers the bytes of the database file at path and of its companions (-wal, -shm), by
// base name.
func files(t *testing.T, path string) map[string][]byte {
	t.Helper()
	names, _ := filepath.Glob(path + "*")
	m := map[string][]byte{}
	for _, f := range names {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m[filepath.Base(f)] = b
	}
	return m
}

// TestUpgradeKeepsSessions: version 10 moves the sessions into a table with a rowid (migration
// 0010); every session and sign-in of a version 9 file comes through it whole, and the new
// table has its three indexes, still refuses a second row of one id hash and is found by
// account.
func TestUpgradeKeepsSessions(t *testing.T) {
	ctx := t.Context()
	path, db := upgradeFrom(t, 9,
		`INSERT INTO users (username, subject, kind, source, role, created_at) VALUES
			('alice', 'sub-a', 'internal', 'local', 'user', 1), ('bob', 'sub-b', 'internal', 'local', 'user', 2)`,
		`INSERT INTO sessions (id_hash, user_id, done, mfa_passed, mfa_skipped, pending_key, reauthenticated,
			created_at, last_seen_at, sid, amr, mfa_required, return_to, device_remembered)
		 SELECT x'a1', id, 1, 1, 0, NULL, 1, 11, 12, 'sid-a', '["pwd","otp","mfa"]', 0, '', 1 FROM users WHERE username = 'alice'`,
		`INSERT INTO sessions (id_hash, user_id, done, mfa_passed, mfa_skipped, pending_key, reauthenticated,
			created_at, last_seen_at, sid, amr, mfa_required, return_to, device_remembered)
		 SELECT x'b2', id, 0, 0, 1, x'5e', 0, 21, 22, 'sid-b', '["pwd"]', 1, '/authorize?id=1', 0 FROM users WHERE username = 'bob'`,
	)
	alice, err := db.UserByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := db.UserByName(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	want := []*store.Session{
		{IDHash: []byte{0xa1}, UserID: alice.ID, Done: true, MFAPassed: true, Reauthenticated: true,
			CreatedAt: time.Unix(0, 11), LastSeenAt: time.Unix(0, 12), SID: "sid-a",
			AMR: []string{"pwd", "otp", "mfa"}, DeviceRemembered: true},
		{IDHash: []byte{0xb2}, UserID: bob.ID, MFASkipped: true, PendingKey: []byte{0x5e},
			CreatedAt: time.Unix(0, 21), LastSeenAt: time.Unix(0, 22), SID: "sid-b", AMR: []string{"pwd"},
			MFARequired: true, ReturnTo: "/authorize?id=1"},
	}
	for _, w := range want {
		got, err := db.Session(ctx, w.IDHash)
		if err != nil {
			t.Fatalf("Session(%x) after the upgrade: %v", w.IDHash, err)
		}
		if !got.CreatedAt.Equal(w.CreatedAt) || !got.LastSeenAt.Equal(w.LastSeenAt) {
			t.Errorf("session %x's times after the upgrade = %v, %v", w.IDHash, got.CreatedAt, got.LastSeenAt)
		}
		got.CreatedAt, got.LastSeenAt = w.CreatedAt, w.LastSeenAt
		if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", w) {
			t.Errorf("session after the upgrade = %+v, want %+v", got, w)
		}
	}
	dup := *want[0]
	dup.UserID = bob.ID
	if err := db.CreateSession(ctx, &dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateSession of an upgraded session's id hash = %v, want ErrConflict", err)
	}
	raw, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var table, index string
	if err := raw.QueryRowContext(ctx, `SELECT
		COALESCE((SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'sessions'), ''),
		COALESCE((SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'sessions_id_hash'), '')`).Scan(&table, &index); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(table, "WITHOUT ROWID") || !strings.HasPrefix(index, "CREATE UNIQUE INDEX") {
		t.Errorf("after the upgrade the sessions table is\n%s\nand its id_hash index\n%s\nwant a rowid table and a unique index", table, index)
	}
	var indexes string
	if err := raw.QueryRowContext(ctx, `SELECT group_concat(i, ' ' ORDER BY i) FROM (
		SELECT m.name || '(' || (SELECT group_concat(c.name) FROM pragma_index_info(m.name) c) || ')' AS i
		FROM sqlite_master m WHERE m.type = 'index' AND m.tbl_name = 'sessions')`).Scan(&indexes); err != nil {
		t.Fatal(err)
	}
	if want := "sessions_id_hash(id_hash) sessions_sid(sid) sessions_user_id(user_id)"; indexes != want {
		t.Errorf("the sessions' indexes after the upgrade are %q, want %q", indexes, want)
	}
	if sids, err := db.SessionSIDs(ctx, bob.ID, nil); err != nil || fmt.Sprint(sids) != "[sid-b]" {
		t.Errorf("SessionSIDs(bob) after the upgrade = %q, %v", sids, err)
	}
	if err := db.DeleteUserSessions(ctx, alice.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Session(ctx, want[0].IDHash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("alice's session after DeleteUserSessions(alice) = %v, want ErrNotFound", err)
	}
	if _, err := db.Session(ctx, want[1].IDHash); err != nil {
		t.Errorf("bob's session after DeleteUserSessions(alice): %v", err)
	}
}
