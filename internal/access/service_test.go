package access_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/access"
	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/authz"
	"github.com/twofold-auth/twofold/internal/clock"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/postgres"
	"github.com/twofold-auth/twofold/internal/store/postgres/pgtest"
	"github.com/twofold-auth/twofold/internal/store/sqlite"
	"github.com/twofold-auth/twofold/internal/store/storetest"
)

var (
	admin = account.Actor{Name: "root", Admin: true}
	user  = account.Actor{Name: "mallory"}
	t0    = time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
)

// openDB opens the SQLite database in dir, closed at the end of the test.
func openDB(t *testing.T, dir string) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "twofold.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// newService makes a service over st on clk, as the app does: with an options cache of its own.
func newService(st store.Store, clk clock.Clock) *access.Service {
	return access.New(access.Config{Store: st, Options: options.NewCache(st.Options, clk.Now), Now: clk.Now})
}

func setup(t *testing.T) (*access.Service, store.Store, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(t0)
	st := openDB(t, t.TempDir())
	return newService(st, clk), st, clk
}

func add(t *testing.T, s *access.Service, spec access.RuleSpec, at int) *access.RuleView {
	t.Helper()
	v, err := s.AddRule(t.Context(), admin, spec, at)
	if err != nil {
		t.Fatalf("AddRule(%+v, %d): %v", spec, at, err)
	}
	return v
}

func hosts(t *testing.T, s *access.Service) []string {
	t.Helper()
	rs, err := s.Rules(t.Context(), admin)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, r := range rs {
		if r.Position != i+1 {
			t.Errorf("rule %d is listed with position %d", i+1, r.Position)
		}
		out = append(out, r.Hosts[0])
	}
	return out
}

func errField(err error) (code, field string) {
	var e *errs.Error
	if errors.As(err, &e) {
		return e.Code, e.Field
	}
	return "", ""
}

func TestAddRuleRefusals(t *testing.T) {
	s, st, _ := setup(t)
	ok := access.RuleSpec{Hosts: []string{"app.example.com"}, Policy: "one_factor"}
	with := func(f func(*access.RuleSpec)) access.RuleSpec {
		spec := ok
		f(&spec)
		return spec
	}
	for _, tc := range []struct {
		name  string
		spec  access.RuleSpec
		field string
		says  string
	}{
		{"no host", with(func(r *access.RuleSpec) { r.Hosts = nil }), "hosts", "at least one host"},
		{"a host with a path", with(func(r *access.RuleSpec) { r.Hosts = []string{"app.example.com/x"} }), "hosts", "not a host name"},
		{"a host that names a path", with(func(r *access.RuleSpec) { r.Hosts = []string{"path.example.com/policy"} }), "hosts", "not a host name"},
		{"a subject that names a path", with(func(r *access.RuleSpec) { r.Subjects = []string{"group:path/x"} }), "subjects", "group:path/x"},
		{"a long path", with(func(r *access.RuleSpec) { r.Path = strings.Repeat("a", 1001) }), "path", "at most 1000"},
		{"a wildcard inside", with(func(r *access.RuleSpec) { r.Hosts = []string{"a.*.example.com"} }), "hosts", "not a host name"},
		{"a bad regular expression", with(func(r *access.RuleSpec) { r.Path = "^/(admin" }), "path", "does not compile"},
		{"a control character in the path", with(func(r *access.RuleSpec) { r.Path = "^/a\x1bb" }), "path", "control characters"},
		{"an unknown method", with(func(r *access.RuleSpec) { r.Methods = []string{"FETCH"} }), "methods", "FETCH"},
		{"a subject of no kind", with(func(r *access.RuleSpec) { r.Subjects = []string{"alice"} }), "subjects", "user:NAME or group:NAME"},
		{"a group in upper case", with(func(r *access.RuleSpec) { r.Subjects = []string{"group:Ops"} }), "subjects", "group:Ops"},
		{"an unknown policy", with(func(r *access.RuleSpec) { r.Policy = "allow" }), "policy", "bypass, one_factor, two_factor, deny"},
		{"no policy", with(func(r *access.RuleSpec) { r.Policy = "" }), "policy", "policy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.AddRule(t.Context(), admin, tc.spec, 0)
			if code, field := errField(err); code != errs.Invalid || field != tc.field || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("AddRule = %v (field %q), want invalid_request about %s saying %q", err, field, tc.field, tc.says)
			}
		})
	}
	if _, err := s.AddRule(t.Context(), user, ok, 0); errs.Code(err) != errs.Forbidden {
		t.Errorf("AddRule by a non-admin = %v, want forbidden", err)
	}
	for _, at := range []int{-1, 2} {
		_, err := s.AddRule(t.Context(), admin, ok, at)
		if code, field := errField(err); code != errs.Invalid || field != "position" || !strings.Contains(err.Error(), "1 to 1") {
			t.Errorf("AddRule at %d of none = %v (field %q)", at, err, field)
		}
	}
	if rs, _ := st.AccessRules(t.Context()); len(rs) != 0 {
		t.Errorf("refused rules were stored: %d", len(rs))
	}
	if es, _ := st.Events(t.Context(), store.EventFilter{}); len(es) != 0 {
		t.Errorf("refused rules were audited: %+v", es[0])
	}
}

func TestRulePositionsAndAudit(t *testing.T) {
	s, st, _ := setup(t)
	ctx := t.Context()
	a := add(t, s, access.RuleSpec{Hosts: []string{"A.example.com"}, Methods: []string{"get"}, Policy: "bypass"}, 0)
	if a.Position != 1 || a.Hosts[0] != "a.example.com" || a.Methods[0] != "GET" || a.Subjects == nil {
		t.Errorf("AddRule answered %+v", a)
	}
	add(t, s, access.RuleSpec{Hosts: []string{"c.example.com"}, Policy: "deny"}, 0)
	if v := add(t, s, access.RuleSpec{Hosts: []string{"b.example.com"}, Subjects: []string{"group:ops"}, Policy: "two_factor"}, 2); v.Position != 2 {
		t.Errorf("AddRule at 2 answered position %d", v.Position)
	}
	if h := hosts(t, s); !slices.Equal(h, []string{"a.example.com", "b.example.com", "c.example.com"}) {
		t.Fatalf("rules = %q", h)
	}
	if v, err := s.MoveRule(ctx, admin, 3, 1); err != nil || v.Position != 1 || v.Hosts[0] != "c.example.com" {
		t.Fatalf("MoveRule(3, 1) = %+v, %v", v, err)
	}
	if h := hosts(t, s); !slices.Equal(h, []string{"c.example.com", "a.example.com", "b.example.com"}) {
		t.Fatalf("after a move the rules are %q", h)
	}
	if _, err := s.MoveRule(ctx, admin, 4, 1); errs.Code(err) != errs.NotFound {
		t.Errorf("MoveRule(4, 1) = %v, want not_found", err)
	}
	if _, err := s.MoveRule(ctx, admin, 1, 4); !strings.Contains(fmt.Sprint(err), "1 to 3") {
		t.Errorf("MoveRule(1, 4) = %v, want the positions said", err)
	}
	if v, err := s.RemoveRule(ctx, admin, 2); err != nil || v.Hosts[0] != "a.example.com" {
		t.Fatalf("RemoveRule(2) = %+v, %v", v, err)
	}
	if _, err := s.RemoveRule(ctx, admin, 3); errs.Code(err) != errs.NotFound {
		t.Errorf("RemoveRule(3) of 2 = %v, want not_found", err)
	}
	for _, f := range []func() error{
		func() error { _, err := s.Rules(ctx, user); return err },
		func() error { _, err := s.RemoveRule(ctx, user, 1); return err },
		func() error { _, err := s.MoveRule(ctx, user, 1, 2); return err },
		func() error { _, err := s.CheckURL(ctx, user, "https://a.example.com/", "", ""); return err },
	} {
		if err := f(); errs.Code(err) != errs.Forbidden {
			t.Errorf("a non-admin's call = %v, want forbidden", err)
		}
	}
	es, err := st.Events(ctx, store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		if e.Actor != "root" {
			t.Errorf("event %s by %q", e.Action, e.Actor)
		}
		got = append(got, e.Action+" "+e.Detail)
	}
	want := []string{
		"access.rule_removed rule 2, bypass: host a.example.com; method GET",
		"access.rule_moved rule 3 to 1, deny: host c.example.com",
		"access.rule_added rule 2, two_factor: host b.example.com; subject group:ops",
		"access.rule_added rule 2, deny: host c.example.com",
		"access.rule_added rule 1, bypass: host a.example.com; method GET",
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit trail:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCheckURL(t *testing.T) {
	s, st, _ := setup(t)
	ctx := t.Context()
	alice := storetest.NewUser(t, st, "alice")
	alice.Groups = []string{"ops"}
	if err := st.UpdateUser(ctx, alice); err != nil {
		t.Fatal(err)
	}
	storetest.NewUser(t, st, "bob")
	add(t, s, access.RuleSpec{Hosts: []string{"public.example.com"}, Policy: "bypass"}, 0)
	add(t, s, access.RuleSpec{Hosts: []string{"*.example.com"}, Path: "^/admin", Subjects: []string{"group:ops"}, Policy: "two_factor"}, 0)
	add(t, s, access.RuleSpec{Hosts: []string{"app.example.com"}, Methods: []string{"GET"}, Policy: "one_factor"}, 0)
	for _, tc := range []struct {
		url, user, method string
		decision, outcome string
		why               []string
	}{
		{"https://public.example.com/x", "", "", "rule 1: bypass", authz.Allow, nil},
		{"https://app.example.com/admin/x", "alice", "", "rule 2: two_factor", authz.Allow,
			[]string{"rule 1: the host app.example.com is not public.example.com"}},
		{"https://app.example.com/admin/x", "", "", "rule 2: two_factor", authz.SignIn,
			[]string{"rule 1: the host app.example.com is not public.example.com"}},
		{"https://app.example.com/admin/x", "Bob", "get", "rule 2: two_factor", authz.Forbidden,
			[]string{"rule 1: the host app.example.com is not public.example.com", "rule 2: bob is not among its subjects"}},
		{"https://app.example.com/page", "bob", "POST", "default: deny", authz.Forbidden,
			[]string{"rule 1: the host app.example.com is not public.example.com",
				`rule 2: the path "/page" does not match "^/admin"`, "rule 3: the method POST is not GET"}},
	} {
		res, err := s.CheckURL(ctx, admin, tc.url, tc.user, tc.method)
		if err != nil {
			t.Fatalf("CheckURL(%s, %s): %v", tc.url, tc.user, err)
		}
		if res.Decision != tc.decision || res.Outcome != tc.outcome || !slices.Equal(res.Why, tc.why) && len(tc.why)+len(res.Why) > 0 {
			t.Errorf("CheckURL(%s, %q, %q) = %+v, want %s (%s) because %q", tc.url, tc.user, tc.method, res, tc.decision, tc.outcome, tc.why)
		}
	}
	for _, tc := range []struct{ url, user, method, field string }{
		{"app.example.com/x", "", "", "url"},
		{"ftp://app.example.com/", "", "", "url"},
		{"https://app.example.com/", "", "FETCH", "method"},
		{"https://app.example.com/", "no body", "", "user"},
		{"https://app.example.com/", "nobody", "", "user"},
	} {
		if _, err := s.CheckURL(ctx, admin, tc.url, tc.user, tc.method); func() bool { _, f := errField(err); return f != tc.field }() {
			t.Errorf("CheckURL(%q, %q, %q) = %v, want a refusal about %s", tc.url, tc.user, tc.method, err, tc.field)
		}
	}
}

// TestCacheReach: a rule saved by a second service on the same database (another instance, or
// the command line) is in force at the first within 5 seconds of the injected clock, and the
// saving service's own change at once; so is the default policy.
func TestCacheReach(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		dir := t.TempDir()
		testCacheReach(t, func() store.Store { return openDB(t, dir) })
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		url := pgtest.URL(t)
		testCacheReach(t, func() store.Store {
			st, err := postgres.Open(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		})
	})
}

// testCacheReach runs TestCacheReach on the stores open makes, each a new handle on one
// database.
func testCacheReach(t *testing.T, open func() store.Store) {
	clk := clock.NewFake(t0)
	server, other := newService(open(), clk), newService(open(), clk)
	ctx := t.Context()
	decide := func(s *access.Service) string {
		t.Helper()
		tg, _ := authz.ParseTarget("GET", "https://app.example.com/")
		d, err := access.Check(ctx, s, tg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if d.Rule < 0 {
			return "default " + d.Policy
		}
		return d.Policy
	}
	if got := decide(server); got != "default deny" {
		t.Fatalf("with no rules the decision is %q", got)
	}
	add(t, other, access.RuleSpec{Hosts: []string{"app.example.com"}, Policy: "bypass"}, 0)
	if got := decide(other); got != "bypass" {
		t.Errorf("the saving instance decides %q at once, want bypass", got)
	}
	clk.Advance(access.MaxAge / 2)
	if got := decide(server); got != "default deny" {
		t.Logf("the server saw the rule early (%q): allowed, the reach is a bound", got)
	}
	clk.Advance(5*time.Second - access.MaxAge/2)
	if got := decide(server); got != "bypass" {
		t.Errorf("5 seconds after another instance added a rule the server decides %q, want bypass", got)
	}
	if _, err := other.RemoveRule(ctx, admin, 1); err != nil {
		t.Fatal(err)
	}
	st := open()
	if err := st.SetOption(ctx, options.AccessDefaultPolicy, "one_factor"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Second)
	if got := decide(server); got != "default one_factor" {
		t.Errorf("5 seconds after the rule went and the default changed the server decides %q", got)
	}
}

// TestCacheFailsClosed: when the rules cannot be read, Current answers the error, never the
// rules read before.
func TestCacheFailsClosed(t *testing.T) {
	s, st, clk := setup(t)
	add(t, s, access.RuleSpec{Hosts: []string{"app.example.com"}, Policy: "bypass"}, 0)
	if _, err := s.Current(t.Context()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	clk.Advance(access.MaxAge)
	if set, err := s.Current(t.Context()); err == nil {
		t.Errorf("with the database closed Current answered %d rules", len(set.Rules))
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Current(ctx); err == nil {
		t.Error("Current answered with a cancelled context and a closed database")
	}
}

func TestDefaultPolicyOption(t *testing.T) {
	o, ok := options.Lookup(options.AccessDefaultPolicy)
	if !ok || o.Default != authz.Deny || !slices.Equal(o.Choices, authz.DefaultPolicies) || o.Description == "" {
		t.Errorf("the option accessDefaultPolicy is %+v", o)
	}
	if _, err := options.Validate(options.AccessDefaultPolicy, "bypass"); err == nil {
		t.Error("accessDefaultPolicy accepts bypass")
	}
}
