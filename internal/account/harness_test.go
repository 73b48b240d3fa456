package account_test

// The test harness: Twofold as the command line opens it (package app: a real SQLite file,
// options cache, argon2id hasher with cheap parameters, server keys), on a fake clock, with a
// recording mailer (which can also write the real outbox).

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/app/apptest"
	"github.com/twofold-auth/twofold/internal/clock"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/keys"
	"github.com/twofold-auth/twofold/internal/mail"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/otp"
	"github.com/twofold-auth/twofold/internal/password"
	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/sqlite"
)

// testServerKey is a fixed server key (64 hex characters).
const testServerKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

// goodPassword is the permanent password the harness gives accounts (passes the policy).
const goodPassword = "violet anchor drifting 42"

// start is 10 seconds into a TOTP step, so that the clock never sits on a step boundary.
var start = time.Date(2031, 3, 14, 9, 0, 10, 0, time.UTC)

// ---- mail

// recorder keeps every message sent, and passes it on to next when set (the real outbox).
type recorder struct {
	mu   sync.Mutex
	msgs []mail.Message
	next mail.Mailer
}

func (r *recorder) Send(ctx context.Context, m mail.Message) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	if r.next != nil {
		return r.next.Send(ctx, m)
	}
	return nil
}

// to answers the messages sent to addr, oldest first.
func (r *recorder) to(addr string) []mail.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []mail.Message
	for _, m := range r.msgs {
		if m.To == addr {
			out = append(out, m)
		}
	}
	return out
}

// count answers how many messages with subject went to addr.
func (r *recorder) count(addr, subject string) int {
	n := 0
	for _, m := range r.to(addr) {
		if m.Subject == subject {
			n++
		}
	}
	return n
}

func (r *recorder) all() []mail.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]mail.Message(nil), r.msgs...)
}

// Subjects of the MFA notices (notify.go); a rename must be deliberate.
const (
	subjEnrolled     = "Multi-factor authentication set up"
	subjReset        = "Multi-factor authentication reset"
	subjRegenerated  = "New backup codes"
	subjBackupUsed   = "Backup code used"
	subjBackupIssued = "New backup code issued"
	subjLocked       = "Second factor locked"
)

// ---- harness

type harness struct {
	t      testing.TB
	ctx    context.Context
	app    *app.App
	dir    string
	dbPath string
	db     *sqlite.DB
	svc    *account.Service
	clock  *clock.Fake
	mail   *recorder
	keys   *keys.Keys
	opts   *options.Cache
	hasher *password.Hasher
	outbox string // the real outbox folder, when withOutbox
}

type harnessOption func(*harnessConfig)

type harnessConfig struct {
	outbox  bool
	params  password.Params
	workers int
	maxWait time.Duration
	rand    io.Reader // salts (nil: crypto/rand)
}

// withOutbox makes the harness also write every message to a real outbox folder.
func withOutbox() harnessOption { return func(c *harnessConfig) { c.outbox = true } }

// withParams sets the argon2id parameters (benchmarks use the defaults).
func withParams(p password.Params) harnessOption { return func(c *harnessConfig) { c.params = p } }

// withHasher bounds the password workers and how long a caller waits for one.
func withHasher(workers int, maxWait time.Duration) harnessOption {
	return func(c *harnessConfig) { c.workers, c.maxWait = workers, maxWait }
}

// withRand makes the hasher read salts from r.
func withRand(r io.Reader) harnessOption { return func(c *harnessConfig) { c.rand = r } }

// heldRand is crypto/rand that a test can hold: while held, reads wait. The hasher reads a salt
// with a worker taken, so a hash started while it is held keeps its worker busy for exactly as
// long as the test wants, however fast or slow the machine hashes.
type heldRand struct {
	mu   sync.Mutex
	gate chan struct{} // nil: not held
}

// hold makes reads wait until the answered release is called.
func (r *heldRand) hold() (release func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	gate := make(chan struct{})
	r.gate = gate
	return func() {
		r.mu.Lock()
		r.gate = nil
		r.mu.Unlock()
		close(gate)
	}
}

func (r *heldRand) Read(p []byte) (int, error) {
	r.mu.Lock()
	gate := r.gate
	r.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return rand.Read(p)
}

func newHarness(t testing.TB, opts ...harnessOption) *harness {
	t.Helper()
	cfg := harnessConfig{params: apptest.CheapHashing, workers: 4, maxWait: 10 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	h := &harness{t: t, ctx: context.Background(), clock: clock.NewFake(start), mail: &recorder{}}
	wait := cfg.maxWait
	if wait == 0 {
		wait = -1 // no waiting at all
	}
	h.app = apptest.Open(t, app.Config{SecretKey: testServerKey, MailFrom: "Twofold <twofold@example.org>",
		BaseURL: "https://twofold.example.org/", Clock: h.clock,
		Hashing: cfg.params, HashWorkers: cfg.workers, HashWait: wait, Salts: cfg.rand,
		WrapMail: func(outbox mail.Mailer) mail.Mailer {
			if cfg.outbox {
				h.mail.next = outbox
			}
			return h.mail
		}})
	h.dir, h.svc, h.keys, h.opts, h.hasher = h.app.Data, h.app.Service, h.app.Keys, h.app.Options, h.app.Hasher
	h.dbPath = filepath.Join(h.dir, "twofold.db")
	h.db = h.app.Store.(*sqlite.DB)
	if cfg.outbox {
		h.outbox = h.app.Outbox
	}
	return h
}

// serviceOn makes another service over st (a wrapper of the harness's store) sharing the
// harness's clock, keys, hasher and mail.
func (h *harness) serviceOn(st store.Store, opts *options.Cache) *account.Service {
	return h.app.NewService(st, opts)
}

// secondInstance is another server on the same database file: its own connections, its own
// options cache, the same server key and clock.
func (h *harness) secondInstance() *account.Service {
	h.t.Helper()
	db, err := sqlite.Open(h.ctx, h.dbPath)
	if err != nil {
		h.t.Fatalf("sqlite.Open (second instance): %v", err)
	}
	h.t.Cleanup(func() { db.Close() })
	return h.app.NewService(db, nil)
}

// testUser is an account made through the service, with what the tests need to act as it.
type testUser struct {
	ID       int64
	Name     string
	Email    string
	Password string
	Key      []byte   // the TOTP key once enrolled
	Codes    []string // the backup codes shown at enrolment
}

// userSpec says what account to make; the zero value is an internal local user with a
// permanent password.
type userSpec struct {
	Kind, Source, Role string
	// Temporary keeps the emailed temporary password instead of setting goodPassword.
	Temporary bool
}

// createUser makes an account through the admin use case and, unless spec.Temporary, gives it
// goodPassword as a permanent password directly in the store.
func (h *harness) createUser(name string, spec userSpec) *testUser {
	h.t.Helper()
	email := strings.ToLower(name) + "@example.com"
	_, pw, err := h.svc.CreateUser(h.ctx, account.CLI, account.NewUser{Username: name, Email: email,
		Kind: spec.Kind, Source: spec.Source, Role: spec.Role})
	if err != nil {
		h.t.Fatalf("CreateUser %s: %v", name, err)
	}
	su := h.storeUser(name)
	u := &testUser{ID: su.ID, Name: su.Username, Email: email, Password: pw}
	if su.Source == store.SourceLocal && !spec.Temporary {
		hash, err := h.hasher.Hash(h.ctx, goodPassword)
		if err != nil {
			h.t.Fatal(err)
		}
		su.PasswordHash, su.PasswordTemporary, su.PasswordExpiresAt = hash, false, time.Time{}
		if err := h.db.UpdateUser(h.ctx, su); err != nil {
			h.t.Fatal(err)
		}
		u.Password = goodPassword
	}
	return u
}

// user makes an internal local user with a permanent password.
func (h *harness) user(name string) *testUser { return h.createUser(name, userSpec{}) }

// enrolledUser makes a user and enrols it through a sign-in; the clock then moves on one
// step so that the next code is not a replay of the enrolment code.
func (h *harness) enrolledUser(name string) *testUser {
	h.t.Helper()
	u := h.user(name)
	tok := h.mustSignIn(u, account.StepEnroll)
	step := h.enrollAndVerify(u, tok)
	if step.Next != account.StepDone {
		h.t.Fatalf("after enrolment: next %q, want done", step.Next)
	}
	h.clock.Advance(30 * time.Second)
	return u
}

// enrollAndVerify shows the pending key, verifies it with the current code and remembers the
// key and codes on u.
func (h *harness) enrollAndVerify(u *testUser, tok string) account.Step {
	h.t.Helper()
	u.Key = h.enroll(tok)
	step, err := h.svc.VerifyEnroll(h.ctx, tok, h.codeAt(u.Key, 0))
	if err != nil {
		h.t.Fatalf("VerifyEnroll: %v", err)
	}
	u.Codes = step.BackupCodes
	return step
}

// enroll answers the raw pending key that Enroll shows.
func (h *harness) enroll(tok string) []byte {
	h.t.Helper()
	e, err := h.svc.Enroll(h.ctx, tok)
	if err != nil {
		h.t.Fatalf("Enroll: %v", err)
	}
	key, err := otp.DecodeKey(e.Secret)
	if err != nil {
		h.t.Fatalf("DecodeKey(%q): %v", e.Secret, err)
	}
	return key
}

// codeAt answers the TOTP code offset steps from now.
func (h *harness) codeAt(key []byte, offset int) string {
	return otp.TOTP(key, h.clock.Now().Add(time.Duration(offset)*30*time.Second), otp.Default)
}

// wrongCode answers a well-formed code that matches none of the steps now-2..now+2.
func (h *harness) wrongCode(key []byte) string {
	bad := map[string]bool{}
	for i := -2; i <= 2; i++ {
		bad[h.codeAt(key, i)] = true
	}
	for _, c := range []string{"000000", "111111", "222222", "333333", "444444", "555555"} {
		if !bad[c] {
			return c
		}
	}
	h.t.Fatal("no wrong code found")
	return ""
}

// signIn is the password step from the default address.
func (h *harness) signIn(name, pw string) (account.Step, error) {
	return h.svc.SignIn(h.ctx, account.SignInRequest{Username: name, Password: pw, Addr: "192.0.2.1"})
}

// mustSignIn signs u in and checks the next step.
func (h *harness) mustSignIn(u *testUser, next string) string {
	h.t.Helper()
	st, err := h.signIn(u.Name, u.Password)
	if err != nil {
		h.t.Fatalf("SignIn %s: %v", u.Name, err)
	}
	if st.Next != next {
		h.t.Fatalf("SignIn %s: next %q, want %q", u.Name, st.Next, next)
	}
	if st.Token == "" {
		h.t.Fatalf("SignIn %s: no token", u.Name)
	}
	return st.Token
}

// session signs an enrolled user in fully (password and a fresh TOTP code, moving the clock
// one step first so the code is never a replay) and answers the session token.
func (h *harness) session(u *testUser) string {
	h.t.Helper()
	h.clock.Advance(30 * time.Second)
	tok := h.mustSignIn(u, account.StepVerify)
	st, err := h.svc.Verify(h.ctx, tok, h.codeAt(u.Key, 0), "")
	if err != nil {
		h.t.Fatalf("Verify %s: %v", u.Name, err)
	}
	if st.Next != account.StepDone {
		h.t.Fatalf("Verify %s: next %q, want done", u.Name, st.Next)
	}
	return st.Token
}

// principal authenticates a session token.
func (h *harness) principal(tok string) *account.Principal {
	h.t.Helper()
	p, err := h.svc.Authenticate(h.ctx, tok)
	if err != nil {
		h.t.Fatalf("Authenticate: %v", err)
	}
	return p
}

// setOption changes an option as the command line does.
func (h *harness) setOption(key, value string) {
	h.t.Helper()
	if _, err := h.svc.SetOption(h.ctx, account.CLI, key, value); err != nil {
		h.t.Fatalf("SetOption %s=%s: %v", key, value, err)
	}
}

// storeUser reads the account straight from the store.
func (h *harness) storeUser(name string) *store.User {
	h.t.Helper()
	u, err := h.db.UserByName(h.ctx, strings.ToLower(name))
	if err != nil {
		h.t.Fatalf("UserByName %s: %v", name, err)
	}
	return u
}

// alive reports whether a sign-in or session token still works at all.
func (h *harness) alive(tok string) bool {
	h.t.Helper()
	_, _, err := h.svc.State(h.ctx, tok)
	if err == nil {
		return true
	}
	if errs.Code(err) != errs.NotSignedIn {
		h.t.Fatalf("State: unexpected %v", err)
	}
	return false
}

// passwordFailures answers the username's counted password failures.
func (h *harness) passwordFailures(name string) int {
	h.t.Helper()
	st, err := h.db.PasswordFailures(h.ctx, h.keys.UsernameMAC(strings.ToLower(name)), h.clock.Now())
	if err != nil {
		h.t.Fatalf("PasswordFailures: %v", err)
	}
	return st.Failures
}

// clearPasswordFailures forgets counted failures, so that subtests start clean.
func (h *harness) clearPasswordFailures(names ...string) {
	h.t.Helper()
	for _, n := range names {
		if err := h.db.ClearPasswordFailures(h.ctx, h.keys.UsernameMAC(n)); err != nil {
			h.t.Fatal(err)
		}
	}
}

// lockMFA makes five failed code checks on five sign-ins of an enrolled user: the fifth locks.
func (h *harness) lockMFA(u *testUser) {
	h.t.Helper()
	for i := 1; i <= 5; i++ {
		tok := h.mustSignIn(u, account.StepVerify)
		_, err := h.svc.Verify(h.ctx, tok, h.wrongCode(u.Key), "")
		want := errs.InvalidCode
		if i == 5 {
			want = errs.Locked
		}
		wantCode(h.t, err, want)
	}
}

// state answers the current step of a token, failing the test on error.
func (h *harness) state(tok string) string {
	h.t.Helper()
	next, _, err := h.svc.State(h.ctx, tok)
	if err != nil {
		h.t.Fatalf("State: %v", err)
	}
	return next
}

// events answers the audit events of a user with action, newest first.
func (h *harness) events(user, action string) []*store.Event {
	h.t.Helper()
	ev, err := h.db.Events(h.ctx, store.EventFilter{User: user, Action: action, Limit: 1000})
	if err != nil {
		h.t.Fatalf("Events: %v", err)
	}
	return ev
}

// rawDB opens the SQLite file read-only beside the store, to look at what is at rest.
func (h *harness) rawDB() *sql.DB {
	h.t.Helper()
	db, err := sql.Open("sqlite", "file:"+h.dbPath+"?mode=ro")
	if err != nil {
		h.t.Fatalf("open raw db: %v", err)
	}
	h.t.Cleanup(func() { db.Close() })
	return db
}

// ---- assertions

// wantCode checks that err is a service error with code.
func wantCode(t testing.TB, err error, code string) *errs.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	var e *errs.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v (not an *errs.Error), want %s", err, code)
	}
	if e.Code != code {
		t.Fatalf("got %s (%q), want %s", e.Code, e.Message, code)
	}
	return e
}

// wantConflict checks a 409 about steps, with the current step named.
func wantConflict(t testing.TB, err error, next string) {
	t.Helper()
	e := wantCode(t, err, errs.Conflict)
	if e.Next != next {
		t.Fatalf("conflict names next %q, want %q", e.Next, next)
	}
}

func mustNo(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// about checks that got is within a few seconds of want.
func about(t testing.TB, what string, got, want time.Time) {
	t.Helper()
	if d := got.Sub(want); d < -2*time.Second || d > 2*time.Second {
		t.Fatalf("%s = %v, want about %v", what, got, want)
	}
}
