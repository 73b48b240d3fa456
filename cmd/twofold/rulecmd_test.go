package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/access"
	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/app/apptest"
	"github.com/twofold-auth/twofold/internal/authz"
	"github.com/twofold-auth/twofold/internal/clock"
)

// ruleHosts answers the first host of each rule `rule list --json` prints, after checking the
// positions and the shape of a rule.
func ruleHosts(t *testing.T, data string) []string {
	t.Helper()
	hosts := []string{}
	for i, r := range get(cliJSON(t, data, "rule", "list", "--json"), "rules").([]any) {
		m := r.(map[string]any)
		for _, k := range []string{"position", "hosts", "path", "methods", "subjects", "policy", "created_at"} {
			if _, ok := m[k]; !ok {
				t.Errorf("rule list --json: a rule without %q: %v", k, m)
			}
		}
		if int(m["position"].(float64)) != i+1 {
			t.Errorf("rule list --json: rule %d has position %v", i+1, m["position"])
		}
		hosts = append(hosts, m["hosts"].([]any)[0].(string))
	}
	return hosts
}

// TestCLIRules: rule add appends or goes where --position says, list prints the rules in
// order (a table, or JSON), move and remove renumber, check prints the deciding rule and why
// the rules before it did not match; a rule that breaks a rule is refused with its reason and
// nothing is stored; every change is audited.
func TestCLIRules(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	if out := mustCLI(t, data, "rule", "list"); !strings.Contains(out, "No access rules") {
		t.Errorf("rule list of none: %q", out)
	}
	mustCLI(t, data, "user", "add", "alice", "--email", "alice@example.org")
	mustCLI(t, data, "user", "groups", "alice", "--add", "ops")

	// Flags before and after, repeated.
	out := mustCLI(t, data, "rule", "add", "--host", "app.example.com", "--host", "*.app.example.com",
		"--path", `^/admin(/|$)`, "--subject", "group:ops", "--subject", "user:bob", "--policy", "two_factor")
	if !strings.HasPrefix(out, "Added rule 1: two_factor: host app.example.com, *.app.example.com; path ^/admin(/|$); subject group:ops, user:bob") {
		t.Errorf("rule add printed %q", out)
	}
	mustCLI(t, data, "rule", "add", "--host", "app.example.com", "--method", "GET", "--method", "head", "--policy", "one_factor")
	if out := mustCLI(t, data, "rule", "add", "--policy", "bypass", "--host", "public.example.com", "--position", "1"); !strings.HasPrefix(out, "Added rule 1: bypass") {
		t.Errorf("rule add --position 1 printed %q", out)
	}
	mustCLI(t, data, "rule", "add", "--host", "*.example.com", "--policy", "deny")
	if got := ruleHosts(t, data); !slices.Equal(got, []string{"public.example.com", "app.example.com", "app.example.com", "*.example.com"}) {
		t.Fatalf("rules = %q", got)
	}
	table := mustCLI(t, data, "rule", "list")
	for _, want := range []string{"#", "POLICY", "1  bypass", "two_factor", "group:ops,user:bob", "GET,HEAD", "anyone", "any"} {
		if !strings.Contains(table, want) {
			t.Errorf("rule list lacks %q:\n%s", want, table)
		}
	}

	// check: the deciding rule, then why each before it did not match.
	out = mustCLI(t, data, "rule", "check", "https://app.example.com/admin/users", "--user", "alice")
	want := "rule 2: two_factor\n  rule 1: the host app.example.com is not public.example.com\n"
	if out != want {
		t.Errorf("rule check as alice printed\n%s\nwant\n%s", out, want)
	}
	out = mustCLI(t, data, "rule", "check", "https://app.example.com/page?x=1", "--method", "POST", "--user", "alice")
	if !strings.HasPrefix(out, "rule 4: deny\n") || !strings.Contains(out, `rule 2: the path "/page?x=1" does not match "^/admin(/|$)"`) ||
		!strings.Contains(out, "rule 3: the method POST is not GET or HEAD") {
		t.Errorf("rule check of a POST printed\n%s", out)
	}
	if out := mustCLI(t, data, "rule", "check", "https://example.com/"); !strings.HasPrefix(out, "default: deny\n") {
		t.Errorf("rule check with no rule matching printed\n%s", out)
	}
	mustCLI(t, data, "options", "set", "accessDefaultPolicy", "one_factor")
	res := cliJSON(t, data, "rule", "check", "https://example.com/", "--json")
	if str(res, "decision") != "default: one_factor" || res["rule"].(float64) != 0 || len(res["why"].([]any)) != 4 {
		t.Errorf("rule check --json = %v", res)
	}
	if out := mustCLI(t, data, "rule", "check", "https://app.example.com/admin"); !strings.Contains(out, "signs in first") {
		t.Errorf("rule check without --user of a rule with subjects printed\n%s", out)
	}

	// move and remove renumber.
	if out := mustCLI(t, data, "rule", "move", "4", "--position", "1"); !strings.HasPrefix(out, "Moved rule 4 to 1: deny") {
		t.Errorf("rule move printed %q", out)
	}
	if out := mustCLI(t, data, "rule", "remove", "1"); !strings.HasPrefix(out, "Removed rule 1: deny") {
		t.Errorf("rule remove printed %q", out)
	}
	if got := ruleHosts(t, data); !slices.Equal(got, []string{"public.example.com", "app.example.com", "app.example.com"}) {
		t.Fatalf("rules after move and remove = %q", got)
	}

	// Refusals: exit 1 with the reason, nothing stored; usage errors exit 2.
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"rule", "add", "--host", "a.example.com", "--path", "^/(x", "--policy", "deny"}, 1, "does not compile"},
		{[]string{"rule", "add", "--host", "a.example.com", "--policy", "allow"}, 1, "bypass, one_factor, two_factor, deny"},
		{[]string{"rule", "add", "--host", "a.example.com", "--subject", "bob", "--policy", "deny"}, 1, "user:NAME or group:NAME"},
		{[]string{"rule", "add", "--host", "a.example.com", "--policy", "deny", "--position", "9"}, 1, "1 to 4"},
		{[]string{"rule", "add", "--policy", "deny"}, 2, "--host is required"},
		{[]string{"rule", "add", "--host", "a.example.com"}, 2, "policy"},
		{[]string{"rule", "add", "--host", "a.example.com", "--policy", "deny", "--position", "0"}, 2, "from 1"},
		{[]string{"rule", "remove", "7"}, 1, "There is no rule 7"},
		{[]string{"rule", "remove", "one"}, 2, "from 1"},
		{[]string{"rule", "move", "1"}, 2, "position"},
		{[]string{"rule", "move", "1", "--position", "5"}, 1, "1 to 3"},
		{[]string{"rule", "check", "app.example.com/x"}, 1, "absolute http or https URL"},
		{[]string{"rule", "check", "https://app.example.com/", "--user", "nobody"}, 1, "no account"},
		{[]string{"rule", "frob"}, 2, "unknown command rule frob"},
	} {
		r := runCLI(t, data, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.says) {
			t.Errorf("twofold %s: exit %d, stderr %q; want exit %d saying %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.code, tc.says)
		}
	}
	if got := ruleHosts(t, data); len(got) != 3 {
		t.Errorf("refused commands changed the rules to %q", got)
	}

	var actions []string
	for _, e := range get(cliJSON(t, data, "audit", "--json"), "events").([]any) {
		if a := str(e, "action"); strings.HasPrefix(a, "access.") {
			actions = append(actions, a+" by "+str(e, "actor"))
		}
	}
	if !slices.Equal(actions, []string{"access.rule_removed by cli", "access.rule_moved by cli", "access.rule_added by cli",
		"access.rule_added by cli", "access.rule_added by cli", "access.rule_added by cli"}) {
		t.Errorf("audit: %q", actions)
	}
}

// TestCLIRuleReachesServer: a rule added with the command line (another process, another
// app.Open of the same data folder) is in force at a running server within 5 seconds of the
// server's clock.
func TestCLIRuleReachesServer(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	clk := clock.NewFake(time.Date(2026, 11, 30, 4, 0, 0, 0, time.UTC))
	a := apptest.Serve(t, app.Config{Data: data, Clock: clk})
	target, _ := authz.ParseTarget("GET", "https://app.example.com/")
	decide := func() authz.Decision {
		t.Helper()
		d, err := access.Check(context.Background(), a.Rules, target, nil)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := decide(); d.Rule != -1 || d.Policy != authz.Deny {
		t.Fatalf("before any rule: %+v", d)
	}
	mustCLI(t, data, "rule", "add", "--host", "app.example.com", "--policy", "bypass")
	clk.Advance(5 * time.Second)
	if d := decide(); d.Rule != 0 || d.Outcome != authz.Allow {
		t.Errorf("5 seconds after rule add the server decides %+v, want rule 1's bypass", d)
	}
	mustCLI(t, data, "rule", "remove", "1")
	mustCLI(t, data, "options", "set", "accessDefaultPolicy", "two_factor")
	clk.Advance(5 * time.Second)
	if d := decide(); d.Rule != -1 || d.Policy != authz.TwoFactor {
		t.Errorf("5 seconds after rule remove and the default's change the server decides %+v", d)
	}
}
