package web_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/twofold-auth/twofold/internal/account"
)

// TestAdminGroupsForm: the account page lists the account's groups, adds them with "Add to
// group" (several, comma-separated) and removes each with its "Remove", with no confirmation;
// a refused name is said beside the box, with what was typed, and changes nothing; a post
// from another site or by someone who is not an administrator changes nothing.
func TestAdminGroupsForm(t *testing.T) {
	a := newApp(t, appConfig{})
	admin := a.client()
	admin.signInFully("root", a.addUser("root", true))
	temp := a.addUser("gina", false)
	groups := func() []string {
		t.Helper()
		v, err := a.svc.User(context.Background(), account.CLI, "gina")
		if err != nil {
			t.Fatal(err)
		}
		return v.Groups
	}
	removeButtons := func(p *page) []string {
		var values []string
		for _, b := range p.doc.all(tag("button")) {
			if b.attr("name") == "remove" {
				if b.content() != "Remove" {
					t.Errorf("a remove button says %q, want Remove", b.content())
				}
				values = append(values, b.attr("value"))
			}
		}
		return values
	}

	p := admin.get("/admin/users/gina").expect(200, "")
	if got := p.byID("groups").content(); got != "—" {
		t.Errorf("groups of an account without any shown as %q", got)
	}
	add := p.byID("add-group")
	if add.content() != "Add to group" {
		t.Errorf("the add button says %q", add.content())
	}
	form := add.parentForm(p)
	if form.attr("method") != "post" || form.attr("action") != "/admin/users/gina/groups" {
		t.Fatalf("the add form posts to %q by %q", form.attr("action"), form.attr("method"))
	}
	if p.byID("group-add").attr("name") != "add" || len(removeButtons(p)) != 0 {
		t.Fatalf("add box or remove buttons wrong:\n%s", p.body)
	}

	admin.post("/admin/users/gina/groups", url.Values{"add": {"ops,dev"}}).expect(303, "/admin/users/gina?m=groups")
	if got := groups(); !slices.Equal(got, []string{"dev", "ops"}) {
		t.Fatalf("groups after adding = %q", got)
	}
	p = admin.get("/admin/users/gina?m=groups").expect(200, "")
	if got := p.byID("groups").content(); got != "dev, ops" {
		t.Errorf("groups shown as %q", got)
	}
	if !strings.Contains(p.body, "groups are saved") {
		t.Errorf("no notice after saving groups")
	}
	if got := removeButtons(p); !slices.Equal(got, []string{"dev", "ops"}) {
		t.Fatalf("remove buttons for %q", got)
	}
	for _, b := range p.doc.all(tag("button")) {
		if b.attr("value") == "dev" && b.parentForm(p).attr("action") != "/admin/users/gina/groups" {
			t.Errorf("Remove posts to %q", b.parentForm(p).attr("action"))
		}
	}

	// What a browser sends for dev's Remove: that button's name and value only.
	admin.post("/admin/users/gina/groups", url.Values{"remove": {"dev"}}).expect(303, "/admin/users/gina?m=groups")
	if got := groups(); !slices.Equal(got, []string{"ops"}) {
		t.Fatalf("groups after removing dev = %q", got)
	}
	// Again: nothing to do, no error.
	admin.post("/admin/users/gina/groups", url.Values{"remove": {"dev"}}).expect(303, "/admin/users/gina?m=groups")
	admin.post("/admin/users/gina/groups", url.Values{"add": {"ops"}}).expect(303, "/admin/users/gina?m=groups")

	for _, bad := range []string{"Ops", strings.Repeat("a", 65), "", "qa, web", "a/b"} {
		p := admin.post("/admin/users/gina/groups", url.Values{"add": {bad}}).expect(http.StatusBadRequest, "")
		if msg := p.byID("group-add-error").content(); !strings.Contains(msg, "1 to 64 characters") {
			t.Errorf("add %q: the error beside the box says %q", bad, msg)
		}
		if got := p.byID("group-add").attr("value"); got != bad {
			t.Errorf("add %q: the box holds %q again", bad, got)
		}
	}
	p = admin.post("/admin/users/gina/groups", url.Values{"remove": {"OPS"}}).expect(http.StatusBadRequest, "")
	if !strings.Contains(p.body, "in remove is not one") {
		t.Errorf("a refused remove is not said on the page:\n%s", p.body)
	}

	changes := func() int {
		t.Helper()
		ev, err := a.svc.Audit(context.Background(), account.CLI, account.EventFilter{Action: account.ActionGroupsChanged})
		if err != nil {
			t.Fatal(err)
		}
		return len(ev)
	}
	if n := changes(); n != 2 {
		t.Errorf("%d group changes audited, want 2 (refused and idle posts are not)", n)
	}
	for name, header := range map[string]map[string]string{
		"Sec-Fetch-Site cross-site": {"Sec-Fetch-Site": "cross-site"},
		"Origin of another site":    {"Origin": "http://evil.example"},
	} {
		if p := admin.postWith("/admin/users/gina/groups", url.Values{"add": {"evil"}}, header); p.status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", name, p.status)
		}
	}
	gina := a.client()
	gina.signInFully("gina", temp)
	if p := gina.post("/admin/users/gina/groups", url.Values{"add": {"admins"}}); p.status != http.StatusForbidden {
		t.Errorf("a user's post answered %d, want 403", p.status)
	}
	if got := groups(); !slices.Equal(got, []string{"ops"}) {
		t.Fatalf("refused posts left groups %q", got)
	}
	if n := changes(); n != 2 {
		t.Errorf("refused posts were audited: %d group changes", n)
	}
}
