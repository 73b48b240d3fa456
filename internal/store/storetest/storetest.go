// Package storetest is the conformance suite every store.Store backend passes.
//
// A backend's test calls Run with a function that opens a fresh, empty store; RunTwoHandles
// with one that opens two stores on one fresh database; RunOpen with one that answers a fresh
// database to open; RunCopy with two backends; and its benchmarks call Bench. The suite tests
// behaviour through the store interfaces only, so that every backend is held to the same
// contract, the concurrency guarantees included: single-use TOTP steps and backup codes,
// read-modify-write of an account's counters and groups inside Update, a name's password failures read
// and written inside Update without losing one, the per-address limit across handles,
// sign-ins that only one of two racing requests can move on, the OpenID Connect provider's
// codes and refresh tokens that work once, and access rules changed at once that never share a
// position.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
)

// Run runs the suite. open answers a fresh, empty store for each subtest and arranges, with
// t.Cleanup, for it to be closed.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Ping", testPing},
		{"UserCreateGet", testUserCreateGet},
		{"UpdateUserRoundTrip", testUpdateUserRoundTrip},
		{"UsersListAndCount", testUsersListAndCount},
		{"Groups", testGroups},
		{"GroupsRace", testGroupsRace},
		{"TOTPStep", testTOTPStep},
		{"TOTPStepRace", testTOTPStepRace},
		{"BackupCodes", testBackupCodes},
		{"BackupCodeRace", testBackupCodeRace},
		{"UpdateCommits", testUpdateCommits},
		{"UpdateRollsBackOnError", testUpdateRollsBackOnError},
		{"UpdateRollsBackOnPanic", testUpdateRollsBackOnPanic},
		{"UpdateQueriesInside", testUpdateQueriesInside},
		{"UpdateSerialisesCounter", testUpdateSerialisesCounter},
		{"UpdateLockoutRace", testUpdateLockoutRace},
		{"PasswordFailures", testPasswordFailures},
		{"PasswordFailureRace", testPasswordFailureRace},
		{"PasswordFailuresStopCounting", testPasswordFailuresStopCounting},
		{"AddressFailures", testAddressFailures},
		{"AddressAttemptRace", testAddressAttemptRace},
		{"Sessions", testSessions},
		{"SessionUser", testSessionUser},
		{"ReplaceSessionRace", testReplaceSessionRace},
		{"DeleteUserSessions", testDeleteUserSessions},
		{"DeleteExpiredSessions", testDeleteExpiredSessions},
		{"Options", testOptions},
		{"Events", testEvents},
		{"Meta", testMeta},
		{"WebAuthnCredentials", testWebAuthnCredentials},
		{"WebAuthnChallenge", testWebAuthnChallenge},
		{"RememberedDevices", testRememberedDevices},
	}
	tests = append(tests, providerTests...)
	tests = append(tests, accessRuleTests...)
	tests = append(tests, driftTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
	// Cases that open more than one store.
	t.Run("Copy", func(t *testing.T) {
		t.Parallel()
		testCopy(t, open)
	})
}

// t0 is a fixed "now" for the cases that pass times in.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

// NewUser creates an internal local account named name with a few fields set, for a backend's
// own tests as for the suite's.
func NewUser(t testing.TB, s store.Queries, name string) *store.User {
	t.Helper()
	u := &store.User{
		Username:     name,
		Email:        name + "@example.com",
		Name:         "User " + name,
		Kind:         store.KindInternal,
		Source:       store.SourceLocal,
		Role:         store.RoleUser,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		BackupSalt:   []byte("salt-" + name),
		CreatedAt:    t0,
	}
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", name, err)
	}
	if u.ID == 0 {
		t.Fatalf("CreateUser(%q) left ID 0", name)
	}
	return u
}

func getUser(t *testing.T, q store.Queries, id int64) *store.User {
	t.Helper()
	u, err := q.User(t.Context(), id)
	if err != nil {
		t.Fatalf("User(%d): %v", id, err)
	}
	return u
}

// sameUser reports the first difference between two accounts, comparing times with Equal and
// treating nil and empty byte slices alike.
func diffUser(want, got *store.User) string {
	type field struct {
		name string
		w, g any
	}
	fields := []field{
		{"ID", want.ID, got.ID},
		{"Username", want.Username, got.Username},
		{"Email", want.Email, got.Email},
		{"Name", want.Name, got.Name},
		{"Kind", want.Kind, got.Kind},
		{"Source", want.Source, got.Source},
		{"Role", want.Role, got.Role},
		{"Disabled", want.Disabled, got.Disabled},
		{"PasswordHash", want.PasswordHash, got.PasswordHash},
		{"PasswordTemporary", want.PasswordTemporary, got.PasswordTemporary},
		{"TOTPKeyVersion", want.TOTPKeyVersion, got.TOTPKeyVersion},
		{"TOTPLastStep", want.TOTPLastStep, got.TOTPLastStep},
		{"MFAFailures", want.MFAFailures, got.MFAFailures},
		{"MFALockedForever", want.MFALockedForever, got.MFALockedForever},
		{"Subject", want.Subject, got.Subject},
		{"EmailVerified", want.EmailVerified, got.EmailVerified},
	}
	for _, f := range fields {
		if f.w != f.g {
			return fmt.Sprintf("%s = %v, want %v", f.name, f.g, f.w)
		}
	}
	if len(want.Groups) > 0 || len(got.Groups) > 0 {
		if !reflect.DeepEqual(want.Groups, got.Groups) {
			return fmt.Sprintf("Groups = %q, want %q", got.Groups, want.Groups)
		}
	}
	for _, f := range []struct {
		name string
		w, g []byte
	}{{"TOTPKey", want.TOTPKey, got.TOTPKey}, {"BackupSalt", want.BackupSalt, got.BackupSalt}} {
		if !bytes.Equal(f.w, f.g) {
			return fmt.Sprintf("%s = %x, want %x", f.name, f.g, f.w)
		}
	}
	for _, f := range []struct {
		name string
		w, g time.Time
	}{
		{"PasswordExpiresAt", want.PasswordExpiresAt, got.PasswordExpiresAt},
		{"MFALockedUntil", want.MFALockedUntil, got.MFALockedUntil},
		{"CreatedAt", want.CreatedAt, got.CreatedAt},
	} {
		if !f.w.Equal(f.g) {
			return fmt.Sprintf("%s = %v, want %v", f.name, f.g, f.w)
		}
	}
	return ""
}

func diffSession(want, got *store.Session) string {
	switch {
	case !bytes.Equal(want.IDHash, got.IDHash):
		return fmt.Sprintf("IDHash = %x, want %x", got.IDHash, want.IDHash)
	case want.UserID != got.UserID:
		return fmt.Sprintf("UserID = %d, want %d", got.UserID, want.UserID)
	case want.Done != got.Done:
		return fmt.Sprintf("Done = %v, want %v", got.Done, want.Done)
	case want.MFAPassed != got.MFAPassed:
		return fmt.Sprintf("MFAPassed = %v, want %v", got.MFAPassed, want.MFAPassed)
	case want.MFASkipped != got.MFASkipped:
		return fmt.Sprintf("MFASkipped = %v, want %v", got.MFASkipped, want.MFASkipped)
	case !bytes.Equal(want.PendingKey, got.PendingKey):
		return fmt.Sprintf("PendingKey = %x, want %x", got.PendingKey, want.PendingKey)
	case want.Reauthenticated != got.Reauthenticated:
		return fmt.Sprintf("Reauthenticated = %v, want %v", got.Reauthenticated, want.Reauthenticated)
	case want.SID != got.SID:
		return fmt.Sprintf("SID = %q, want %q", got.SID, want.SID)
	case !slices.Equal(want.AMR, got.AMR):
		return fmt.Sprintf("AMR = %q, want %q", got.AMR, want.AMR)
	case want.MFARequired != got.MFARequired:
		return fmt.Sprintf("MFARequired = %v, want %v", got.MFARequired, want.MFARequired)
	case want.ReturnTo != got.ReturnTo:
		return fmt.Sprintf("ReturnTo = %q, want %q", got.ReturnTo, want.ReturnTo)
	case want.DeviceRemembered != got.DeviceRemembered:
		return fmt.Sprintf("DeviceRemembered = %v, want %v", got.DeviceRemembered, want.DeviceRemembered)
	case !want.CreatedAt.Equal(got.CreatedAt):
		return fmt.Sprintf("CreatedAt = %v, want %v", got.CreatedAt, want.CreatedAt)
	case !want.LastSeenAt.Equal(got.LastSeenAt):
		return fmt.Sprintf("LastSeenAt = %v, want %v", got.LastSeenAt, want.LastSeenAt)
	}
	return ""
}

// race runs fn(i) for i in [0, n) on n goroutines released at once, and waits for them.
func race(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(i)
		}()
	}
	close(start)
	wg.Wait()
}

// increment adds one to the account's MFAFailures in a read-modify-write inside Update,
// holding the account's lock for hold between the read and the write.
func increment(ctx context.Context, s store.Store, id int64, hold time.Duration) error {
	return s.Update(ctx, func(q store.Queries) error {
		u, err := q.User(ctx, id)
		if err != nil {
			return err
		}
		time.Sleep(hold)
		u.MFAFailures++
		return q.UpdateUser(ctx, u)
	})
}

// raceWins runs fn(i) as race does and answers how many calls answered true, and their errors.
func raceWins(n int, fn func(i int) (bool, error)) (wins int, errs []error) {
	var mu sync.Mutex
	race(n, func(i int) {
		ok, err := fn(i)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			wins++
		}
	})
	return wins, errs
}

// hash makes a distinct 32-byte session id hash.
func hash(s string) []byte {
	h := make([]byte, 32)
	copy(h, s)
	h[31] = 0xa5
	return h
}

// ---- users

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testUserCreateGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "alice")
	v := NewUser(t, s, "bob")
	if u.ID == v.ID {
		t.Fatalf("two accounts got the same ID %d", u.ID)
	}

	got := getUser(t, s, u.ID)
	if d := diffUser(u, got); d != "" {
		t.Errorf("User: %s", d)
	}
	got, err := s.UserByName(ctx, "alice")
	if err != nil {
		t.Fatalf("UserByName: %v", err)
	}
	if d := diffUser(u, got); d != "" {
		t.Errorf("UserByName: %s", d)
	}

	dup := &store.User{Username: "alice", Kind: store.KindInternal, Source: store.SourceLocal, Role: store.RoleUser, CreatedAt: t0}
	if err := s.CreateUser(ctx, dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateUser of a taken username = %v, want ErrConflict", err)
	}
	if n, err := s.CountUsers(ctx, ""); err != nil || n != 2 {
		t.Errorf("CountUsers after a refused duplicate = %d, %v; want 2", n, err)
	}

	if _, err := s.User(ctx, u.ID+v.ID+1000); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("User(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.UserByName(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UserByName(unknown) = %v, want ErrNotFound", err)
	}
}

func testUpdateUserRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "carol")
	other := NewUser(t, s, "dave")

	want := *u
	want.Email = "c@example.org"
	want.Name = "Carol C."
	want.Kind = store.KindExternal
	want.Source = store.SourceSSO
	want.Role = store.RoleAdmin
	want.Disabled = true
	want.PasswordHash = ""
	want.PasswordTemporary = true
	want.PasswordExpiresAt = t0.Add(72 * time.Hour).In(time.FixedZone("X", 3600))
	want.TOTPKey = []byte{0, 1, 2, 0xfe, 0xff, 0}
	want.TOTPKeyVersion = 3
	want.TOTPLastStep = 58_000_123
	want.MFAFailures = 7
	want.MFALockedUntil = t0.Add(15 * time.Minute)
	want.MFALockedForever = true
	if err := s.UpdateUser(ctx, &want); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if d := diffUser(&want, getUser(t, s, u.ID)); d != "" {
		t.Errorf("after UpdateUser: %s", d)
	}
	if !getUser(t, s, u.ID).Enrolled() {
		t.Errorf("Enrolled() = false after storing a key")
	}

	// UpdateUser leaves Username, BackupSalt and CreatedAt as they are.
	changed := want
	changed.Username = "mallory"
	changed.BackupSalt = []byte("other salt")
	changed.CreatedAt = t0.Add(time.Hour)
	if err := s.UpdateUser(ctx, &changed); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if d := diffUser(&want, getUser(t, s, u.ID)); d != "" {
		t.Errorf("UpdateUser changed a field it must leave: %s", d)
	}

	// And back to zero values: no key, no times, no flags.
	zero := *u
	zero.TOTPKey = nil
	zero.PasswordExpiresAt = time.Time{}
	zero.MFALockedUntil = time.Time{}
	if err := s.UpdateUser(ctx, &zero); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	got := getUser(t, s, u.ID)
	if d := diffUser(&zero, got); d != "" {
		t.Errorf("after UpdateUser to zero values: %s", d)
	}
	if got.Enrolled() || !got.PasswordExpiresAt.IsZero() || !got.MFALockedUntil.IsZero() {
		t.Errorf("zero values did not come back zero: enrolled %v, expires %v, locked until %v",
			got.Enrolled(), got.PasswordExpiresAt, got.MFALockedUntil)
	}

	// The other account is untouched.
	if d := diffUser(other, getUser(t, s, other.ID)); d != "" {
		t.Errorf("UpdateUser changed another account: %s", d)
	}

	missing := *u
	missing.ID = u.ID + other.ID + 1000
	if err := s.UpdateUser(ctx, &missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateUser(unknown) = %v, want ErrNotFound", err)
	}
}

// testGroups: an account's groups are read and written with its other fields and come back
// sorted and each once, whatever order they were written in.
func testGroups(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := &store.User{Username: "gina", Kind: store.KindInternal, Source: store.SourceLocal, Role: store.RoleUser,
		Groups: []string{"ops", "dev", "ops"}, CreatedAt: t0}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser with groups: %v", err)
	}
	other := NewUser(t, s, "hal")
	if got := getUser(t, s, u.ID).Groups; !reflect.DeepEqual(got, []string{"dev", "ops"}) {
		t.Errorf("Groups after CreateUser = %q, want [dev ops]", got)
	}
	if got := getUser(t, s, other.ID).Groups; got != nil {
		t.Errorf("Groups of an account made without any = %q, want nil", got)
	}

	u = getUser(t, s, u.ID)
	u.Groups = []string{"z.team", "a-team", "m_team", "a-team", "0"}
	if err := s.UpdateUser(ctx, u); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	want := []string{"0", "a-team", "m_team", "z.team"}
	got := getUser(t, s, u.ID)
	if !reflect.DeepEqual(got.Groups, want) {
		t.Errorf("Groups after UpdateUser = %q, want %q", got.Groups, want)
	}
	if !got.InGroup("m_team") || got.InGroup("m") || got.InGroup("") {
		t.Errorf("InGroup of %q: m_team %v, m %v, empty %v; want true, false, false",
			got.Groups, got.InGroup("m_team"), got.InGroup("m"), got.InGroup(""))
	}
	byName, err := s.UserByName(ctx, "gina")
	if err != nil || !reflect.DeepEqual(byName.Groups, want) {
		t.Errorf("UserByName groups = %q, %v; want %q", byName.Groups, err, want)
	}
	list, err := s.Users(ctx)
	if err != nil {
		t.Fatalf("Users: %v", err)
	}
	for _, l := range list {
		if l.ID == u.ID && !reflect.DeepEqual(l.Groups, want) {
			t.Errorf("Users lists groups %q, want %q", l.Groups, want)
		}
	}

	// The store keeps any name as it was given (which names are allowed is the service's
	// rule): a comma, a quote or a bracket does not split or spoil the list.
	odd := getUser(t, s, u.ID)
	odd.Groups = []string{"a,b", `q"uote`, "[x]", "é"}
	if err := s.UpdateUser(ctx, odd); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if got, want := getUser(t, s, u.ID).Groups, []string{"[x]", "a,b", `q"uote`, "é"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Groups = %q, want %q", got, want)
	}

	u.Groups = nil
	if err := s.UpdateUser(ctx, u); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if got := getUser(t, s, u.ID).Groups; got != nil {
		t.Errorf("Groups after removing every one = %q, want nil", got)
	}
	if got := getUser(t, s, other.ID).Groups; got != nil {
		t.Errorf("another account's groups changed to %q", got)
	}
}

// testGroupsRace: groups added to one account at once, each in a read-modify-write inside
// Update, are all kept: the account's lock serialises them.
func testGroupsRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "ivan")
	const n = 20
	var mu sync.Mutex
	var errs []error
	race(n, func(i int) {
		err := s.Update(ctx, func(q store.Queries) error {
			cur, err := q.User(ctx, u.ID)
			if err != nil {
				return err
			}
			cur.Groups = append(cur.Groups, fmt.Sprintf("g%02d", i))
			return q.UpdateUser(ctx, cur)
		})
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	})
	if len(errs) > 0 {
		t.Fatalf("%d of %d Updates failed, first: %v", len(errs), n, errs[0])
	}
	got := getUser(t, s, u.ID).Groups
	if len(got) != n {
		t.Errorf("after %d racing additions the account has %d groups (lost updates): %q", n, len(got), got)
	}
}

func testUsersListAndCount(t *testing.T, s store.Store) {
	ctx := t.Context()
	if us, err := s.Users(ctx); err != nil || len(us) != 0 {
		t.Fatalf("Users on an empty store = %d, %v", len(us), err)
	}
	names := []string{"u1", "u2", "u3", "u4"}
	for i, name := range names {
		u := &store.User{
			Username: name, Kind: store.KindInternal, Source: store.SourceLocal, Role: store.RoleUser,
			CreatedAt: t0.Add(time.Duration(i) * time.Minute),
		}
		if i%2 == 1 {
			u.Role = store.RoleAdmin
		}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
	}
	us, err := s.Users(ctx)
	if err != nil {
		t.Fatalf("Users: %v", err)
	}
	var got []string
	for _, u := range us {
		got = append(got, u.Username)
	}
	if want := []string{"u4", "u3", "u2", "u1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Users = %v, want newest first %v", got, want)
	}
	for role, want := range map[string]int{"": 4, store.RoleAdmin: 2, store.RoleUser: 2, "nobody": 0} {
		if n, err := s.CountUsers(ctx, role); err != nil || n != want {
			t.Errorf("CountUsers(%q) = %d, %v; want %d", role, n, err, want)
		}
	}
}

// ---- TOTP steps

func testTOTPStep(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "erin")
	v := NewUser(t, s, "frank")
	for _, c := range []struct {
		step int64
		want bool
	}{{100, true}, {100, false}, {99, false}, {0, false}, {101, true}, {103, true}, {102, false}} {
		ok, err := s.SetTOTPStep(ctx, u.ID, c.step)
		if err != nil || ok != c.want {
			t.Errorf("SetTOTPStep(%d) = %v, %v; want %v", c.step, ok, err, c.want)
		}
	}
	if got := getUser(t, s, u.ID).TOTPLastStep; got != 103 {
		t.Errorf("TOTPLastStep = %d, want 103", got)
	}
	// Steps are per account.
	if ok, err := s.SetTOTPStep(ctx, v.ID, 100); err != nil || !ok {
		t.Errorf("SetTOTPStep on another account = %v, %v; want true", ok, err)
	}
	if _, err := s.SetTOTPStep(ctx, u.ID+v.ID+1000, 5); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetTOTPStep(unknown account) = %v, want ErrNotFound", err)
	}
}

func testTOTPStepRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "grace")
	wins, errs := raceWins(20, func(int) (bool, error) { return s.SetTOTPStep(ctx, u.ID, 500) })
	if len(errs) > 0 {
		t.Fatalf("SetTOTPStep errors: %v", errs)
	}
	if wins != 1 {
		t.Errorf("20 racing SetTOTPStep of one step: %d accepted, want exactly 1", wins)
	}
}

// ---- backup codes

func testBackupCodes(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "heidi")
	v := NewUser(t, s, "ivan")
	macs := [][]byte{[]byte("mac-one-0123456789abcdef01234567"), []byte("mac-two-0123456789abcdef01234567"), {0, 0xff, 3}}
	if n, err := s.CountBackupCodes(ctx, u.ID); err != nil || n != 0 {
		t.Fatalf("CountBackupCodes before adding = %d, %v", n, err)
	}
	if err := s.AddBackupCodes(ctx, u.ID, macs); err != nil {
		t.Fatalf("AddBackupCodes: %v", err)
	}
	if err := s.AddBackupCodes(ctx, v.ID, macs[:1]); err != nil {
		t.Fatalf("AddBackupCodes (other account, same MAC): %v", err)
	}
	count := func(id int64, want int) {
		t.Helper()
		if n, err := s.CountBackupCodes(ctx, id); err != nil || n != want {
			t.Errorf("CountBackupCodes = %d, %v; want %d", n, err, want)
		}
	}
	use := func(id int64, mac []byte, want bool) {
		t.Helper()
		if ok, err := s.UseBackupCode(ctx, id, mac, t0); err != nil || ok != want {
			t.Errorf("UseBackupCode(%q) = %v, %v; want %v", mac, ok, err, want)
		}
	}
	count(u.ID, 3)
	use(u.ID, macs[0], true)
	use(u.ID, macs[0], false) // once only
	count(u.ID, 2)
	use(u.ID, []byte("unknown"), false)
	count(v.ID, 1) // the other account's copy of the MAC is still unused
	use(v.ID, macs[0], true)
	use(v.ID, macs[1], false) // not the other account's code
	count(u.ID, 2)

	if err := s.DeleteBackupCodes(ctx, u.ID); err != nil {
		t.Fatalf("DeleteBackupCodes: %v", err)
	}
	count(u.ID, 0)
	use(u.ID, macs[1], false) // voided
	if err := s.DeleteBackupCodes(ctx, u.ID); err != nil {
		t.Errorf("DeleteBackupCodes with none left: %v", err)
	}
	// New codes after regeneration work, even one equal to a voided one.
	if err := s.AddBackupCodes(ctx, u.ID, macs[:2]); err != nil {
		t.Fatalf("AddBackupCodes after delete: %v", err)
	}
	count(u.ID, 2)
	use(u.ID, macs[0], true)
	count(u.ID, 1)
}

func testBackupCodeRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "judy")
	mac := []byte("mac-raced-0123456789abcdef012345")
	if err := s.AddBackupCodes(ctx, u.ID, [][]byte{mac, []byte("mac-other")}); err != nil {
		t.Fatalf("AddBackupCodes: %v", err)
	}
	wins, errs := raceWins(20, func(int) (bool, error) { return s.UseBackupCode(ctx, u.ID, mac, t0) })
	if len(errs) > 0 {
		t.Fatalf("UseBackupCode errors: %v", errs)
	}
	if wins != 1 {
		t.Errorf("20 racing UseBackupCode of one code: %d accepted, want exactly 1", wins)
	}
	if n, err := s.CountBackupCodes(ctx, u.ID); err != nil || n != 1 {
		t.Errorf("CountBackupCodes = %d, %v; want 1", n, err)
	}
}

// ---- Update

var errTest = errors.New("storetest: fn failed")

// enrol writes an enrolment the way the account service does: key, step and codes at once.
func enrol(ctx context.Context, q store.Queries, id int64, key []byte, macs [][]byte) error {
	u, err := q.User(ctx, id)
	if err != nil {
		return err
	}
	u.TOTPKey = key
	u.TOTPKeyVersion = 1
	u.TOTPLastStep = 1000
	if err := q.UpdateUser(ctx, u); err != nil {
		return err
	}
	if err := q.DeleteBackupCodes(ctx, id); err != nil {
		return err
	}
	return q.AddBackupCodes(ctx, id, macs)
}

func testUpdateCommits(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "kim")
	macs := [][]byte{[]byte("m1"), []byte("m2"), []byte("m3")}
	if err := s.Update(ctx, func(q store.Queries) error {
		return enrol(ctx, q, u.ID, []byte("sealed key"), macs)
	}); err != nil {
		t.Fatalf("Update: %v", err)
	}
	got := getUser(t, s, u.ID)
	if !got.Enrolled() || !bytes.Equal(got.TOTPKey, []byte("sealed key")) || got.TOTPLastStep != 1000 {
		t.Errorf("after a committed enrolment: key %q, step %d", got.TOTPKey, got.TOTPLastStep)
	}
	if n, err := s.CountBackupCodes(ctx, u.ID); err != nil || n != 3 {
		t.Errorf("CountBackupCodes after a committed enrolment = %d, %v; want 3", n, err)
	}
}

func testUpdateRollsBackOnError(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "lee")
	err := s.Update(ctx, func(q store.Queries) error {
		if err := enrol(ctx, q, u.ID, []byte("sealed key"), [][]byte{[]byte("m1"), []byte("m2")}); err != nil {
			return err
		}
		if _, err := q.SetTOTPStep(ctx, u.ID, 2000); err != nil {
			return err
		}
		if err := q.SetOption(ctx, "mfaPolicy", "required"); err != nil {
			return err
		}
		if err := q.AddEvent(ctx, &store.Event{At: t0, Actor: "lee", User: "lee", Action: "mfa.enrolled"}); err != nil {
			return err
		}
		return errTest
	})
	if !errors.Is(err, errTest) {
		t.Fatalf("Update = %v, want fn's error", err)
	}
	assertUnchanged(t, s, u)
}

// assertUnchanged checks that nothing a failed enrolment of u wrote is visible.
func assertUnchanged(t *testing.T, s store.Store, u *store.User) {
	t.Helper()
	ctx := t.Context()
	got := getUser(t, s, u.ID)
	if d := diffUser(u, got); d != "" {
		t.Errorf("account changed by a rolled back Update: %s", d)
	}
	if got.Enrolled() {
		t.Errorf("account enrolled by a rolled back Update")
	}
	if n, err := s.CountBackupCodes(ctx, u.ID); err != nil || n != 0 {
		t.Errorf("CountBackupCodes after a rolled back Update = %d, %v; want 0", n, err)
	}
	if opts, err := s.Options(ctx); err != nil || len(opts) != 0 {
		t.Errorf("Options after a rolled back Update = %v, %v; want none", opts, err)
	}
	if es, err := s.Events(ctx, store.EventFilter{}); err != nil || len(es) != 0 {
		t.Errorf("Events after a rolled back Update = %d, %v; want none", len(es), err)
	}
}

func testUpdateRollsBackOnPanic(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "mia")
	func() {
		defer func() {
			if r := recover(); r != "storetest panic" {
				t.Errorf("recovered %v, want the panic of fn to go on", r)
			}
		}()
		s.Update(ctx, func(q store.Queries) error {
			if err := enrol(ctx, q, u.ID, []byte("sealed key"), [][]byte{[]byte("m1")}); err != nil {
				t.Errorf("enrol: %v", err)
			}
			if err := q.SetOption(ctx, "mfaPolicy", "required"); err != nil {
				t.Errorf("SetOption: %v", err)
			}
			panic("storetest panic")
		})
	}()
	assertUnchanged(t, s, u)

	// The store is still usable: the transaction did not stay open.
	done := make(chan error, 1)
	go func() {
		done <- s.Update(ctx, func(q store.Queries) error { return q.SetOption(ctx, "after", "panic") })
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Update after a panic: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Update after a panic did not finish: the panicking transaction was left open")
	}
	if err := s.SetOption(ctx, "after2", "panic"); err != nil {
		t.Fatalf("SetOption after a panic: %v", err)
	}
}

// testUpdateQueriesInside checks that every kind of query works inside Update and sees the
// transaction's own writes.
func testUpdateQueriesInside(t *testing.T, s store.Store) {
	ctx := t.Context()
	var id int64
	err := s.Update(ctx, func(q store.Queries) error {
		u := &store.User{Username: "nina", Kind: store.KindInternal, Source: store.SourceLocal, Role: store.RoleAdmin, CreatedAt: t0}
		if err := q.CreateUser(ctx, u); err != nil {
			return fmt.Errorf("CreateUser: %w", err)
		}
		id = u.ID
		if got, err := q.UserByName(ctx, "nina"); err != nil || got.ID != u.ID {
			return fmt.Errorf("UserByName inside Update = %v, %v", got, err)
		}
		if n, err := q.CountUsers(ctx, store.RoleAdmin); err != nil || n != 1 {
			return fmt.Errorf("CountUsers inside Update = %d, %v", n, err)
		}
		if err := q.CreateUser(ctx, &store.User{Username: "nina", Kind: store.KindInternal, Source: store.SourceLocal, Role: store.RoleUser, CreatedAt: t0}); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("duplicate CreateUser inside Update = %v, want ErrConflict", err)
		}
		if ok, err := q.SetTOTPStep(ctx, u.ID, 7); err != nil || !ok {
			return fmt.Errorf("SetTOTPStep inside Update = %v, %v", ok, err)
		}
		if err := q.AddBackupCodes(ctx, u.ID, [][]byte{[]byte("a"), []byte("b")}); err != nil {
			return fmt.Errorf("AddBackupCodes: %w", err)
		}
		if ok, err := q.UseBackupCode(ctx, u.ID, []byte("a"), t0); err != nil || !ok {
			return fmt.Errorf("UseBackupCode inside Update = %v, %v", ok, err)
		}
		if n, err := q.CountBackupCodes(ctx, u.ID); err != nil || n != 1 {
			return fmt.Errorf("CountBackupCodes inside Update = %d, %v", n, err)
		}
		if a, err := countFailure(ctx, q, nameKey("nina"), t0, 10); err != nil || a.Failures != 1 {
			return fmt.Errorf("counting a password failure inside Update = %+v, %v", a, err)
		}
		if _, ok, err := q.ReserveAddressAttempt(ctx, "192.0.2.1", t0, t0.Add(-time.Minute), 5); err != nil || !ok {
			return fmt.Errorf("ReserveAddressAttempt inside Update = %v, %v", ok, err)
		}
		sess := &store.Session{IDHash: hash("in-update"), UserID: u.ID, CreatedAt: t0, LastSeenAt: t0}
		if err := q.CreateSession(ctx, sess); err != nil {
			return fmt.Errorf("CreateSession: %w", err)
		}
		sess2 := *sess
		sess2.IDHash = hash("in-update-2")
		sess2.Done = true
		if err := q.ReplaceSession(ctx, sess.IDHash, &sess2); err != nil {
			return fmt.Errorf("ReplaceSession: %w", err)
		}
		if err := q.SetOption(ctx, "k", "v"); err != nil {
			return fmt.Errorf("SetOption: %w", err)
		}
		if err := q.AddEvent(ctx, &store.Event{At: t0, Actor: "cli", User: "nina", Action: "user.created"}); err != nil {
			return fmt.Errorf("AddEvent: %w", err)
		}
		if es, err := q.Events(ctx, store.EventFilter{}); err != nil || len(es) != 1 {
			return fmt.Errorf("listing events inside Update = %d, %v", len(es), err)
		}
		if v, err := q.SetMetaOnce(ctx, "m", "1"); err != nil || v != "1" {
			return fmt.Errorf("SetMetaOnce inside Update = %q, %v", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	// Everything is visible after the commit.
	u := getUser(t, s, id)
	if u.TOTPLastStep != 7 {
		t.Errorf("TOTPLastStep = %d, want 7", u.TOTPLastStep)
	}
	if n, err := s.CountBackupCodes(ctx, id); err != nil || n != 1 {
		t.Errorf("CountBackupCodes = %d, %v; want 1", n, err)
	}
	if a, err := s.PasswordFailures(ctx, nameKey("nina"), t0); err != nil || a.Failures != 1 {
		t.Errorf("PasswordFailures = %+v, %v; want 1 failure", a, err)
	}
	if n, err := s.CountAddressFailures(ctx, "192.0.2.1", t0.Add(-time.Minute)); err != nil || n != 1 {
		t.Errorf("CountAddressFailures = %d, %v; want 1", n, err)
	}
	if sess, err := s.Session(ctx, hash("in-update-2")); err != nil || !sess.Done {
		t.Errorf("Session = %+v, %v", sess, err)
	}
	if opts, err := s.Options(ctx); err != nil || opts["k"] != "v" {
		t.Errorf("Options = %v, %v", opts, err)
	}
	if v, err := s.Meta(ctx, "m"); err != nil || v != "1" {
		t.Errorf("Meta = %q, %v", v, err)
	}
}

func testUpdateSerialisesCounter(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "olga")
	const n = 50
	var mu sync.Mutex
	var errs []error
	race(n, func(int) {
		if err := increment(ctx, s, u.ID, 0); err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	})
	if len(errs) > 0 {
		t.Fatalf("%d of %d Updates failed, first: %v", len(errs), n, errs[0])
	}
	if got := getUser(t, s, u.ID).MFAFailures; got != n {
		t.Errorf("MFAFailures after %d racing read-modify-write Updates = %d, want %d (lost updates)", n, got, n)
	}
}

var errLocked = errors.New("storetest: locked")

// testUpdateLockoutRace is "50 parallel wrong codes never evaluate more guesses than the
// lockout allows" at store level: each guess counts a failure (and locks at 5) before it is
// evaluated, in one Update. The account is read with User, and with SessionUser as the
// "Verification Required" step reads it: both lock it.
func testUpdateLockoutRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	pat := NewUser(t, s, "pat")
	sess := &store.Session{IDHash: hash("pat's sign-in"), UserID: pat.ID, CreatedAt: t0, LastSeenAt: t0}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	quinn := NewUser(t, s, "quinn")
	t.Run("User", func(t *testing.T) {
		lockoutRace(t, s, quinn.ID, func(q store.Queries) (*store.User, error) { return q.User(ctx, quinn.ID) })
	})
	t.Run("SessionUser", func(t *testing.T) {
		lockoutRace(t, s, pat.ID, func(q store.Queries) (*store.User, error) {
			_, u, err := q.SessionUser(ctx, sess.IDHash)
			return u, err
		})
	})
}

// lockoutRace is testUpdateLockoutRace on the account id, read inside Update with read.
func lockoutRace(t *testing.T, s store.Store, id int64, read func(q store.Queries) (*store.User, error)) {
	ctx := t.Context()
	const n, limit = 50, 5
	now := time.Now()
	var mu sync.Mutex
	evaluated, refused := 0, 0
	var errs []error
	race(n, func(int) {
		err := s.Update(ctx, func(q store.Queries) error {
			u, err := read(q)
			if err != nil {
				return err
			}
			if now.Before(u.MFALockedUntil) || u.MFAFailures >= limit {
				return errLocked
			}
			u.MFAFailures++
			if u.MFAFailures == limit {
				u.MFALockedUntil = now.Add(15 * time.Minute)
			}
			return q.UpdateUser(ctx, u)
		})
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			evaluated++
		case errors.Is(err, errLocked):
			refused++
		default:
			errs = append(errs, err)
		}
	})
	if len(errs) > 0 {
		t.Fatalf("%d Updates failed, first: %v", len(errs), errs[0])
	}
	if evaluated != limit || refused != n-limit {
		t.Errorf("%d racing guesses: %d evaluated, %d refused; want %d and %d", n, evaluated, refused, limit, n-limit)
	}
	got := getUser(t, s, id)
	if got.MFAFailures != limit || !now.Before(got.MFALockedUntil) {
		t.Errorf("after the race: MFAFailures %d, locked %v; want %d and locked", got.MFAFailures, now.Before(got.MFALockedUntil), limit)
	}
}

// ---- password and address failures

// nameKey stands for the MAC of a username that the service passes (keys.UsernameMAC): to the
// store it is opaque bytes.
func nameKey(name string) []byte { return append([]byte("mac\x00"), name...) }

// countFailure is what the account service does with a password failure, reduced to what the
// store must make safe: inside Update, read the name's row (which locks it), add one, and at
// every every-th failure start the count again, locked for a minute.
func countFailure(ctx context.Context, q store.Queries, key []byte, now time.Time, every int) (store.PasswordFailures, error) {
	f, err := q.PasswordFailures(ctx, key, now)
	if err != nil {
		return f, err
	}
	f.Failures++
	if f.Failures >= every {
		f.Failures, f.LockedUntil = 0, now.Add(time.Minute)
	}
	f.CountsUntil = now.Add(time.Minute)
	return f, q.SetPasswordFailures(ctx, key, f, now)
}

// testPasswordFailures: a name key's row reads back as written, apart from other names', until
// it stops counting or is cleared.
func testPasswordFailures(t *testing.T, s store.Store) {
	ctx := t.Context()
	check := func(what string, got store.PasswordFailures, err error, want store.PasswordFailures) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got.Failures != want.Failures || !got.LockedUntil.Equal(want.LockedUntil) || !got.CountsUntil.Equal(want.CountsUntil) {
			t.Errorf("%s = %+v; want %+v", what, got, want)
		}
	}
	set := func(key []byte, f store.PasswordFailures, now time.Time) {
		t.Helper()
		if err := s.SetPasswordFailures(ctx, key, f, now); err != nil {
			t.Fatalf("SetPasswordFailures: %v", err)
		}
	}
	quinn, rita := nameKey("quinn"), nameKey("rita")
	const lockFor = 15 * time.Minute

	f, err := s.PasswordFailures(ctx, nameKey("nobody"), t0)
	check("PasswordFailures of a username never seen", f, err, store.PasswordFailures{})

	nine := store.PasswordFailures{Failures: 9, CountsUntil: t0.Add(lockFor)}
	set(quinn, nine, t0)
	f, err = s.PasswordFailures(ctx, quinn, t0)
	check("PasswordFailures after a write", f, err, nine)

	lockAt := t0.Add(10 * time.Second)
	locked := store.PasswordFailures{LockedUntil: lockAt.Add(lockFor), CountsUntil: lockAt.Add(lockFor)}
	set(quinn, locked, lockAt)
	f, err = s.PasswordFailures(ctx, quinn, lockAt)
	check("PasswordFailures after a second write", f, err, locked)

	// Other usernames are kept apart.
	one := store.PasswordFailures{Failures: 1, CountsUntil: lockAt.Add(lockFor)}
	set(rita, one, lockAt)
	f, err = s.PasswordFailures(ctx, rita, lockAt)
	check("another username", f, err, one)
	f, err = s.PasswordFailures(ctx, quinn, lockAt)
	check("the first username after another's write", f, err, locked)

	// A row counts until CountsUntil, and reads as none from then on, before any write
	// removes it.
	f, err = s.PasswordFailures(ctx, quinn, locked.CountsUntil.Add(-time.Nanosecond))
	check("PasswordFailures just before the row stops counting", f, err, locked)
	f, err = s.PasswordFailures(ctx, quinn, locked.CountsUntil)
	check("PasswordFailures once the row stopped counting", f, err, store.PasswordFailures{})

	if err := s.ClearPasswordFailures(ctx, quinn); err != nil {
		t.Fatalf("ClearPasswordFailures: %v", err)
	}
	f, err = s.PasswordFailures(ctx, quinn, lockAt)
	check("PasswordFailures after clearing", f, err, store.PasswordFailures{})
	f, err = s.PasswordFailures(ctx, rita, lockAt)
	check("PasswordFailures of the other username after clearing", f, err, one)
	if err := s.ClearPasswordFailures(ctx, nameKey("nobody")); err != nil {
		t.Errorf("ClearPasswordFailures of a username never seen: %v", err)
	}
}

// testPasswordFailuresStopCounting: rows that stopped counting are removed by later writes, so
// that names nobody has do not stay.
func testPasswordFailuresStopCounting(t *testing.T, s store.Store) {
	ctx := t.Context()
	const lockFor = 15 * time.Minute
	copier, _ := s.(store.Copier)
	rows := func() int {
		t.Helper()
		if copier == nil {
			return -1
		}
		c, err := copier.Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return int(c["password_failures"])
	}
	last := t0.Add(2 * time.Second)
	for _, name := range []string{"old-1", "old-2"} {
		if err := s.SetPasswordFailures(ctx, nameKey(name), store.PasswordFailures{Failures: 3, CountsUntil: last.Add(lockFor)}, last); err != nil {
			t.Fatal(err)
		}
	}
	// One second before they stop counting, they count.
	soon := last.Add(lockFor - time.Second)
	if a, err := s.PasswordFailures(ctx, nameKey("old-1"), soon); err != nil || a.Failures != 3 {
		t.Fatalf("PasswordFailures before they stop counting = %+v, %v; want 3 failures", a, err)
	}
	if err := s.SetPasswordFailures(ctx, nameKey("new"), store.PasswordFailures{Failures: 1, CountsUntil: soon.Add(lockFor)}, soon); err != nil {
		t.Fatal(err)
	}
	if n := rows(); n != 3 && n != -1 {
		t.Fatalf("%d rows while all count, want 3", n)
	}
	// From CountsUntil on they no longer count, and the next write removes them.
	gone := last.Add(lockFor)
	if a, err := s.PasswordFailures(ctx, nameKey("old-1"), gone); err != nil || a.Failures != 0 || !a.LockedUntil.IsZero() {
		t.Fatalf("PasswordFailures once they stopped counting = %+v, %v; want none", a, err)
	}
	if err := s.SetPasswordFailures(ctx, nameKey("old-2"), store.PasswordFailures{Failures: 1, CountsUntil: gone.Add(lockFor)}, gone); err != nil {
		t.Fatal(err)
	}
	if a, err := s.PasswordFailures(ctx, nameKey("old-2"), gone); err != nil || a.Failures != 1 {
		t.Fatalf("a name written again after it stopped counting = %+v, %v; want 1", a, err)
	}
	if n := rows(); n != 2 && n != -1 {
		t.Fatalf("%d rows after a write, want 2 (new and old-2): old-1 no longer counts", n)
	}
}

// testPasswordFailureRace: failures of one name counted at once inside Update each read what
// the one before wrote, so none is lost and no two see the same state.
func testPasswordFailureRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 30
	count := func(name []byte, every int) []store.PasswordFailures {
		var mu sync.Mutex
		var errs []error
		var answers []store.PasswordFailures
		race(n, func(int) {
			var a store.PasswordFailures
			err := s.Update(ctx, func(q store.Queries) error {
				var err error
				a, err = countFailure(ctx, q, name, t0, every)
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			answers = append(answers, a)
		})
		if len(errs) > 0 {
			t.Fatalf("counting password failures: errors %v", errs)
		}
		return answers
	}

	answers := count(nameKey("sam"), 100)
	if a, err := s.PasswordFailures(ctx, nameKey("sam"), t0); err != nil || a.Failures != n {
		t.Errorf("after %d racing failures: %+v, %v; want %d failures", n, a, err, n)
	}
	// Every answer is a distinct count: no two calls saw the same state.
	var got []int
	for _, a := range answers {
		got = append(got, a.Failures)
	}
	sort.Ints(got)
	for i, f := range got {
		if f != i+1 {
			t.Fatalf("answers of %d racing failures = %v, want 1..%d once each", n, got, n)
		}
	}

	// With a lock every 10, exactly 3 calls reach a lock and answer a fresh count.
	locks := 0
	for _, a := range count(nameKey("tom"), 10) {
		if a.Failures == 0 {
			locks++
			if !a.LockedUntil.Equal(t0.Add(time.Minute)) {
				t.Errorf("a locking answer is locked until %v, want %v", a.LockedUntil, t0.Add(time.Minute))
			}
		}
	}
	if locks != 3 {
		t.Errorf("%d racing failures with a lock every 10: %d reached a lock, want 3", n, locks)
	}
	if a, err := s.PasswordFailures(ctx, nameKey("tom"), t0); err != nil || a.Failures != 0 || !a.LockedUntil.Equal(t0.Add(time.Minute)) {
		t.Errorf("PasswordFailures after the race = %+v, %v", a, err)
	}
}

func testAddressFailures(t *testing.T, s store.Store) {
	ctx := t.Context()
	const a, b = "192.0.2.7", "2001:db8::1"
	window := time.Minute
	add := func(addr string, at, since time.Time) int64 {
		t.Helper()
		id, ok, err := s.ReserveAddressAttempt(ctx, addr, at, since, 100)
		if err != nil || !ok {
			t.Fatalf("ReserveAddressAttempt = %v, %v", ok, err)
		}
		return id
	}
	count := func(addr string, since time.Time, want int) {
		t.Helper()
		if n, err := s.CountAddressFailures(ctx, addr, since); err != nil || n != want {
			t.Errorf("CountAddressFailures(%s, since %v) = %d, %v; want %d", addr, since.Sub(t0), n, err, want)
		}
	}
	long := t0.Add(-2 * time.Minute)
	count(a, t0.Add(-window), 0)
	add(a, t0.Add(-90*time.Second), long)
	add(a, t0.Add(-30*time.Second), long)
	add(a, t0.Add(-10*time.Second), long)
	add(b, t0.Add(-5*time.Second), long)
	count(a, t0.Add(-window), 2)          // the one 90 s ago is outside the window
	count(a, t0.Add(-100*time.Second), 3) // but not forgotten yet
	count(b, t0.Add(-window), 1)

	// An attempt forgets those older than its window: the one 90 s ago is gone.
	id := add(a, t0, t0.Add(-window))
	count(a, t0.Add(-100*time.Second), 3)
	count(a, t0.Add(-window), 3)
	count(b, t0.Add(-window), 1)
	count("198.51.100.1", t0.Add(-window), 0)

	// A released attempt (a right password) no longer counts; releasing twice is no error.
	for range 2 {
		if err := s.ReleaseAddressAttempt(ctx, id); err != nil {
			t.Fatalf("ReleaseAddressAttempt: %v", err)
		}
	}
	count(a, t0.Add(-window), 2)

	// At the limit nothing is written; a limit of 0 is refused, not taken as "none".
	if _, ok, err := s.ReserveAddressAttempt(ctx, a, t0, t0.Add(-window), 2); err != nil || ok {
		t.Errorf("ReserveAddressAttempt at the limit = %v, %v; want false", ok, err)
	}
	count(a, t0.Add(-window), 2)
	if _, ok, err := s.ReserveAddressAttempt(ctx, a, t0, t0.Add(-window), 0); err == nil || ok {
		t.Errorf("ReserveAddressAttempt with limit 0 = %v, %v; want an error", ok, err)
	}
	count(a, t0.Add(-window), 2)
}

// testAddressAttemptRace: of many attempts from one address sent at once, exactly the limit
// pass, and each passing one has its own id.
func testAddressAttemptRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n, limit = 24, 5
	var mu sync.Mutex
	ids := map[int64]bool{}
	passed, errs := raceWins(n, func(i int) (bool, error) {
		id, ok, err := s.ReserveAddressAttempt(ctx, "203.0.113.5", t0.Add(time.Duration(i)*time.Millisecond), t0.Add(-time.Minute), limit)
		if ok {
			mu.Lock()
			ids[id] = true
			mu.Unlock()
		}
		return ok, err
	})
	if len(errs) > 0 {
		t.Fatalf("ReserveAddressAttempt errors: %v", errs)
	}
	if passed != limit || len(ids) != limit {
		t.Fatalf("%d of %d racing attempts passed (%d distinct ids), want exactly %d", passed, n, len(ids), limit)
	}
	if got, err := s.CountAddressFailures(ctx, "203.0.113.5", t0.Add(-time.Minute)); err != nil || got != limit {
		t.Errorf("CountAddressFailures = %d, %v; want %d", got, err, limit)
	}
	// Releasing frees exactly as many places again, also under a race.
	for id := range ids {
		if err := s.ReleaseAddressAttempt(ctx, id); err != nil {
			t.Fatal(err)
		}
		break
	}
	passed, errs = raceWins(n, func(int) (bool, error) {
		_, ok, err := s.ReserveAddressAttempt(ctx, "203.0.113.5", t0.Add(time.Second), t0.Add(-time.Minute), limit)
		return ok, err
	})
	if len(errs) > 0 || passed != 1 {
		t.Fatalf("after one release, %d racing attempts passed (errors %v), want 1", passed, errs)
	}
}

// ---- sessions

// testSessionUser: SessionUser answers what Session and User answer, for each session its own
// account (with its security-key flag), on its own and inside Update, and ErrNotFound for an
// unknown id.
func testSessionUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice, bob := NewUser(t, s, "alice"), NewUser(t, s, "bob")
	alice.TOTPKey, alice.TOTPKeyVersion, alice.TOTPLastStep = []byte("sealed key"), 2, 1234
	alice.Groups, alice.MFAFailures, alice.MFALockedUntil = []string{"ops", "staff"}, 3, t0.Add(time.Hour)
	if err := s.UpdateUser(ctx, alice); err != nil {
		t.Fatal(err)
	}
	bob.Disabled = true
	if err := s.UpdateUser(ctx, bob); err != nil {
		t.Fatal(err)
	}
	// The sessions' times differ from the accounts' (created at t0), so that a column read from
	// the wrong table shows.
	sa := &store.Session{IDHash: hash("alice's"), UserID: alice.ID, Done: true, MFAPassed: true, PendingKey: []byte("pk"),
		SID: "sid-a", AMR: []string{"pwd", "otp", "mfa"}, ReturnTo: "/x", CreatedAt: t0.Add(time.Minute),
		LastSeenAt: t0.Add(2 * time.Minute), DeviceRemembered: true}
	sb := &store.Session{IDHash: hash("bob's"), UserID: bob.ID, SID: "sid-b", AMR: []string{"pwd"}, MFARequired: true,
		CreatedAt: t0.Add(3 * time.Minute), LastSeenAt: t0.Add(4 * time.Minute)}
	for _, sess := range []*store.Session{sa, sb} {
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddWebAuthnCredential(ctx, &store.WebAuthnCredential{UserID: bob.ID, CredentialID: []byte("cred"),
		PublicKey: []byte{1}, Name: "Key", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	check := func(q store.Queries, where string) {
		for _, sess := range []*store.Session{sa, sb} {
			gotS, gotU, err := q.SessionUser(ctx, sess.IDHash)
			if err != nil {
				t.Fatalf("%s: SessionUser(%s): %v", where, sess.SID, err)
			}
			if d := diffSession(sess, gotS); d != "" {
				t.Errorf("%s: SessionUser(%s) session: %s", where, sess.SID, d)
			}
			wantU := getUser(t, q, sess.UserID)
			if d := diffUser(wantU, gotU); d != "" || gotU.SecurityKey != wantU.SecurityKey {
				t.Errorf("%s: SessionUser(%s) account: %s; SecurityKey %v, want %v", where, sess.SID, d, gotU.SecurityKey, wantU.SecurityKey)
			}
		}
		if _, _, err := q.SessionUser(ctx, hash("unknown")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: SessionUser(unknown) = %v, want ErrNotFound", where, err)
		}
	}
	check(s, "alone")
	if err := s.Update(ctx, func(q store.Queries) error { check(q, "inside Update"); return nil }); err != nil {
		t.Fatal(err)
	}
	if b := getUser(t, s, bob.ID); !b.SecurityKey || !b.Disabled || getUser(t, s, alice.ID).SecurityKey {
		t.Error("the accounts' security-key flags or bob's disabling are not what the test set")
	}
}

func testSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "uma")
	v := NewUser(t, s, "vic")
	s1 := &store.Session{
		IDHash: hash("s1"), UserID: u.ID, MFASkipped: true, PendingKey: []byte("sealed pending key"),
		CreatedAt: t0, LastSeenAt: t0.Add(time.Second),
	}
	if err := s.CreateSession(ctx, s1); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	got, err := s.Session(ctx, s1.IDHash)
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	if d := diffSession(s1, got); d != "" {
		t.Errorf("Session: %s", d)
	}
	dup := *s1
	dup.UserID = v.ID
	if err := s.CreateSession(ctx, &dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateSession of an existing hash = %v, want ErrConflict", err)
	}
	if _, err := s.Session(ctx, hash("unknown")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Session(unknown) = %v, want ErrNotFound", err)
	}

	// Each step moves the sign-in to a new id.
	s2 := &store.Session{
		IDHash: hash("s2"), UserID: u.ID, Done: true, MFAPassed: true, Reauthenticated: true,
		CreatedAt: t0, LastSeenAt: t0.Add(2 * time.Second),
	}
	if err := s.ReplaceSession(ctx, s1.IDHash, s2); err != nil {
		t.Fatalf("ReplaceSession: %v", err)
	}
	if _, err := s.Session(ctx, s1.IDHash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Session(old hash) after ReplaceSession = %v, want ErrNotFound", err)
	}
	got, err = s.Session(ctx, s2.IDHash)
	if err != nil {
		t.Fatalf("Session(new hash): %v", err)
	}
	if d := diffSession(s2, got); d != "" {
		t.Errorf("Session after ReplaceSession: %s", d)
	}
	if got.PendingKey != nil {
		t.Errorf("PendingKey after replacing with none = %x, want nil", got.PendingKey)
	}
	s3 := *s2
	s3.IDHash = hash("s3")
	if err := s.ReplaceSession(ctx, s1.IDHash, &s3); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReplaceSession from a gone hash = %v, want ErrNotFound", err)
	}
	// A session keeps its account and its sid: a replacement naming others is refused and
	// changes nothing.
	for what, other := range map[string]func(*store.Session){
		"account": func(x *store.Session) { x.UserID = v.ID },
		"sid":     func(x *store.Session) { x.SID = "another sid" },
	} {
		moved := *s2
		moved.IDHash, moved.MFASkipped = hash("moved"), true
		other(&moved)
		if err := s.ReplaceSession(ctx, s2.IDHash, &moved); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ReplaceSession to another %s = %v, want ErrNotFound", what, err)
		}
		if _, err := s.Session(ctx, moved.IDHash); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("after a refused ReplaceSession to another %s, its new hash is found (%v)", what, err)
		}
		if got, err := s.Session(ctx, s2.IDHash); err != nil || diffSession(s2, got) != "" {
			t.Errorf("after a refused ReplaceSession to another %s: %+v, %v; want it unchanged", what, got, err)
		}
	}
	// Replacing in place (same hash) works too.
	s2.MFASkipped = true
	if err := s.ReplaceSession(ctx, s2.IDHash, s2); err != nil {
		t.Errorf("ReplaceSession with the same hash: %v", err)
	}

	touched := t0.Add(time.Hour)
	if err := s.TouchSession(ctx, s2.IDHash, touched); err != nil {
		t.Fatalf("TouchSession: %v", err)
	}
	if got, err := s.Session(ctx, s2.IDHash); err != nil || !got.LastSeenAt.Equal(touched) || !got.MFASkipped {
		t.Errorf("after TouchSession: %+v, %v", got, err)
	}
	if err := s.TouchSession(ctx, hash("unknown"), touched); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TouchSession(unknown) = %v, want ErrNotFound", err)
	}

	if err := s.DeleteSession(ctx, s2.IDHash); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	if _, err := s.Session(ctx, s2.IDHash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Session after DeleteSession = %v, want ErrNotFound", err)
	}
	if err := s.DeleteSession(ctx, s2.IDHash); err != nil {
		t.Errorf("DeleteSession of a gone session: %v", err)
	}
}

func testReplaceSessionRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "wes")
	old := &store.Session{IDHash: hash("race-old"), UserID: u.ID, CreatedAt: t0, LastSeenAt: t0}
	if err := s.CreateSession(ctx, old); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	const n = 10
	var mu sync.Mutex
	var winners []int
	var errs []error
	race(n, func(i int) {
		next := *old
		next.IDHash = hash(fmt.Sprintf("race-new-%d", i))
		next.MFAPassed = true
		err := s.ReplaceSession(ctx, old.IDHash, &next)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			winners = append(winners, i)
		case !errors.Is(err, store.ErrNotFound):
			errs = append(errs, err)
		}
	})
	if len(errs) > 0 {
		t.Fatalf("ReplaceSession errors other than ErrNotFound: %v", errs)
	}
	if len(winners) != 1 {
		t.Fatalf("%d racing ReplaceSession from one hash: %d succeeded, want exactly 1", n, len(winners))
	}
	for i := range n {
		_, err := s.Session(ctx, hash(fmt.Sprintf("race-new-%d", i)))
		if i == winners[0] && err != nil {
			t.Errorf("the winner's session: %v", err)
		}
		if i != winners[0] && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a loser's session exists (%v)", err)
		}
	}
}

func testDeleteUserSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "xena")
	v := NewUser(t, s, "yuri")
	for _, c := range []struct {
		name string
		user int64
		done bool
	}{{"x1", u.ID, true}, {"x2", u.ID, true}, {"x3", u.ID, false}, {"y1", v.ID, true}} {
		if err := s.CreateSession(ctx, &store.Session{IDHash: hash(c.name), UserID: c.user, Done: c.done, CreatedAt: t0, LastSeenAt: t0}); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	exists := func(name string, want bool) {
		t.Helper()
		_, err := s.Session(ctx, hash(name))
		if want && err != nil {
			t.Errorf("session %s: %v, want it kept", name, err)
		}
		if !want && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("session %s: %v, want it gone", name, err)
		}
	}
	if err := s.DeleteUserSessions(ctx, u.ID, hash("x2")); err != nil {
		t.Fatalf("DeleteUserSessions: %v", err)
	}
	exists("x1", false)
	exists("x2", true)
	exists("x3", false) // sign-ins in progress go too
	exists("y1", true)
	if err := s.DeleteUserSessions(ctx, u.ID, nil); err != nil {
		t.Fatalf("DeleteUserSessions(keep none): %v", err)
	}
	exists("x2", false)
	exists("y1", true)
}

func testDeleteExpiredSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "zoe")
	now := t0
	cases := []struct {
		name      string
		done      bool
		created   time.Duration // before now
		lastSeen  time.Duration // before now
		wantGone  bool
		whyReason string
	}{
		{"signin-old", false, 11 * time.Minute, 11 * time.Minute, true, "sign-in older than 10 min"},
		{"signin-fresh", false, 5 * time.Minute, 5 * time.Minute, false, "fresh sign-in"},
		{"stepup-fresh", false, 2 * time.Hour, 5 * time.Minute, false, "a step-up begun 5 min ago"},
		{"stepup-old", false, 2 * time.Hour, 11 * time.Minute, true, "a step-up begun 11 min ago"},
		{"stepup-of-old-session", false, 13 * time.Hour, time.Minute, true, "a step-up of a session older than 12 h"},
		{"session-idle", true, time.Hour, 31 * time.Minute, true, "session idle over 30 min"},
		{"session-old", true, 13 * time.Hour, time.Minute, true, "session older than 12 h"},
		{"session-fresh", true, time.Hour, time.Minute, false, "active session"},
		{"session-new", true, 11 * time.Minute, time.Minute, false, "the sign-in rule is for sign-ins only"},
	}
	for _, c := range cases {
		if err := s.CreateSession(ctx, &store.Session{
			IDHash: hash(c.name), UserID: u.ID, Done: c.done,
			CreatedAt: now.Add(-c.created), LastSeenAt: now.Add(-c.lastSeen),
		}); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	n, err := s.DeleteExpiredSessions(ctx, now.Add(-10*time.Minute), now.Add(-30*time.Minute), now.Add(-12*time.Hour))
	if err != nil {
		t.Fatalf("DeleteExpiredSessions: %v", err)
	}
	if n != 5 {
		t.Errorf("DeleteExpiredSessions = %d, want 5", n)
	}
	for _, c := range cases {
		_, err := s.Session(ctx, hash(c.name))
		if c.wantGone && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s (%s): %v, want it gone", c.name, c.whyReason, err)
		}
		if !c.wantGone && err != nil {
			t.Errorf("%s (%s): %v, want it kept", c.name, c.whyReason, err)
		}
	}
	if n, err := s.DeleteExpiredSessions(ctx, now.Add(-10*time.Minute), now.Add(-30*time.Minute), now.Add(-12*time.Hour)); err != nil || n != 0 {
		t.Errorf("DeleteExpiredSessions again = %d, %v; want 0", n, err)
	}
}

// ---- options, events, meta

func testOptions(t *testing.T, s store.Store) {
	ctx := t.Context()
	opts, err := s.Options(ctx)
	if err != nil || len(opts) != 0 {
		t.Fatalf("Options on an empty store = %v, %v", opts, err)
	}
	for _, kv := range [][2]string{{"mfaPolicyInternal", "optional"}, {"mfaBackupCodeCount", "10"}, {"mfaPolicyInternal", "required"}, {"empty", ""}} {
		if err := s.SetOption(ctx, kv[0], kv[1]); err != nil {
			t.Fatalf("SetOption(%q, %q): %v", kv[0], kv[1], err)
		}
	}
	opts, err = s.Options(ctx)
	if err != nil {
		t.Fatalf("Options: %v", err)
	}
	want := map[string]string{"mfaPolicyInternal": "required", "mfaBackupCodeCount": "10", "empty": ""}
	if !reflect.DeepEqual(opts, want) {
		t.Errorf("Options = %v, want %v", opts, want)
	}
}

func testEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	if es, err := s.Events(ctx, store.EventFilter{}); err != nil || len(es) != 0 {
		t.Fatalf("Events on an empty store = %d, %v", len(es), err)
	}
	in := []*store.Event{
		{At: t0, Actor: "cli", User: "ann", Action: "user.created", Detail: "role=user"},
		{At: t0.Add(time.Second), Actor: "ann", User: "ann", Action: "mfa.enrolled"},
		{At: t0.Add(2 * time.Second), Actor: "system", User: "ben", Action: "mfa.locked", Detail: "until=…"},
		{At: t0.Add(3 * time.Second), Actor: "ann", User: "ann", Action: "mfa.locked"},
		{At: t0.Add(4 * time.Second), Actor: "cli", Action: "options.changed", Detail: "mfaPolicyInternal=required"},
	}
	var last int64
	for _, e := range in {
		if err := s.AddEvent(ctx, e); err != nil {
			t.Fatalf("AddEvent: %v", err)
		}
		if e.ID <= last {
			t.Fatalf("AddEvent set ID %d after %d, want increasing IDs", e.ID, last)
		}
		last = e.ID
	}
	list := func(f store.EventFilter, want ...int) {
		t.Helper()
		es, err := s.Events(ctx, f)
		if err != nil {
			t.Fatalf("Events(%+v): %v", f, err)
		}
		if len(es) != len(want) {
			t.Fatalf("Events(%+v) = %d events, want %d", f, len(es), len(want))
		}
		for i, w := range want {
			g, e := es[i], in[w]
			if g.ID != e.ID || !g.At.Equal(e.At) || g.Actor != e.Actor || g.User != e.User || g.Action != e.Action || g.Detail != e.Detail {
				t.Errorf("Events(%+v)[%d] = %+v, want %+v", f, i, *g, *e)
			}
		}
	}
	list(store.EventFilter{}, 4, 3, 2, 1, 0)
	list(store.EventFilter{User: "ann"}, 3, 1, 0)
	list(store.EventFilter{Action: "mfa.locked"}, 3, 2)
	list(store.EventFilter{User: "ann", Action: "mfa.locked"}, 3)
	list(store.EventFilter{User: "nobody"})
	list(store.EventFilter{Limit: 2}, 4, 3)
	list(store.EventFilter{User: "ann", Limit: 1}, 3)
}

func testMeta(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.Meta(ctx, "key_check"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Meta(unset) = %v, want ErrNotFound", err)
	}
	if v, err := s.SetMetaOnce(ctx, "key_check", "first"); err != nil || v != "first" {
		t.Errorf("SetMetaOnce first = %q, %v; want \"first\"", v, err)
	}
	if v, err := s.SetMetaOnce(ctx, "key_check", "second"); err != nil || v != "first" {
		t.Errorf("SetMetaOnce second = %q, %v; want the first value", v, err)
	}
	if v, err := s.Meta(ctx, "key_check"); err != nil || v != "first" {
		t.Errorf("Meta = %q, %v; want \"first\"", v, err)
	}

	// Instances starting at once agree on one value.
	const n = 10
	var mu sync.Mutex
	answers := map[string]int{}
	var errs []error
	race(n, func(i int) {
		v, err := s.SetMetaOnce(ctx, "raced", fmt.Sprint("value-", i))
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
		}
		answers[v]++
	})
	if len(errs) > 0 {
		t.Fatalf("SetMetaOnce errors: %v", errs)
	}
	if len(answers) != 1 {
		t.Errorf("%d racing SetMetaOnce answered %v, want one value for all", n, answers)
	}
	stored, err := s.Meta(ctx, "raced")
	if err != nil || answers[stored] != n {
		t.Errorf("Meta after the race = %q, %v; answers %v", stored, err, answers)
	}
}
