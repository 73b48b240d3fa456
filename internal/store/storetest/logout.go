package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
)

// The cases of back-channel logout (SPEC §7 "Logout"): the sessions whose applications are
// told, and the queue of notices every instance delivers from.

// logoutNoticeOf is a notice to client about the session sid, due at next.
func logoutNoticeOf(client, sid string, userID int64, next time.Time) *store.LogoutNotice {
	return &store.LogoutNotice{ClientID: client, UserID: userID, Subject: "subject-" + sid, SID: sid,
		CreatedAt: t0.Add(-time.Hour + 7*time.Nanosecond), NextAt: next}
}

func addNotice(t *testing.T, q store.Queries, n *store.LogoutNotice) *store.LogoutNotice {
	t.Helper()
	if err := q.AddLogoutNotice(t.Context(), n); err != nil {
		t.Fatalf("AddLogoutNotice: %v", err)
	}
	if n.ID == 0 {
		t.Fatalf("AddLogoutNotice left ID 0")
	}
	return n
}

// dueNotices checks which notices DueLogoutNotices answers, in order, and that they read back
// as written.
func dueNotices(t *testing.T, q store.Queries, now time.Time, limit int, want ...*store.LogoutNotice) {
	t.Helper()
	got, err := q.DueLogoutNotices(t.Context(), now, limit)
	if err != nil {
		t.Fatalf("DueLogoutNotices: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("DueLogoutNotices(%s, %d) answered %d notices, want %d", now, limit, len(got), len(want))
	}
	for i := range want {
		if d := diff(want[i], got[i]); d != "" {
			t.Errorf("DueLogoutNotices(%s)[%d]: %s", now, i, d)
		}
	}
}

func testLogoutNotices(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "lena")
	newClient(t, s, "c1", t0)
	newClient(t, s, "c2", t0)
	n1 := addNotice(t, s, logoutNoticeOf("c1", "s1", u.ID, t0))
	n2 := addNotice(t, s, logoutNoticeOf("c2", "s1", u.ID, t0.Add(time.Minute)))
	n3 := addNotice(t, s, logoutNoticeOf("c1", "s2", u.ID, t0.Add(-time.Minute)))
	if n1.ID == n2.ID || n2.ID == n3.ID || n1.ID == n3.ID {
		t.Fatalf("notices share ids: %d %d %d", n1.ID, n2.ID, n3.ID)
	}
	if n, err := s.CountLogoutNotices(ctx); err != nil || n != 3 {
		t.Errorf("CountLogoutNotices = %d, %v; want 3", n, err)
	}

	// Due: the earliest first, up to the limit, none before its time.
	dueNotices(t, s, t0, 10, n3, n1)
	dueNotices(t, s, t0.Add(time.Hour), 2, n3, n1)
	dueNotices(t, s, t0.Add(time.Hour), 10, n3, n1, n2)
	dueNotices(t, s, t0.Add(-2*time.Minute), 10)

	// A claim moves the notice on once; a claim with the old time, or of a notice that is
	// gone, answers false.
	lease := t0.Add(30 * time.Second)
	if ok, err := s.ClaimLogoutNotice(ctx, n1.ID, t0, lease); err != nil || !ok {
		t.Fatalf("ClaimLogoutNotice = %v, %v; want true", ok, err)
	}
	if ok, err := s.ClaimLogoutNotice(ctx, n1.ID, t0, lease.Add(time.Second)); err != nil || ok {
		t.Errorf("ClaimLogoutNotice with the time before the claim = %v, %v; want false", ok, err)
	}
	if ok, err := s.ClaimLogoutNotice(ctx, n1.ID+n2.ID+n3.ID, t0, lease); err != nil || ok {
		t.Errorf("ClaimLogoutNotice of no notice = %v, %v; want false", ok, err)
	}
	dueNotices(t, s, t0, 10, n3)

	// A failed attempt is recorded, and the notice comes back when it falls due.
	if err := s.RetryLogoutNotice(ctx, n1.ID, 1, t0.Add(2*time.Second), "503 Service Unavailable"); err != nil {
		t.Fatalf("RetryLogoutNotice: %v", err)
	}
	n1.Attempts, n1.NextAt, n1.LastError = 1, t0.Add(2*time.Second), "503 Service Unavailable"
	dueNotices(t, s, t0.Add(2*time.Second), 10, n3, n1)
	gone(t, "RetryLogoutNotice of no notice", s.RetryLogoutNotice(ctx, n1.ID+n2.ID+n3.ID, 1, t0, "x"))

	// Deleting is idempotent; removing a client removes its notices.
	if err := s.DeleteLogoutNotice(ctx, n3.ID); err != nil {
		t.Fatalf("DeleteLogoutNotice: %v", err)
	}
	if err := s.DeleteLogoutNotice(ctx, n3.ID); err != nil {
		t.Errorf("DeleteLogoutNotice of a notice gone: %v", err)
	}
	if err := s.DeleteClient(ctx, "c1"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	dueNotices(t, s, t0.Add(time.Hour), 10, n2)
	if n, err := s.CountLogoutNotices(ctx); err != nil || n != 1 {
		t.Errorf("CountLogoutNotices after DeleteClient = %d, %v; want 1", n, err)
	}
	// A notice of no client is refused.
	if err := s.AddLogoutNotice(ctx, logoutNoticeOf("c1", "s3", u.ID, t0)); err == nil {
		t.Errorf("AddLogoutNotice of a client that is gone succeeded")
	}
}

// testLogoutNoticeClaimRace: of 20 deliverers claiming one notice at once, one alone wins.
func testLogoutNoticeClaimRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "mira")
	newClient(t, s, "app", t0)
	n := addNotice(t, s, logoutNoticeOf("app", "s1", u.ID, t0))
	other := addNotice(t, s, logoutNoticeOf("app", "s2", u.ID, t0))
	wins, errs := raceWins(20, func(i int) (bool, error) {
		return s.ClaimLogoutNotice(ctx, n.ID, t0, t0.Add(30*time.Second+time.Duration(i)))
	})
	if len(errs) > 0 {
		t.Fatalf("ClaimLogoutNotice errors: %v", errs)
	}
	if wins != 1 {
		t.Errorf("20 racing claims of one notice: %d won, want exactly 1", wins)
	}
	dueNotices(t, s, t0, 10, other)
}

// testLogoutNoticesInsideUpdate: notices are added, seen and claimed inside a transaction, and
// a rolled back one leaves none.
func testLogoutNoticesInsideUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "nils")
	newClient(t, s, "app", t0)
	var kept *store.LogoutNotice
	err := s.Update(ctx, func(q store.Queries) error {
		kept = logoutNoticeOf("app", "s1", u.ID, t0)
		if err := q.AddLogoutNotice(ctx, kept); err != nil {
			return err
		}
		ns, err := q.DueLogoutNotices(ctx, t0, 10)
		if err != nil || len(ns) != 1 {
			return errors.New("DueLogoutNotices inside Update does not see the notice added")
		}
		if ok, err := q.ClaimLogoutNotice(ctx, kept.ID, t0, t0.Add(time.Second)); err != nil || !ok {
			return errors.New("ClaimLogoutNotice inside Update failed")
		}
		kept.NextAt = t0.Add(time.Second)
		n, err := q.CountLogoutNotices(ctx)
		if err != nil || n != 1 {
			return errors.New("CountLogoutNotices inside Update")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	dueNotices(t, s, t0.Add(time.Second), 10, kept)
	err = s.Update(ctx, func(q store.Queries) error {
		if err := q.AddLogoutNotice(ctx, logoutNoticeOf("app", "s2", u.ID, t0)); err != nil {
			return err
		}
		if err := q.DeleteLogoutNotice(ctx, kept.ID); err != nil {
			return err
		}
		return errTest
	})
	if !errors.Is(err, errTest) {
		t.Fatalf("Update = %v, want fn's error", err)
	}
	dueNotices(t, s, t0.Add(time.Hour), 10, kept)
}

// testSessionSIDs: the sids of an account's sessions and sign-ins, but the one kept, each once.
func testSessionSIDs(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "omar")
	v := NewUser(t, s, "pia")
	for _, sess := range []*store.Session{
		{IDHash: hash("sid-a"), UserID: u.ID, Done: true, SID: "a", CreatedAt: t0, LastSeenAt: t0},
		{IDHash: hash("sid-c"), UserID: u.ID, SID: "c", CreatedAt: t0, LastSeenAt: t0}, // a sign-in
		{IDHash: hash("sid-b"), UserID: u.ID, Done: true, SID: "b", CreatedAt: t0, LastSeenAt: t0},
		{IDHash: hash("sid-none"), UserID: u.ID, Done: true, CreatedAt: t0, LastSeenAt: t0},
		{IDHash: hash("sid-z"), UserID: v.ID, Done: true, SID: "z", CreatedAt: t0, LastSeenAt: t0},
	} {
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	sids := func(q store.Queries, userID int64, keep []byte, want ...string) {
		t.Helper()
		got, err := q.SessionSIDs(ctx, userID, keep)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("SessionSIDs(%d, %x) = %q, %v; want %q", userID, keep, got, err, want)
		}
	}
	sids(s, u.ID, nil, "a", "b", "c")
	sids(s, u.ID, hash("sid-b"), "a", "c")
	sids(s, v.ID, hash("sid-z"))
	sids(s, v.ID+u.ID+1, nil)
	var inside []string
	err := s.Update(ctx, func(q store.Queries) error {
		var err error
		if inside, err = q.SessionSIDs(ctx, u.ID, hash("sid-a")); err != nil {
			return err
		}
		return q.DeleteUserSessions(ctx, u.ID, hash("sid-a"))
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if !slices.Equal(inside, []string{"b", "c"}) {
		t.Errorf("SessionSIDs inside Update = %q, want [b c]", inside)
	}
	sids(s, u.ID, nil, "a")
}
