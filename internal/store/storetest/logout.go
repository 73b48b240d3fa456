package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
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

// endedOf answers the records DeleteEndedSessionClients answered as "sid/client/username",
// naming the account by the subject.
func endedOf(es []*store.EndedSessionClient, users map[int64]*store.User) []string {
	out := []string{}
	for _, e := range es {
		sub := fmt.Sprintf("%q, not the subject of user %d", e.Subject, e.UserID)
		if u := users[e.UserID]; u != nil && u.Subject == e.Subject {
			sub = u.Username
		}
		out = append(out, e.SID+"/"+e.ClientID+"/"+sub)
	}
	return out
}

// testEndedSessionClients: the records of sessions that ended are removed, the oldest first
// and up to the limit, and answered with the account's subject; those of a session or a
// sign-in still there stay; inside a rolled back Update nothing is removed.
func testEndedSessionClients(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "quinn")
	v := NewUser(t, s, "rosa")
	users := map[int64]*store.User{u.ID: u, v.ID: v}
	newClient(t, s, "c1", t0)
	newClient(t, s, "c2", t0)
	for _, sess := range []*store.Session{
		{IDHash: hash("live"), UserID: u.ID, Done: true, SID: "live", CreatedAt: t0, LastSeenAt: t0},
		{IDHash: hash("signin"), UserID: v.ID, SID: "signin", CreatedAt: t0, LastSeenAt: t0},
	} {
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	for _, r := range []struct {
		sid, client string
		user        int64
		at          time.Time
	}{
		{"live", "c1", u.ID, t0.Add(-time.Hour)},
		{"signin", "c2", v.ID, t0.Add(-time.Hour)},
		{"gone1", "c2", u.ID, t0.Add(2 * time.Minute)},
		{"gone1", "c1", u.ID, t0.Add(time.Minute)},
		{"gone2", "c1", v.ID, t0.Add(-time.Minute)},
		{"gone3", "c2", v.ID, t0.Add(3 * time.Minute)},
	} {
		if err := s.AddSessionClient(ctx, r.sid, r.client, r.user, r.at); err != nil {
			t.Fatalf("AddSessionClient(%s, %s): %v", r.sid, r.client, err)
		}
	}
	sweep := func(q store.Queries, limit int, want ...string) {
		t.Helper()
		got, err := q.DeleteEndedSessionClients(ctx, limit)
		if err != nil {
			t.Fatalf("DeleteEndedSessionClients(%d): %v", limit, err)
		}
		if g := endedOf(got, users); !slices.Equal(g, want) {
			t.Errorf("DeleteEndedSessionClients(%d) = %q, want %q", limit, g, want)
		}
	}
	// The two oldest, answered by sid and client.
	sweep(s, 2, "gone1/c1/quinn", "gone2/c1/rosa")
	sweep(s, 10, "gone1/c2/quinn", "gone3/c2/rosa")
	sweep(s, 10)
	for sid, want := range map[string][]string{"live": {"c1"}, "signin": {"c2"}, "gone1": nil, "gone2": nil} {
		if ids, err := s.SessionClients(ctx, sid); err != nil || !slices.Equal(ids, want) {
			t.Errorf("SessionClients(%s) after the sweeps = %q, %v; want %q", sid, ids, err, want)
		}
	}

	// Once its session is gone, a record is taken; a removed client takes its records along.
	if err := s.DeleteSession(ctx, hash("live")); err != nil {
		t.Fatal(err)
	}
	if err := s.AddSessionClient(ctx, "gone4", "c2", u.ID, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteClient(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	// Inside Update: a rolled back sweep leaves the record, a committed one takes it.
	err := s.Update(ctx, func(q store.Queries) error {
		sweep(q, 10, "live/c1/quinn")
		return errTest
	})
	if !errors.Is(err, errTest) {
		t.Fatalf("Update = %v, want fn's error", err)
	}
	err = s.Update(ctx, func(q store.Queries) error {
		sweep(q, 10, "live/c1/quinn")
		sweep(q, 10)
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	sweep(s, 10)
}

// testEndedSessionClientsRace: sweeps racing over the records of ended sessions, on their own
// and inside Update, are each answered different records, and together every one once; of
// transactions removing one session's records at once, one is answered each.
func testEndedSessionClientsRace(t *testing.T, s store.Store) {
	endedRace(t, s, s)
}

// endedRace is testEndedSessionClientsRace through two handles (a and b may be one).
func endedRace(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	u := NewUser(t, a, "sage")
	newClient(t, a, "c1", t0)
	newClient(t, a, "c2", t0)
	if err := a.CreateSession(ctx, &store.Session{IDHash: hash("live"), UserID: u.ID, Done: true, SID: "live",
		CreatedAt: t0, LastSeenAt: t0}); err != nil {
		t.Fatal(err)
	}
	const sessions = 60
	for i := range sessions {
		for _, c := range []string{"c1", "c2"} {
			if err := a.AddSessionClient(ctx, fmt.Sprint("sid-", i), c, u.ID, t0.Add(time.Duration(i)*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := a.AddSessionClient(ctx, "live", "c1", u.ID, t0); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		errs []error
	)
	take := func(got []*store.EndedSessionClient, err error) bool {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			return false
		}
		for _, e := range got {
			seen[e.SID+"/"+e.ClientID]++
			if e.Subject != u.Subject || e.UserID != u.ID {
				errs = append(errs, fmt.Errorf("record %s/%s answered with user %d, subject %q", e.SID, e.ClientID, e.UserID, e.Subject))
			}
		}
		return len(got) > 0
	}
	race(8, func(i int) {
		st := []store.Store{a, b}[i%2]
		for {
			var (
				got []*store.EndedSessionClient
				err error
			)
			if i%4 < 2 {
				got, err = st.DeleteEndedSessionClients(ctx, 7)
			} else {
				err = st.Update(ctx, func(q store.Queries) error {
					var err error
					got, err = q.DeleteEndedSessionClients(ctx, 7)
					return err
				})
			}
			if !take(got, err) {
				return
			}
		}
	})
	if len(errs) > 0 {
		t.Fatalf("DeleteEndedSessionClients: %v", errs)
	}
	if len(seen) != 2*sessions {
		t.Errorf("%d records answered, want %d", len(seen), 2*sessions)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("record %s answered %d times", k, n)
		}
	}
	if ids, err := a.SessionClients(ctx, "live"); err != nil || !slices.Equal(ids, []string{"c1"}) {
		t.Errorf("SessionClients(live) = %q, %v; want [c1]", ids, err)
	}

	// One session's records, removed by many at once.
	for _, c := range []string{"c1", "c2"} {
		if err := a.AddSessionClient(ctx, "ending", c, u.ID, t0); err != nil {
			t.Fatal(err)
		}
	}
	var answered []string
	race(10, func(i int) {
		st := []store.Store{a, b}[i%2]
		var (
			ids []string
			err error
		)
		if i%4 < 2 {
			ids, err = st.DeleteSessionClients(ctx, "ending")
		} else {
			err = st.Update(ctx, func(q store.Queries) error {
				var err error
				ids, err = q.DeleteSessionClients(ctx, "ending")
				return err
			})
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
		}
		answered = append(answered, ids...)
	})
	slices.Sort(answered)
	if len(errs) > 0 || !slices.Equal(answered, []string{"c1", "c2"}) {
		t.Errorf("10 racing DeleteSessionClients answered %q (errors %v), want c1 and c2 once each", answered, errs)
	}
}
