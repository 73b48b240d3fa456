package httpapi_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/twofold-auth/twofold/internal/account"
)

// fmtNum says a JSON number as it was written.
func fmtNum(v any) string { return fmt.Sprint(v) }

// storedRuleHosts answers the first host of each rule in the database, in order.
func (h *harness) storedRuleHosts() []string {
	h.t.Helper()
	rs, err := h.store.AccessRules(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	hosts := []string{}
	for _, r := range rs {
		hosts = append(hosts, r.Hosts[0])
	}
	return hosts
}

// TestAdminRulesAPI: an administrator adds (appending, or at a position), lists, moves,
// removes and checks access rules under /admin/rules; a rule that breaks a rule, such as a
// path that is no regular expression, answers 400 and stores nothing; someone who is not an
// administrator can do none of it.
func TestAdminRulesAPI(t *testing.T) {
	h := newHarness(t)
	admin := h.signIn("admin", h.bootstrap())
	c := admin.c

	if list := asList(t, c.get("/api/v1/admin/rules").ok(t, 200).json, "rules"); len(list) != 0 {
		t.Fatalf("rules of a new server: %v", list)
	}
	added := c.post("/api/v1/admin/rules", map[string]any{"hosts": []string{"app.example.com"}, "path": "^/admin",
		"subjects": []string{"group:ops"}, "policy": "two_factor"}).ok(t, 201)
	for _, k := range []string{"position", "hosts", "path", "methods", "subjects", "policy", "created_at"} {
		if _, ok := added.json[k]; !ok {
			t.Errorf("a rule without %s: %s", k, added.raw)
		}
	}
	if fmtNum(added.json["position"]) != "1" || asString(t, added.json, "policy") != "two_factor" || len(asList(t, added.json, "methods")) != 0 {
		t.Errorf("added: %s", added.raw)
	}
	c.post("/api/v1/admin/rules", map[string]any{"hosts": []string{"app.example.com"}, "policy": "one_factor"}).ok(t, 201)
	first := c.post("/api/v1/admin/rules", map[string]any{"hosts": []string{"public.example.com"}, "policy": "bypass", "position": 1}).ok(t, 201)
	if fmtNum(first.json["position"]) != "1" {
		t.Errorf("added at 1: %s", first.raw)
	}
	if got := h.storedRuleHosts(); !slices.Equal(got, []string{"public.example.com", "app.example.com", "app.example.com"}) {
		t.Fatalf("stored rules %q", got)
	}
	list := asList(t, c.get("/api/v1/admin/rules").ok(t, 200).json, "rules")
	if len(list) != 3 || asString(t, list[2].(map[string]any), "policy") != "one_factor" {
		t.Errorf("listed %v", list)
	}

	// Refusals: 400 naming the reason, nothing stored.
	for _, body := range []map[string]any{
		{"hosts": []string{"app.example.com"}, "path": "^/(admin", "policy": "deny"},
		{"hosts": []string{"app.example.com"}, "policy": "allow"},
		{"hosts": []string{}, "policy": "deny"},
		{"hosts": []string{"app.example.com"}, "methods": []string{"FETCH"}, "policy": "deny"},
		{"hosts": []string{"app.example.com"}, "subjects": []string{"alice"}, "policy": "deny"},
		{"hosts": []string{"app.example.com"}, "policy": "deny", "position": 9},
	} {
		c.post("/api/v1/admin/rules", body).wantError(t, 400, "invalid_request")
	}
	e := c.post("/api/v1/admin/rules", map[string]any{"hosts": []string{"app.example.com"}, "path": "^/(admin", "policy": "deny"}).
		wantError(t, 400, "invalid_request")
	if msg := asString(t, e, "message"); !strings.Contains(msg, "does not compile") {
		t.Errorf("a bad path expression is refused with %q", msg)
	}
	c.raw("POST", "/api/v1/admin/rules", `{"hosts":["a.example.com"],"policy":"deny","extra":1}`).wantError(t, 400, "invalid_request")
	if got := h.storedRuleHosts(); len(got) != 3 {
		t.Fatalf("refused rules were stored: %q", got)
	}

	// Move and remove renumber; a rule that is not there is 404.
	moved := c.post("/api/v1/admin/rules/1/move", map[string]any{"position": 3}).ok(t, 200)
	if fmtNum(moved.json["position"]) != "3" || asStrings(t, moved.json, "hosts")[0] != "public.example.com" {
		t.Errorf("moved: %s", moved.raw)
	}
	c.post("/api/v1/admin/rules/1/move", map[string]any{"position": 4}).wantError(t, 400, "invalid_request")
	c.post("/api/v1/admin/rules/9/move", map[string]any{"position": 1}).wantError(t, 404, "not_found")
	c.call("DELETE", "/api/v1/admin/rules/2", nil).ok(t, 204)
	c.call("DELETE", "/api/v1/admin/rules/3", nil).wantError(t, 404, "not_found")
	c.call("DELETE", "/api/v1/admin/rules/x", nil).wantError(t, 404, "not_found")
	if got := h.storedRuleHosts(); !slices.Equal(got, []string{"app.example.com", "public.example.com"}) {
		t.Fatalf("after move and remove the rules are %q", got)
	}

	// Check: the deciding rule and why the ones before it did not match.
	chk := c.post("/api/v1/admin/rules/check", map[string]any{"url": "https://public.example.com/x", "method": "GET"}).ok(t, 200)
	if asString(t, chk.json, "decision") != "rule 2: bypass" || !slices.Equal(asStrings(t, chk.json, "why"),
		[]string{"rule 1: the host public.example.com is not app.example.com"}) {
		t.Errorf("check: %s", chk.raw)
	}
	h.createUser(account.NewUser{Username: "bob"})
	chk = c.post("/api/v1/admin/rules/check", map[string]any{"url": "https://app.example.com/admin", "user": "bob"}).ok(t, 200)
	if asString(t, chk.json, "decision") != "rule 1: two_factor" || asString(t, chk.json, "outcome") != "forbidden" ||
		!slices.Equal(asStrings(t, chk.json, "why"), []string{"rule 1: bob is not among its subjects"}) {
		t.Errorf("check as bob: %s", chk.raw)
	}
	c.post("/api/v1/admin/rules/check", map[string]any{"url": "not a url"}).wantError(t, 400, "invalid_request")
	c.post("/api/v1/admin/rules/check", map[string]any{"url": "https://app.example.com/", "user": "nobody"}).wantError(t, 404, "not_found")

	var actions []string
	for _, e := range h.events() {
		if strings.HasPrefix(e.Action, "access.") {
			actions = append(actions, e.Action+" by "+e.Actor)
		}
	}
	if !slices.Equal(actions, []string{"access.rule_removed by admin", "access.rule_moved by admin", "access.rule_added by admin",
		"access.rule_added by admin", "access.rule_added by admin"}) {
		t.Errorf("audit: %q", actions)
	}

	// Someone who is not an administrator can do none of it, and changes nothing.
	bob := h.signIn("bob", h.lastTemporaryPassword("bob@example.com"))
	bob.c.get("/api/v1/admin/rules").wantError(t, 403, "forbidden")
	bob.c.post("/api/v1/admin/rules", map[string]any{"hosts": []string{"x.example.com"}, "policy": "bypass"}).wantError(t, 403, "forbidden")
	bob.c.post("/api/v1/admin/rules/1/move", map[string]any{"position": 2}).wantError(t, 403, "forbidden")
	bob.c.call("DELETE", "/api/v1/admin/rules/1", nil).wantError(t, 403, "forbidden")
	bob.c.post("/api/v1/admin/rules/check", map[string]any{"url": "https://app.example.com/"}).wantError(t, 403, "forbidden")
	h.client().get("/api/v1/admin/rules").wantError(t, 401, "not_signed_in")
	if got := h.storedRuleHosts(); !slices.Equal(got, []string{"app.example.com", "public.example.com"}) {
		t.Errorf("a non-admin changed the rules to %q", got)
	}
}
