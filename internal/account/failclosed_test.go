package account_test

// SPEC §5 "Fail closed" and "Bounded work".

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/password"
	"github.com/twofold-auth/twofold/internal/store"
)

var errInjected = errors.New("injected store failure")

// faultStore fails one named operation, inside transactions and outside.
type faultStore struct {
	store.Store
	mu   sync.Mutex
	fail string
}

func (f *faultStore) set(op string) { f.mu.Lock(); f.fail = op; f.mu.Unlock() }

func (f *faultStore) failing(op string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail == op
}

func (f *faultStore) Update(ctx context.Context, fn func(q store.Queries) error) error {
	return f.Store.Update(ctx, func(q store.Queries) error { return fn(faultQueries{q, f}) })
}

func (f *faultStore) PasswordFailures(ctx context.Context, k []byte, now time.Time) (store.PasswordFailures, error) {
	return faultQueries{f.Store, f}.PasswordFailures(ctx, k, now)
}

func (f *faultStore) SetPasswordFailures(ctx context.Context, k []byte, pf store.PasswordFailures, now time.Time) error {
	return faultQueries{f.Store, f}.SetPasswordFailures(ctx, k, pf, now)
}

func (f *faultStore) ReserveAddressAttempt(ctx context.Context, addr string, now, since time.Time, limit int) (int64, bool, error) {
	return faultQueries{f.Store, f}.ReserveAddressAttempt(ctx, addr, now, since, limit)
}

func (f *faultStore) ReleaseAddressAttempt(ctx context.Context, id int64) error {
	return faultQueries{f.Store, f}.ReleaseAddressAttempt(ctx, id)
}

func (f *faultStore) SessionUser(ctx context.Context, id []byte) (*store.Session, *store.User, error) {
	return faultQueries{f.Store, f}.SessionUser(ctx, id)
}

func (f *faultStore) User(ctx context.Context, id int64) (*store.User, error) {
	return faultQueries{f.Store, f}.User(ctx, id)
}

func (f *faultStore) UserByName(ctx context.Context, name string) (*store.User, error) {
	return faultQueries{f.Store, f}.UserByName(ctx, name)
}

func (f *faultStore) Options(ctx context.Context) (map[string]string, error) {
	if f.failing("Options") {
		return nil, errInjected
	}
	return f.Store.Options(ctx)
}

type faultQueries struct {
	store.Queries
	f *faultStore
}

func (q faultQueries) PasswordFailures(ctx context.Context, k []byte, now time.Time) (store.PasswordFailures, error) {
	if q.f.failing("PasswordFailures") {
		return store.PasswordFailures{}, errInjected
	}
	return q.Queries.PasswordFailures(ctx, k, now)
}

func (q faultQueries) SetPasswordFailures(ctx context.Context, k []byte, pf store.PasswordFailures, now time.Time) error {
	if q.f.failing("SetPasswordFailures") {
		return errInjected
	}
	return q.Queries.SetPasswordFailures(ctx, k, pf, now)
}

func (q faultQueries) ReserveAddressAttempt(ctx context.Context, addr string, now, since time.Time, limit int) (int64, bool, error) {
	if q.f.failing("ReserveAddressAttempt") {
		return 0, false, errInjected
	}
	return q.Queries.ReserveAddressAttempt(ctx, addr, now, since, limit)
}

func (q faultQueries) ReleaseAddressAttempt(ctx context.Context, id int64) error {
	if q.f.failing("ReleaseAddressAttempt") {
		return errInjected
	}
	return q.Queries.ReleaseAddressAttempt(ctx, id)
}

func (q faultQueries) SessionUser(ctx context.Context, id []byte) (*store.Session, *store.User, error) {
	if q.f.failing("SessionUser") {
		return nil, nil, errInjected
	}
	return q.Queries.SessionUser(ctx, id)
}

func (q faultQueries) User(ctx context.Context, id int64) (*store.User, error) {
	if q.f.failing("User") {
		return nil, errInjected
	}
	return q.Queries.User(ctx, id)
}

func (q faultQueries) UserByName(ctx context.Context, name string) (*store.User, error) {
	if q.f.failing("UserByName") {
		return nil, errInjected
	}
	return q.Queries.UserByName(ctx, name)
}

func (q faultQueries) SetTOTPStep(ctx context.Context, id, step int64) (bool, error) {
	if q.f.failing("SetTOTPStep") {
		return false, errInjected
	}
	return q.Queries.SetTOTPStep(ctx, id, step)
}

func (q faultQueries) AddBackupCodes(ctx context.Context, id int64, macs [][]byte) error {
	if q.f.failing("AddBackupCodes") {
		return errInjected
	}
	return q.Queries.AddBackupCodes(ctx, id, macs)
}

func (q faultQueries) AddEvent(ctx context.Context, e *store.Event) error {
	if q.f.failing("AddEvent") {
		return errInjected
	}
	return q.Queries.AddEvent(ctx, e)
}

func (q faultQueries) UseBackupCode(ctx context.Context, id int64, mac []byte, now time.Time) (bool, error) {
	if q.f.failing("UseBackupCode") {
		return false, errInjected
	}
	return q.Queries.UseBackupCode(ctx, id, mac, now)
}

func TestFailClosed(t *testing.T) {
	h := newHarness(t)
	fs := &faultStore{Store: h.db}
	svc := h.serviceOn(fs, options.NewCache(fs.Options, h.clock.Now))
	u := h.enrolledUser("fcl")
	h.setOption(options.FailedSignInsPerAddress, "60")

	signIn := func(pw string) (string, error) {
		st, err := svc.SignIn(h.ctx, account.SignInRequest{Username: "fcl", Password: pw, Addr: "192.0.2.50"})
		return st.Token, err
	}
	verify := func(code, backup string) (string, error) {
		tok := h.mustSignIn(u, account.StepVerify)
		st, err := svc.Verify(h.ctx, tok, code, backup)
		return st.Token, err
	}
	for _, tc := range []struct {
		op   string
		call func() (string, error)
	}{
		{"Options", func() (string, error) { h.clock.Advance(2 * time.Second); return signIn(goodPassword) }},
		{"ReserveAddressAttempt", func() (string, error) { return signIn(goodPassword) }},
		{"ReleaseAddressAttempt", func() (string, error) { return signIn(goodPassword) }},
		{"PasswordFailures", func() (string, error) { return signIn(goodPassword) }},
		{"UserByName", func() (string, error) { return signIn(goodPassword) }},
		{"SetPasswordFailures", func() (string, error) { return signIn("a wrong password") }},
		{"SessionUser", func() (string, error) { return verify(h.codeAt(u.Key, 0), "") }},
		{"User", func() (string, error) { return signIn(goodPassword) }},
		{"SetTOTPStep", func() (string, error) { return verify(h.codeAt(u.Key, 0), "") }},
		{"UseBackupCode", func() (string, error) { return verify("", u.Codes[0]) }},
	} {
		t.Run(tc.op, func(t *testing.T) {
			h.clock.Advance(30 * time.Second)
			fs.set(tc.op)
			tok, err := tc.call()
			fs.set("")
			if err == nil || tok != "" {
				t.Fatalf("answered %v with token %v while the store failed", err, tok != "")
			}
			if errs.Code(err) != errs.Internal {
				t.Fatalf("answered %s: a store failure must not look like a client error", errs.Code(err))
			}
		})
	}
	// Nothing was used up by the refusals.
	if n, _ := h.db.CountBackupCodes(h.ctx, u.ID); n != len(u.Codes) {
		t.Fatal("a refused request used a backup code")
	}
	tok := h.mustSignIn(u, account.StepVerify)
	if _, err := h.svc.Verify(h.ctx, tok, "", u.Codes[0]); err != nil {
		t.Fatalf("backup code after the failures: %v", err)
	}
}

func TestFloodGetsUnavailable(t *testing.T) {
	// One worker and no waiting: while a hash runs, others are turned away with 503.
	salts := &heldRand{}
	h := newHarness(t, withParams(password.DefaultParams), withHasher(1, 0), withRand(salts))
	h.setOption(options.FailedSignInsPerAddress, "0")
	h.user("flo")
	const n = 8
	guess := func(i int) error {
		_, err := h.signIn("flo", "not the password")
		if e := (*errs.Error)(nil); errors.As(err, &e) && e.Code == errs.Unavailable && e.RetryAfter <= 0 {
			return errors.New("503 without Retry-After")
		}
		return err
	}

	// A hash holds the only worker (waiting for its salt) while n guesses come at once: every
	// one is turned away, whatever the machine's speed, and none is counted.
	release := salts.hold()
	done := make(chan struct{})
	go func() { defer close(done); h.hasher.Hash(h.ctx, "occupying the only worker") }()
	for h.hasher.InFlight() == 0 { // waits for a state, not for a time
		runtime.Gosched()
	}
	got := race(n, guess)
	release()
	<-done
	if c := tally(got); c[errs.Unavailable] != n {
		t.Fatalf("results %v while the worker was busy, want %d unavailable", c, n)
	}
	if f := h.passwordFailures("flo"); f != 0 {
		t.Fatalf("%d failures counted for guesses turned away", f)
	}

	// With the worker free, guesses at once are each evaluated and counted, or turned away.
	c := tally(race(n, guess))
	if c[errs.InvalidCredentials] == 0 || c[errs.Unavailable]+c[errs.InvalidCredentials] != n {
		t.Fatalf("results %v, want some invalid_credentials and the rest unavailable", c)
	}
	if f := h.passwordFailures("flo"); f != c[errs.InvalidCredentials] {
		t.Fatalf("%d failures counted for %d evaluated guesses", f, c[errs.InvalidCredentials])
	}
}

func TestEnrollmentIsOneTransaction(t *testing.T) {
	// Key, backup codes and enrolled flag are written together or not at all (SPEC §5).
	h := newHarness(t)
	fs := &faultStore{Store: h.db}
	svc := h.serviceOn(fs, h.opts)
	for _, op := range []string{"AddBackupCodes", "AddEvent"} {
		t.Run(op, func(t *testing.T) {
			u := h.user("atom" + strings.ToLower(op))
			tok := h.mustSignIn(u, account.StepEnroll)
			key := h.enroll(tok)
			fs.set(op)
			_, err := svc.VerifyEnroll(h.ctx, tok, h.codeAt(key, 0))
			fs.set("")
			if err == nil {
				t.Fatal("enrolment answered success while the store failed")
			}
			su := h.storeUser(u.Name)
			if su.Enrolled() || su.TOTPLastStep != 0 || su.MFAFailures != 0 {
				t.Fatalf("half an enrolment was written: enrolled %v, step %d, failures %d",
					su.Enrolled(), su.TOTPLastStep, su.MFAFailures)
			}
			if n, _ := h.db.CountBackupCodes(h.ctx, u.ID); n != 0 {
				t.Fatalf("%d backup codes written", n)
			}
			if h.mail.count(u.Email, subjEnrolled) != 0 {
				t.Fatal("an enrolment email for an enrolment that did not happen")
			}
			// The sign-in is where it was, and the same code enrols now.
			if got := h.state(tok); got != account.StepEnroll {
				t.Fatalf("state %q", got)
			}
			if _, err := h.svc.VerifyEnroll(h.ctx, tok, h.codeAt(key, 0)); err != nil {
				t.Fatalf("enrolment after the failure: %v", err)
			}
		})
	}
}

func TestOptionChangeFromElsewhere(t *testing.T) {
	// A change saved by another process (the command line writes the database directly)
	// reaches this instance within 5 seconds, at the sign-in's next step (SPEC §2, §3).
	h := newHarness(t)
	u := h.user("oce")
	tok := h.mustSignIn(u, account.StepEnroll)
	if _, _, err := h.svc.State(h.ctx, tok); err != nil { // the cache has read the values
		t.Fatal(err)
	}
	mustNo(t, h.db.SetOption(h.ctx, options.InternalMFA, options.PolicyOptional))
	h.clock.Advance(5 * time.Second)
	if got := h.state(tok); got != account.StepEnrollOptional {
		t.Fatalf("5 s after the change the sign-in is at %q", got)
	}
}

// lockingStore runs hook right after the after-th read of a name's password failures made
// outside a transaction: what other requests do between a right password's check of the lock
// and its clearing of the failures.
type lockingStore struct {
	store.Store
	mu    sync.Mutex
	after int
	hook  func()
}

func (l *lockingStore) PasswordFailures(ctx context.Context, k []byte, now time.Time) (store.PasswordFailures, error) {
	f, err := l.Store.PasswordFailures(ctx, k, now)
	l.mu.Lock()
	l.after--
	run := l.after == 0
	l.mu.Unlock()
	if run {
		l.hook()
	}
	return f, err
}

// TestRightPasswordDoesNotEraseALockBesideIt: a right password that read "not locked" while
// wrong guesses beside it reached the lock is refused, and the lock stays (SPEC §3: the lock
// answers alike for everyone, right password or not, until it ends).
func TestRightPasswordDoesNotEraseALockBesideIt(t *testing.T) {
	h := newHarness(t)
	h.setOption(options.FailedSignInsPerAddress, "0")
	h.user("rae")
	for i := 0; i < 3; i++ { // failures to clear: the right password then writes
		_, err := h.signIn("rae", "wrong guess")
		wantCode(t, err, errs.InvalidCredentials)
	}
	// The right password reads the failures before its hash (the lock check) and after it
	// (to clear them): the guesses come in between the second read and the clearing.
	ls := &lockingStore{Store: h.db, after: 2}
	ls.hook = func() {
		for i := 0; i < 7; i++ { // the 10th failure still answers 401, and locks
			_, err := h.signIn("rae", "wrong guess")
			wantCode(t, err, errs.InvalidCredentials)
		}
	}
	svc := h.serviceOn(ls, h.opts)
	_, err := svc.SignIn(h.ctx, account.SignInRequest{Username: "rae", Password: goodPassword})
	wantCode(t, err, errs.Locked)
	_, err = h.signIn("rae", goodPassword)
	wantCode(t, err, errs.Locked)
}
