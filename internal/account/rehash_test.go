package account_test

import (
	"context"
	"crypto/rand"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/app/apptest"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/password"
	"github.com/twofold-auth/twofold/internal/store"
)

// raised is a cost above apptest.CheapHashing in memory and passes, still cheap for tests.
var raised = password.Params{Memory: 128, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}

// withHashAt gives u's account goodPassword hashed at p, straight in the store.
func (h *harness) withHashAt(u *testUser, p password.Params) string {
	h.t.Helper()
	phc, err := password.Hash(goodPassword, p, rand.Reader)
	if err != nil {
		h.t.Fatal(err)
	}
	su := h.storeUser(u.Name)
	su.PasswordHash = phc
	if err := h.db.UpdateUser(h.ctx, su); err != nil {
		h.t.Fatal(err)
	}
	return phc
}

// TestWeakerHashReplacedAtRightPassword: a hash made at a lower cost than the server's is
// replaced at the account's next right password by one at the server's cost, which then
// verifies; a wrong password changes nothing, and a hash at the server's cost is kept (SPEC §5).
func TestWeakerHashReplacedAtRightPassword(t *testing.T) {
	h := newHarness(t, withParams(raised))
	u := h.user("ulla")
	old := h.withHashAt(u, apptest.CheapHashing)

	if _, err := h.signIn(u.Name, "not the password at all"); err == nil {
		t.Fatal("a wrong password signed in")
	}
	if got := h.storeUser(u.Name).PasswordHash; got != old {
		t.Fatalf("a wrong password changed the hash to %s", got)
	}

	h.mustSignIn(u, account.StepEnroll)
	upgraded := h.storeUser(u.Name).PasswordHash
	if upgraded == old || !strings.HasPrefix(upgraded, "$argon2id$v=19$m=128,t=2,p=1$") {
		t.Fatalf("after a right password the hash is %s, want one at m=128,t=2,p=1", upgraded)
	}
	if ok, err := password.Verify(goodPassword, upgraded); !ok || err != nil {
		t.Fatalf("the new hash does not verify the password: %v %v", ok, err)
	}
	h.mustSignIn(u, account.StepEnroll)
	if got := h.storeUser(u.Name).PasswordHash; got != upgraded {
		t.Fatal("a hash at the server's cost was replaced again")
	}

	// A stronger hash than the server's is kept as it is: no downgrade.
	stronger := h.withHashAt(u, password.Params{Memory: 256, Time: 3, Threads: 1, KeyLen: 32, SaltLen: 16})
	h.mustSignIn(u, account.StepEnroll)
	if got := h.storeUser(u.Name).PasswordHash; got != stronger {
		t.Fatal("a hash stronger than the server's cost was replaced")
	}
}

// hookedStore runs hook once, right after the first read of an account by name.
type hookedStore struct {
	store.Store
	once sync.Once
	hook func()
}

func (s *hookedStore) UserByName(ctx context.Context, name string) (*store.User, error) {
	u, err := s.Store.UserByName(ctx, name)
	s.once.Do(s.hook)
	return u, err
}

// TestUpgradeLeavesAChangedPasswordAlone: a password changed between a sign-in's read of the
// account and its upgrade of the old hash stays changed: the upgrade replaces only the hash it
// checked, and the sign-in with the old password is refused, since that password is no longer
// the account's.
func TestUpgradeLeavesAChangedPasswordAlone(t *testing.T) {
	h := newHarness(t, withParams(raised))
	u := h.user("uwe")
	h.withHashAt(u, apptest.CheapHashing)
	changed, err := password.Hash("a different password 77", raised, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st := &hookedStore{Store: h.db, hook: func() {
		su := h.storeUser(u.Name)
		su.PasswordHash = changed
		if err := h.db.UpdateUser(h.ctx, su); err != nil {
			t.Error(err)
		}
	}}
	svc := h.serviceOn(st, nil)
	_, err = svc.SignIn(h.ctx, account.SignInRequest{Username: u.Name, Password: goodPassword, Addr: "192.0.2.1"})
	wantCode(t, err, errs.InvalidCredentials)
	if got := h.storeUser(u.Name).PasswordHash; got != changed {
		t.Fatalf("the password changed meanwhile was overwritten: hash %s", got)
	}
}

// TestTwoUpgradesAtOnce: two sign-ins with the right password that both found the old,
// cheaper hash both sign in: the second finds the hash the first wrote, which is the same
// password's, and takes it instead of refusing a right password.
func TestTwoUpgradesAtOnce(t *testing.T) {
	h := newHarness(t, withParams(raised))
	u := h.user("ulf")
	h.withHashAt(u, apptest.CheapHashing)
	first, err := password.Hash(goodPassword, raised, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st := &hookedStore{Store: h.db, hook: func() { // the first sign-in's upgrade, committed meanwhile
		su := h.storeUser(u.Name)
		su.PasswordHash = first
		if err := h.db.UpdateUser(h.ctx, su); err != nil {
			t.Error(err)
		}
	}}
	st2, err := h.serviceOn(st, nil).SignIn(h.ctx, account.SignInRequest{Username: u.Name, Password: goodPassword, Addr: "192.0.2.1"})
	if err != nil || st2.Next != account.StepEnroll {
		t.Fatalf("the second right password = %+v, %v; want signed in", st2, err)
	}
	if got := h.storeUser(u.Name).PasswordHash; got != first {
		t.Errorf("the hash is %s, want the first upgrade's, kept", got)
	}
}

// failingLockedRead fails the read of an account inside the first transaction, the upgrade's,
// which comes before the sign-in's own.
type failingLockedRead struct {
	store.Store
	done atomic.Bool
}

func (s *failingLockedRead) Update(ctx context.Context, fn func(q store.Queries) error) error {
	if s.done.Swap(true) {
		return s.Store.Update(ctx, fn)
	}
	return s.Store.Update(ctx, func(q store.Queries) error { return fn(failingUserQueries{q}) })
}

type failingUserQueries struct{ store.Queries }

func (failingUserQueries) User(context.Context, int64) (*store.User, error) { return nil, errInjected }

// TestUpgradeNeverFailsTheSignIn: when the new hash cannot be written, the sign-in still
// succeeds on the old hash, which stays until a later sign-in replaces it.
func TestUpgradeNeverFailsTheSignIn(t *testing.T) {
	h := newHarness(t, withParams(raised))
	u := h.user("uma")
	old := h.withHashAt(u, apptest.CheapHashing)
	svc := h.serviceOn(&failingLockedRead{Store: h.db}, nil)
	if _, err := svc.SignIn(h.ctx, account.SignInRequest{Username: u.Name, Password: goodPassword, Addr: "192.0.2.1"}); err != nil {
		t.Fatalf("SignIn with the upgrade failing: %v", err)
	}
	if got := h.storeUser(u.Name).PasswordHash; got != old {
		t.Fatal("the hash changed although its write failed")
	}
	h.mustSignIn(u, account.StepEnroll)
	if got := h.storeUser(u.Name).PasswordHash; got == old {
		t.Fatal("the next sign-in did not upgrade the hash")
	}
}
