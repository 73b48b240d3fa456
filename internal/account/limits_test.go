package account_test

// SPEC §3 (brute force, per address) and §5 (fail closed; at rest): the password-step limits
// hold exactly for guesses sent at once, and submitted usernames are kept only as keyed hashes.

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/options"
)

// addressOf is the address harness.signIn sends from.
const addressOf = "192.0.2.1"

func (h *harness) addressFailures() int {
	h.t.Helper()
	n, err := h.db.CountAddressFailures(h.ctx, addressOf, h.clock.Now().Add(-time.Minute))
	if err != nil {
		h.t.Fatalf("CountAddressFailures: %v", err)
	}
	return n
}

func TestAddressLimitConcurrent(t *testing.T) {
	// 24 wrong passwords sent at once from one address, to two instances, with a limit of 5:
	// exactly 5 are checked (401), the other 19 are refused (429 with Retry-After).
	const n, limit = 24, 5
	h := newHarness(t)
	h.setOption(options.FailedSignInsPerAddress, "5")
	h.user("ada")
	svcs := []*account.Service{h.svc, h.secondInstance()}
	var retry [n]time.Duration
	got := race(n, func(i int) error {
		// Each guess names another username, so that only the address limit applies.
		_, err := svcs[i%2].SignIn(h.ctx, account.SignInRequest{
			Username: "guess" + string(rune('a'+i)), Password: "wrong password", Addr: addressOf})
		if e, ok := err.(*errs.Error); ok {
			retry[i] = e.RetryAfter
		}
		return err
	})
	c := tally(got)
	if c[errs.InvalidCredentials] != limit || c[errs.RateLimited] != n-limit {
		t.Fatalf("answers %v, want %d invalid_credentials and %d rate_limited", c, limit, n-limit)
	}
	for i, code := range got {
		if code == errs.RateLimited && retry[i] <= 0 {
			t.Errorf("a rate_limited answer without Retry-After")
		}
	}
	if f := h.addressFailures(); f != limit {
		t.Errorf("%d failures recorded for the address, want %d", f, limit)
	}
	// A minute later the window is empty again.
	h.clock.Advance(time.Minute + time.Second)
	if _, err := h.signIn("ada", goodPassword); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// TestAddressLimitIPv6Network: the addresses of one IPv6 /64 share one count, since one host
// holds them all; another /64 has its own.
func TestAddressLimitIPv6Network(t *testing.T) {
	h := newHarness(t)
	h.setOption(options.FailedSignInsPerAddress, "3")
	h.user("ada")
	guess := func(i int, addr string) error {
		_, err := h.svc.SignIn(h.ctx, account.SignInRequest{
			Username: "guess" + string(rune('a'+i)), Password: "wrong password", Addr: addr})
		return err
	}
	for i, addr := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:aaaa:bbbb:cccc:dddd"} {
		wantCode(t, guess(i, addr), errs.InvalidCredentials)
	}
	wantCode(t, guess(3, "2001:db8:1:2::4"), errs.RateLimited)
	wantCode(t, guess(4, "2001:db8:1:3::1"), errs.InvalidCredentials)
	wantCode(t, guess(5, "192.0.2.7"), errs.InvalidCredentials)
}

func TestAddressLimitCountsOnlyFailures(t *testing.T) {
	// Right passwords sent at once with wrong ones are not counted: every failure left behind
	// is a 401 that was answered, and the address can fail exactly limit times in all.
	const n, limit = 24, 5
	h := newHarness(t)
	h.setOption(options.FailedSignInsPerAddress, "5")
	h.setOption(options.InternalMFA, "off")
	h.user("bo")
	svcs := []*account.Service{h.svc, h.secondInstance()}
	got := race(n, func(i int) error {
		pw := "wrong password"
		if i%3 == 0 {
			pw = goodPassword
		}
		_, err := svcs[i%2].SignIn(h.ctx, account.SignInRequest{Username: "bo", Password: pw, Addr: addressOf})
		return err
	})
	c := tally(got)
	if c[errs.InvalidCredentials] > limit || c[""]+c[errs.InvalidCredentials]+c[errs.RateLimited] != n {
		t.Fatalf("answers %v: want at most %d invalid_credentials, the rest successes or rate_limited", c, limit)
	}
	if f := h.addressFailures(); f != c[errs.InvalidCredentials] {
		t.Fatalf("%d failures recorded for %d answered 401: a right password was counted", f, c[errs.InvalidCredentials])
	}
	// The address may fail exactly as many more times as the limit leaves.
	for i := c[errs.InvalidCredentials]; i < limit; i++ {
		_, err := h.signIn("bo", "wrong password")
		wantCode(t, err, errs.InvalidCredentials)
	}
	_, err := h.signIn("bo", goodPassword)
	wantCode(t, err, errs.RateLimited)
}

func TestUsernamesKeptOnlyAsKeyedHashes(t *testing.T) {
	// A password typed into the username box is never stored: the failure rows hold an HMAC.
	h := newHarness(t)
	h.setOption(options.FailedSignInsPerAddress, "0")
	h.user("cleo")
	const typed = "zebra-ostrich-7781-typed-here"
	// Ten failures lock the typed name (and audit the lock) too.
	for i := range 10 {
		_, err := h.signIn(typed, "whatever it was")
		wantCode(t, err, errs.InvalidCredentials)
		if i < 3 {
			_, err = h.signIn("cleo", "not her password")
			wantCode(t, err, errs.InvalidCredentials)
		}
	}
	_, err := h.signIn(typed, "whatever it was")
	wantCode(t, err, errs.Locked)
	rows, err := h.rawDB().QueryContext(h.ctx, `SELECT * FROM password_failures`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	n := 0
	for rows.Next() {
		n++
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			var b []byte
			switch v := v.(type) {
			case string:
				b = []byte(v)
			case []byte:
				b = v
			}
			if bytes.Contains(b, []byte("zebra")) || bytes.Contains(b, []byte("cleo")) {
				t.Errorf("column %s holds a submitted username in clear: %q", cols[i], b)
			}
		}
	}
	if n != 2 {
		t.Errorf("%d password_failures rows, want 2", n)
	}
	// Nor does any byte of the database or its journal.
	files, _ := filepath.Glob(h.dbPath + "*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("zebra-ostrich")) {
			t.Errorf("%s holds the typed username in clear", filepath.Base(f))
		}
	}
	// The lock still works, and unlock (which knows the username) still clears the count.
	for range 7 {
		_, err := h.signIn("Cleo", "not her password")
		wantCode(t, err, errs.InvalidCredentials)
	}
	_, err = h.signIn("cleo", goodPassword)
	wantCode(t, err, errs.Locked)
	if _, err := h.svc.Unlock(h.ctx, account.CLI, "cleo"); err != nil {
		t.Fatal(err)
	}
	if got := h.passwordFailures("cleo"); got != 0 {
		t.Fatalf("%d failures after unlock, want 0", got)
	}
	h.mustSignIn(&testUser{Name: "cleo", Password: goodPassword}, account.StepEnroll)
}

func TestFailuresOfUnknownNamesArePruned(t *testing.T) {
	// Failure rows that no longer count go: a name nobody has, once 15 minutes passed since
	// its last failure (as long as a lock lasts), is removed by a later failure's write.
	h := newHarness(t)
	h.setOption(options.FailedSignInsPerAddress, "0")
	for _, name := range []string{"gone-one", "gone-two"} {
		for range 3 {
			_, err := h.signIn(name, "a wrong password")
			wantCode(t, err, errs.InvalidCredentials)
		}
	}
	count := func() int {
		var n int
		if err := h.rawDB().QueryRowContext(h.ctx, `SELECT count(*) FROM password_failures`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 2 {
		t.Fatalf("%d rows, want 2", n)
	}
	h.clock.Advance(15*time.Minute - time.Second)
	_, err := h.signIn("still-here", "a wrong password")
	wantCode(t, err, errs.InvalidCredentials)
	if n := count(); n != 3 {
		t.Fatalf("%d rows before the old ones stop counting, want 3", n)
	}
	if got := h.passwordFailures("gone-one"); got != 3 {
		t.Fatalf("gone-one: %d failures while they still count, want 3", got)
	}
	h.clock.Advance(time.Second)
	_, err = h.signIn("another", "a wrong password")
	wantCode(t, err, errs.InvalidCredentials)
	if n := count(); n != 2 {
		t.Fatalf("%d rows after the old ones stopped counting, want 2 (still-here and another)", n)
	}
	// A name whose failures stopped counting starts again from one.
	_, err = h.signIn("gone-one", "a wrong password")
	wantCode(t, err, errs.InvalidCredentials)
	if got := h.passwordFailures("gone-one"); got != 1 {
		t.Fatalf("gone-one: %d failures, want 1", got)
	}
}
