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

// The cases of the access rules of forward auth (SPEC §8), which Run runs with the others.
var accessRuleTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"AccessRules", testAccessRules},
	{"AccessRulePositions", testAccessRulePositions},
	{"AccessRulesInsideUpdate", testAccessRulesInsideUpdate},
	{"AccessRuleRace", func(t *testing.T, s store.Store) { testAccessRuleRace(t, s, s) }},
}

// ruleOf is an access rule named by its one host, with the other fields set from i.
func ruleOf(host string, i int) *store.AccessRule {
	r := &store.AccessRule{Hosts: []string{host}, Policy: "one_factor", CreatedAt: t0.Add(time.Duration(i) * time.Second)}
	if i%2 == 1 {
		r.Hosts = append(r.Hosts, "*."+host)
		r.Path, r.Methods, r.Subjects, r.Policy = `^/admin(/|$)\?x="é"`, []string{"GET", "HEAD"}, []string{"user:alice", "group:ops"}, "two_factor"
	}
	return r
}

// hostsOf answers the first host of each rule of s, in order, after checking that positions
// run from 1 without a gap.
func hostsOf(t *testing.T, q store.Queries) []string {
	t.Helper()
	rs, err := q.AccessRules(t.Context())
	if err != nil {
		t.Fatalf("AccessRules: %v", err)
	}
	hosts := []string{}
	for i, r := range rs {
		if r.Position != i+1 {
			t.Errorf("rule %d of the list has position %d", i+1, r.Position)
		}
		hosts = append(hosts, r.Hosts[0])
	}
	return hosts
}

func version(t *testing.T, q store.Queries) int64 {
	t.Helper()
	v, err := q.AccessRulesVersion(t.Context())
	if err != nil {
		t.Fatalf("AccessRulesVersion: %v", err)
	}
	return v
}

func testAccessRules(t *testing.T, s store.Store) {
	ctx := t.Context()
	if rs, err := s.AccessRules(ctx); err != nil || len(rs) != 0 {
		t.Fatalf("AccessRules of a new store = %v, %v", rs, err)
	}
	if v := version(t, s); v != 0 {
		t.Errorf("AccessRulesVersion of a new store = %d, want 0", v)
	}
	var want []*store.AccessRule
	for i, host := range []string{"a.example.com", "b.example.com", "c.example.com"} {
		r := ruleOf(host, i)
		if err := s.AddAccessRule(ctx, r, 0); err != nil {
			t.Fatalf("AddAccessRule: %v", err)
		}
		if r.ID == 0 || r.Position != i+1 {
			t.Errorf("AddAccessRule appended at ID %d, position %d; want position %d", r.ID, r.Position, i+1)
		}
		want = append(want, r)
	}
	got, err := s.AccessRules(ctx)
	if err != nil || len(got) != len(want) {
		t.Fatalf("AccessRules = %d rules, %v; want %d", len(got), err, len(want))
	}
	for i := range want {
		if d := diff(want[i], got[i]); d != "" {
			t.Errorf("rule %d: %s", i+1, d)
		}
	}
	if got[0].Methods != nil || got[0].Subjects != nil || got[0].Path != "" {
		t.Errorf("a rule with no path, methods or subjects reads back as %+v", got[0])
	}
	if v := version(t, s); v != 3 {
		t.Errorf("AccessRulesVersion after three adds = %d, want 3", v)
	}

	r, err := s.RemoveAccessRule(ctx, 2)
	if err != nil || r.Hosts[0] != "b.example.com" {
		t.Fatalf("RemoveAccessRule(2) = %+v, %v", r, err)
	}
	if h := hostsOf(t, s); !slices.Equal(h, []string{"a.example.com", "c.example.com"}) {
		t.Errorf("after removing rule 2 the rules are %q", h)
	}
	v := version(t, s)
	for _, n := range []int{0, 3, -1} {
		if _, err := s.RemoveAccessRule(ctx, n); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RemoveAccessRule(%d) = %v, want ErrNotFound", n, err)
		}
	}
	if err := s.AddAccessRule(ctx, ruleOf("x.example.com", 0), 4); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AddAccessRule at 4 of 2 = %v, want ErrNotFound", err)
	}
	if h := hostsOf(t, s); len(h) != 2 || version(t, s) != v {
		t.Errorf("refused changes changed the rules to %q, version %d to %d", h, v, version(t, s))
	}
}

func testAccessRulePositions(t *testing.T, s store.Store) {
	ctx := t.Context()
	add := func(host string, at int) {
		t.Helper()
		if err := s.AddAccessRule(ctx, ruleOf(host, 0), at); err != nil {
			t.Fatalf("AddAccessRule(%s, %d): %v", host, at, err)
		}
	}
	add("b", 0)
	add("a", 1)  // first
	add("d", 3)  // the end plus one
	add("c", 3)  // in the middle
	add("e", 0)  // appended
	add("a0", 1) // first again
	add("d0", 5) // before d
	want := []string{"a0", "a", "b", "c", "d0", "d", "e"}
	if h := hostsOf(t, s); !slices.Equal(h, want) {
		t.Fatalf("rules after adds = %q, want %q", h, want)
	}
	for _, tc := range []struct {
		n, m int
		want []string
	}{
		{1, 7, []string{"a", "b", "c", "d0", "d", "e", "a0"}},
		{7, 1, []string{"a0", "a", "b", "c", "d0", "d", "e"}},
		{2, 4, []string{"a0", "b", "c", "a", "d0", "d", "e"}},
		{6, 3, []string{"a0", "b", "d", "c", "a", "d0", "e"}},
		{3, 3, []string{"a0", "b", "d", "c", "a", "d0", "e"}},
	} {
		r, err := s.MoveAccessRule(ctx, tc.n, tc.m)
		if err != nil || r.Position != tc.m {
			t.Fatalf("MoveAccessRule(%d, %d) = %+v, %v", tc.n, tc.m, r, err)
		}
		if h := hostsOf(t, s); !slices.Equal(h, tc.want) {
			t.Fatalf("after MoveAccessRule(%d, %d) the rules are %q, want %q", tc.n, tc.m, h, tc.want)
		}
	}
	for _, nm := range [][2]int{{0, 1}, {8, 1}, {1, 0}, {1, 8}} {
		if _, err := s.MoveAccessRule(ctx, nm[0], nm[1]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("MoveAccessRule(%d, %d) = %v, want ErrNotFound", nm[0], nm[1], err)
		}
	}
	if _, err := s.RemoveAccessRule(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveAccessRule(ctx, 6); err != nil {
		t.Fatal(err)
	}
	if h := hostsOf(t, s); !slices.Equal(h, []string{"b", "d", "c", "a", "d0"}) {
		t.Errorf("after removing the first and the last the rules are %q", h)
	}
}

// testAccessRulesInsideUpdate: the changes join the caller's transaction and roll back with it.
func testAccessRulesInsideUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.AddAccessRule(ctx, ruleOf("kept", 0), 0); err != nil {
		t.Fatal(err)
	}
	v := version(t, s)
	err := s.Update(ctx, func(q store.Queries) error {
		if err := q.AddAccessRule(ctx, ruleOf("gone", 0), 1); err != nil {
			return err
		}
		if _, err := q.MoveAccessRule(ctx, 1, 2); err != nil {
			return err
		}
		if h := hostsOf(t, q); !slices.Equal(h, []string{"kept", "gone"}) {
			t.Errorf("inside Update the rules are %q", h)
		}
		return errTest
	})
	if !errors.Is(err, errTest) {
		t.Fatalf("Update = %v", err)
	}
	if h := hostsOf(t, s); !slices.Equal(h, []string{"kept"}) || version(t, s) != v {
		t.Errorf("after a rolled back Update the rules are %q, version %d (was %d)", h, version(t, s), v)
	}
}

// testAccessRuleRace adds, moves and removes rules through a and b at once (two handles on one
// database, or one store twice): every add is kept, and the positions run from 1 without a gap
// or two rules at one place.
func testAccessRuleRace(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	const n = 16
	for i := range 4 {
		if err := a.AddAccessRule(ctx, ruleOf(fmt.Sprintf("seed%d", i), i), 0); err != nil {
			t.Fatal(err)
		}
	}
	v := version(t, a)
	var mu sync.Mutex
	var errs []error
	race(n, func(i int) {
		s := a
		if i%2 == 1 {
			s = b
		}
		var err error
		switch i % 4 {
		case 0, 1:
			err = s.AddAccessRule(ctx, ruleOf(fmt.Sprintf("r%d", i), i), 0) // append
		case 2:
			err = s.AddAccessRule(ctx, ruleOf(fmt.Sprintf("r%d", i), i), 1)
		case 3:
			_, err = s.MoveAccessRule(ctx, 1, 3)
		}
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	})
	for _, err := range errs {
		if err != nil {
			t.Errorf("a change at the same time: %v", err)
		}
	}
	h := hostsOf(t, b)
	if len(h) != 4+n*3/4 {
		t.Errorf("after %d adds at once there are %d rules, want %d: %q", n*3/4, len(h), 4+n*3/4, h)
	}
	if got := version(t, a); got != v+n {
		t.Errorf("AccessRulesVersion after %d changes moved from %d to %d", n, v, got)
	}
}
