package cluster

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twofold-auth/twofold/internal/store/postgres/pgtest"
)

// verifyBackup is a returning sign-in on base with a backup code, answering the verification.
func verifyBackup(t *testing.T, base, name, code string) response {
	t.Helper()
	return signIn(t, base, name).call(t, base, "POST", "/api/v1/signin/mfa/verify", map[string]string{"backup_code": code})
}

func expectRemaining(t *testing.T, what string, r response, left int) {
	t.Helper()
	expectNext(t, what, r, "done")
	if n, _ := r.body["backup_codes_remaining"].(float64); int(n) != left {
		t.Fatalf("%s: %s; want %d backup codes left", what, r, left)
	}
}

// TestCopyDBRoundTrip moves a database from SQLite to PostgreSQL and back with copy-db: an
// account enrolled on SQLite signs in on PostgreSQL with the same authenticator and its
// remaining backup codes, the code it used before the copy stays used, its session goes on,
// and so on back on SQLite.
func TestCopyDBRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	pg := pgtest.URL(t)
	c := &cluster{key: newKey(t), dir: t.TempDir()}
	env := c.env()
	dataA, dataB, dataC := filepath.Join(c.dir, "a"), filepath.Join(c.dir, "b"), filepath.Join(c.dir, "c")

	// On SQLite: enrol, then sign in once with a backup code.
	a := startServe(t, env, dataA, "sqlite-a")
	if _, err := runCLI(t, env, "user", "add", "hal", "--email", "hal@example.org", "--data", dataA); err != nil {
		t.Fatal(err)
	}
	hal := enrol(t, "hal", temporaryPassword(t, dataA, "hal@example.org"), a.url)
	expectRemaining(t, "a backup code on SQLite", verifyBackup(t, a.url, "hal", hal.backup[0]), 4)
	a.stop(t)

	out, err := runCLI(t, env, "copy-db", "--from", "sqlite:"+filepath.Join(dataA, "twofold.db"), "--to", pg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "the row counts match") {
		t.Errorf("copy-db output:\n%s", out)
	}
	t.Logf("copy-db SQLite to PostgreSQL:\n%s", out)

	// On PostgreSQL: the same authenticator, the remaining codes, the session made on SQLite.
	b := startServe(t, env, dataB, "postgres-b", "--db", pg)
	if r := hal.session.call(t, b.url, "GET", "/api/v1/me", nil); r.status != http.StatusOK || r.str("username") != "hal" {
		t.Errorf("the session made on SQLite, on PostgreSQL: %s", r)
	}
	s := signIn(t, b.url, "hal")
	expectNext(t, "the authenticator's next code on PostgreSQL", s.call(t, b.url, "POST", "/api/v1/signin/mfa/verify",
		map[string]string{"code": totp(t, hal.secret, hal.fresh())}), "done")
	expect(t, "the backup code used on SQLite, on PostgreSQL", verifyBackup(t, b.url, "hal", hal.backup[0]),
		http.StatusUnauthorized, "invalid_code")
	expectRemaining(t, "a remaining backup code on PostgreSQL", verifyBackup(t, b.url, "hal", hal.backup[1]), 3)
	b.stop(t)

	// A database that is not empty is refused.
	if out, err := runCLI(t, env, "copy-db", "--from", "sqlite:"+filepath.Join(dataA, "twofold.db"), "--to", pg); err == nil ||
		!strings.Contains(out, "not empty") {
		t.Errorf("copy-db into a database with rows: %v\n%s", err, out)
	}

	// And back to a new SQLite file.
	if err := os.MkdirAll(dataC, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, env, "copy-db", "--from", pg, "--to", "sqlite:"+filepath.Join(dataC, "twofold.db")); err != nil {
		t.Fatal(err)
	}
	cc := startServe(t, env, dataC, "sqlite-c")
	expect(t, "the backup code used on PostgreSQL, back on SQLite", verifyBackup(t, cc.url, "hal", hal.backup[1]),
		http.StatusUnauthorized, "invalid_code")
	r := verifyBackup(t, cc.url, "hal", hal.backup[2])
	expectRemaining(t, "a remaining backup code back on SQLite", r, 2)
	if low, _ := r.body["backup_codes_low"].(bool); !low {
		t.Errorf("2 codes left and backup_codes_low is not true: %s", r)
	}
}
