package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
)

// RunTwoHandles runs the cases that write through two handles on one database at once, as
// two instances on one PostgreSQL do, or the server and a command on one SQLite file. open
// answers two stores on one fresh, empty database and arranges, with t.Cleanup, for them to be
// closed.
func RunTwoHandles(t *testing.T, open func(t *testing.T) (a, b store.Store)) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, a, b store.Store)
	}{
		{"AccessRuleRace", testAccessRuleRace},
		{"Writes", testTwoHandleWrites},
		{"AddressLimit", testTwoHandleAddressLimit},
		{"CodeAndTokenOnce", testTwoHandleCodeAndTokenOnce},
		{"EndedSessionClientsOnce", endedRace},
		{"WebAuthnChallengeOnce", testTwoHandleChallengeOnce},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := open(t)
			tc.fn(t, a, b)
		})
	}
}

// testTwoHandleWrites writes through both handles at once: every write goes through (SQLite's
// busy_timeout and BEGIN IMMEDIATE, PostgreSQL's row and advisory locks), and no
// read-modify-write of an account's counters or a name's failures is lost.
func testTwoHandleWrites(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	u := NewUser(t, a, "bob")
	const n = 25
	shared := nameKey("shared")
	count := func(s store.Store, key []byte) error {
		return s.Update(ctx, func(q store.Queries) error {
			_, err := countFailure(ctx, q, key, time.Now(), 1000)
			return err
		})
	}
	errs := make(chan error, 16*n)
	writers := []func(s store.Store, who string){
		// Increments of an account's counter, each holding its lock a while.
		func(s store.Store, who string) {
			for range n {
				errs <- increment(ctx, s, u.ID, time.Millisecond)
			}
		},
		// Single writes and reads of every kind.
		func(s store.Store, who string) {
			for i := range n {
				errs <- s.AddEvent(ctx, &store.Event{At: time.Now(), Actor: who, Action: "test"})
				errs <- count(s, nameKey(who))
				errs <- count(s, shared)
				_, _, err := s.ReserveAddressAttempt(ctx, "192.0.2.1", time.Now(), time.Now().Add(-time.Millisecond), 1000)
				errs <- err
				_, err = s.Events(ctx, store.EventFilter{Limit: 1})
				errs <- err
				_, err = s.SetTOTPStep(ctx, u.ID, int64(i))
				errs <- err
			}
		},
	}
	race(4, func(i int) {
		s, who := a, "a"
		if i%2 == 1 {
			s, who = b, "b"
		}
		writers[i/2](s, who)
	})
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("write through two handles: %v", err)
		}
	}
	if got, err := b.User(ctx, u.ID); err != nil || got.MFAFailures != 2*n {
		t.Errorf("MFAFailures = %v, %v; want %d (lost updates between handles)", got, err, 2*n)
	}
	for key, want := range map[string]int{"a": n, "b": n, "shared": 2 * n} {
		if f, err := a.PasswordFailures(ctx, nameKey(key), time.Now()); err != nil || f.Failures != want {
			t.Errorf("PasswordFailures(%s) = %+v, %v; want %d", key, f, err, want)
		}
	}
	if es, err := a.Events(ctx, store.EventFilter{Action: "test", Limit: 1000}); err != nil || len(es) != 2*n {
		t.Errorf("Events = %d, %v; want %d", len(es), err, 2*n)
	}
}

// testTwoHandleAddressLimit: attempts from one address sent at once through both handles,
// half of them inside Update transactions, pass the limit exactly.
func testTwoHandleAddressLimit(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	const n, limit = 40, 7
	reserve := func(q store.Queries) (bool, error) {
		_, ok, err := q.ReserveAddressAttempt(ctx, "198.51.100.4", t0, t0.Add(-time.Minute), limit)
		return ok, err
	}
	passed, errs := raceWins(n, func(i int) (bool, error) {
		s := []store.Store{a, b}[i%2]
		if i%4 < 2 {
			return reserve(s)
		}
		var ok bool
		err := s.Update(ctx, func(q store.Queries) error {
			var err error
			ok, err = reserve(q)
			return err
		})
		return ok, err
	})
	if len(errs) > 0 || passed != limit {
		t.Fatalf("%d of %d attempts passed a limit of %d (errors %v)", passed, n, limit, errs)
	}
}

// testTwoHandleCodeAndTokenOnce: a code redeemed at two instances at the same moment is
// redeemed once, and a refresh token used at both is used once (SPEC §7, several instances).
func testTwoHandleCodeAndTokenOnce(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	u := NewUser(t, a, "ola")
	newClient(t, a, "app", t0)
	code := newAuthRequest(t, a, "ar-1", "app", u.ID).CodeHash
	tok := newToken(t, a, "r1", "ar-1", "app", u.ID, "sid-1").IDHash
	const n = 20
	wins, errs := raceWins(n, func(i int) (bool, error) { return redeemOnce(ctx, []store.Store{a, b}[i%2], code) })
	if len(errs) > 0 || wins != 1 {
		t.Errorf("%d redemptions of one code through two handles: %d found it unredeemed (errors %v), want exactly 1", n, wins, errs)
	}
	wins, errs = raceWins(n, func(i int) (bool, error) {
		s := []store.Store{a, b}[i%2]
		if i%4 < 2 {
			return s.UseToken(ctx, tok)
		}
		var ok bool
		err := s.Update(ctx, func(q store.Queries) error {
			var err error
			ok, err = q.UseToken(ctx, tok)
			return err
		})
		return ok, err
	})
	if len(errs) > 0 || wins != 1 {
		t.Errorf("%d uses of one refresh token through two handles: %d accepted (errors %v), want exactly 1", n, wins, errs)
	}
}

// Keep answers a function that takes what a backend's Open answers, fails t on its error, and
// closes the store when t ends: storetest.Keep[*sqlite.DB](t)(sqlite.Open(ctx, path)).
func Keep[S store.Store](t testing.TB) func(s S, err error) S {
	return func(s S, err error) S {
		t.Helper()
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
}

// Bench runs the benchmarks of one durable write on a store that open answers: a conditional
// write on its own, and a read-modify-write of an account inside Update.
func Bench(b *testing.B, open func(b *testing.B) store.Store) {
	b.Run("SetTOTPStep", func(b *testing.B) {
		ctx := context.Background()
		s := open(b)
		u := NewUser(b, s, "bench")
		step := int64(0)
		for b.Loop() {
			step++
			if ok, err := s.SetTOTPStep(ctx, u.ID, step); err != nil || !ok {
				b.Fatalf("SetTOTPStep = %v, %v", ok, err)
			}
		}
	})
	b.Run("UpdateUser", func(b *testing.B) {
		ctx := context.Background()
		s := open(b)
		u := NewUser(b, s, "bench")
		for b.Loop() {
			if err := increment(ctx, s, u.ID, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}
