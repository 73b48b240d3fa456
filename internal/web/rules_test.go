package web_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// ruleHosts answers the first host of each stored rule, in order.
func (a *testApp) ruleHosts() []string {
	a.t.Helper()
	rs, err := a.store.AccessRules(context.Background())
	if err != nil {
		a.t.Fatal(err)
	}
	hosts := []string{}
	for _, r := range rs {
		hosts = append(hosts, r.Hosts[0])
	}
	return hosts
}

// TestAdminAccessRules: the admin page "Access rules" lists the rules in order, adds one (at
// the end or at a position), says a refusal beside its field and stores nothing, moves rules up
// and down, removes one only once confirmed, and answers "Check" with the deciding rule and
// why the ones before it did not match; someone who is not an administrator sees none of it.
func TestAdminAccessRules(t *testing.T) {
	a := newApp(t, appConfig{})
	admin := a.client()
	admin.signInFully("root", a.addUser("root", true))

	list := admin.get("/admin/rules").expect(200, "")
	checkPage(t, "access rules", list)
	link := list.doc.find(func(n *node) bool { return n.tag == "a" && n.attr("href") == "/admin/rules" })
	if link == nil || link.content() != "Access rules" || link.attr("aria-current") != "page" {
		t.Errorf("no current nav link \"Access rules\"")
	}
	if !list.has("no-rules") || list.byID("add").parentForm(list).attr("action") != "/admin/rules" {
		t.Errorf("the empty page: %s", list.body)
	}

	// A refused rule: 400, the reason beside its field, what was typed kept, nothing stored.
	bad := admin.post("/admin/rules", url.Values{"hosts": {"app.example.com"}, "path": {"^/(admin"}, "policy": {"deny"}}).expect(400, "")
	checkPage(t, "refused rule", bad)
	if msg := bad.byID("path-error").content(); !strings.Contains(msg, "does not compile") {
		t.Errorf("the refusal beside the path: %q", msg)
	}
	if bad.byID("path").attr("value") != "^/(admin" || bad.byID("path").attr("aria-invalid") != "true" ||
		!strings.Contains(bad.byID("hosts").content(), "app.example.com") {
		t.Errorf("the form after a refusal: path %q, hosts %q", bad.byID("path").attr("value"), bad.byID("hosts").content())
	}
	admin.post("/admin/rules", url.Values{"hosts": {"app.example.com"}, "subjects": {"bob"}, "policy": {"deny"}}).expect(400, "")
	if p := admin.post("/admin/rules", url.Values{"hosts": {"a.example.com"}, "policy": {"deny"}, "position": {"x"}}).expect(400, ""); !p.has("position-error") {
		t.Errorf("a position that is no number is not said beside its field")
	}
	if got := a.ruleHosts(); len(got) != 0 {
		t.Fatalf("refused rules were stored: %q", got)
	}
	// A form posted from another site adds nothing.
	admin.postWith("/admin/rules", url.Values{"hosts": {"evil.example.com"}, "policy": {"bypass"}},
		map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}).expect(403, "")

	// Added: at the end, then at a position.
	admin.post("/admin/rules", url.Values{"hosts": {"app.example.com\r\n*.app.example.com"}, "path": {"^/admin"},
		"methods": {"GET, post"}, "subjects": {"group:ops, user:alice"}, "policy": {"two_factor"}, "position": {""}}).expect(303, "/admin/rules?m=rule-added")
	admin.post("/admin/rules", url.Values{"hosts": {"*.example.com"}, "policy": {"deny"}}).expect(303, "/admin/rules?m=rule-added")
	admin.post("/admin/rules", url.Values{"hosts": {"public.example.com"}, "policy": {"bypass"}, "position": {"1"}}).expect(303, "/admin/rules?m=rule-added")
	if got := a.ruleHosts(); !slices.Equal(got, []string{"public.example.com", "app.example.com", "*.example.com"}) {
		t.Fatalf("stored rules %q", got)
	}
	rs, _ := a.store.AccessRules(context.Background())
	if r := rs[1]; !slices.Equal(r.Methods, []string{"GET", "POST"}) || !slices.Equal(r.Subjects, []string{"group:ops", "user:alice"}) || len(r.Hosts) != 2 {
		t.Errorf("the rule from the form: %+v", r)
	}
	list = admin.get("/admin/rules?m=rule-added").expect(200, "")
	checkPage(t, "rules", list)
	rows := list.doc.all(func(n *node) bool { return n.tag == "tr" && n.attr("data-rule") != "" })
	if len(rows) != 3 || !strings.Contains(rows[1].content(), "two_factor") || !strings.Contains(rows[1].content(), "group:ops") {
		t.Fatalf("the table: %d rows", len(rows))
	}
	if list.has("up-1") || !list.has("down-1") || !list.has("up-3") || list.has("down-3") || !strings.Contains(list.body, "in force on every server") {
		t.Errorf("the move buttons or the notice: %s", list.byID("rules").content())
	}

	// Move down and up.
	admin.post("/admin/rules/1/move", url.Values{"position": {"2"}}).expect(303, "/admin/rules?m=rule-moved")
	if got := a.ruleHosts(); !slices.Equal(got, []string{"app.example.com", "public.example.com", "*.example.com"}) {
		t.Errorf("after Move down: %q", got)
	}
	admin.post("/admin/rules/2/move", url.Values{"position": {"1"}}).expect(303, "/admin/rules?m=rule-moved")
	admin.post("/admin/rules/1/move", url.Values{"position": {"9"}}).expect(400, "")

	// Check: the deciding rule and why.
	chk := admin.get("/admin/rules/check?"+url.Values{"url": {"https://app.example.com/page"}, "method": {"POST"}}.Encode()).expect(200, "")
	checkPage(t, "check", chk)
	if got := chk.byID("decision").content(); got != "rule 3: deny" {
		t.Errorf("Check decided %q", got)
	}
	if why := chk.byID("why").content(); !strings.Contains(why, "rule 1: the host app.example.com is not public.example.com") ||
		!strings.Contains(why, `rule 2: the path "/page" does not match "^/admin"`) {
		t.Errorf("Check's reasons: %q", why)
	}
	if chk.byID("check_url").attr("value") != "https://app.example.com/page" {
		t.Errorf("the check form forgot the URL")
	}
	badChk := admin.get("/admin/rules/check?url=app.example.com").expect(400, "")
	if !badChk.has("check_url-error") || badChk.has("check-result") {
		t.Errorf("a URL that is not one: %s", badChk.body)
	}
	admin.get("/admin/rules/check?url=https://app.example.com/&user=nobody").expect(404, "")

	// Remove: asks first, changes nothing until confirmed.
	p := admin.post("/admin/rules/3/remove", nil).expect(200, "")
	checkPage(t, "remove confirmation", p)
	if form := p.byID("confirm").parentForm(p); form.attr("action") != "/admin/rules/3/remove" || p.byID("cancel").attr("href") != "/admin/rules" {
		t.Errorf("the confirmation posts to %q", form.attr("action"))
	}
	if !strings.Contains(p.byID("confirm-what").content(), "*.example.com") || len(a.ruleHosts()) != 3 {
		t.Fatalf("Remove removed before it was confirmed, or does not say which rule")
	}
	admin.post("/admin/rules/3/remove", url.Values{"confirm": {"1"}}).expect(303, "/admin/rules?m=rule-rm")
	if got := a.ruleHosts(); !slices.Equal(got, []string{"public.example.com", "app.example.com"}) {
		t.Errorf("after Remove: %q", got)
	}
	admin.post("/admin/rules/3/remove", nil).expect(404, "")

	// Someone who is not an administrator sees none of it and changes nothing.
	bob := a.client()
	bob.signInFully("bob", a.addUser("bob", false))
	if prof := bob.get("/profile"); prof.doc.find(func(n *node) bool { return n.attr("href") == "/admin/rules" }) != nil {
		t.Errorf("a user's nav links to the access rules")
	}
	bob.get("/admin/rules").expect(403, "")
	bob.get("/admin/rules/check?url=https://app.example.com/").expect(403, "")
	bob.post("/admin/rules", url.Values{"hosts": {"x.example.com"}, "policy": {"bypass"}}).expect(403, "")
	bob.post("/admin/rules/1/move", url.Values{"position": {"2"}}).expect(403, "")
	bob.post("/admin/rules/1/remove", url.Values{"confirm": {"1"}}).expect(403, "")
	if got := a.ruleHosts(); len(got) != 2 {
		t.Errorf("a user changed the rules: %q", got)
	}
}
