package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
)

func (a *testApp) clients() []*store.Client {
	a.t.Helper()
	list, err := a.store.Clients(context.Background())
	if err != nil {
		a.t.Fatal(err)
	}
	return list
}

func sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// checkPage checks what every page of ours holds: a heading, a label for every field, and no
// inline code.
func checkPage(t *testing.T, name string, p *page) {
	t.Helper()
	if p.doc == nil || p.doc.find(tag("h1")) == nil {
		t.Errorf("%s: no h1 (status %d)", name, p.status)
		return
	}
	labels := map[string]bool{}
	for _, l := range p.doc.all(tag("label")) {
		labels[l.attr("for")] = true
	}
	for _, n := range p.doc.all(func(*node) bool { return true }) {
		switch n.tag {
		case "input", "textarea", "select":
			inLabel := false
			for up := n.parent; up != nil; up = up.parent {
				inLabel = inLabel || up.tag == "label"
			}
			if n.attr("type") != "hidden" && !inLabel && !labels[n.attr("id")] {
				t.Errorf("%s: <%s name=%q> has no label", name, n.tag, n.attr("name"))
			}
		case "script":
			if n.attr("src") == "" || strings.TrimSpace(n.text.String()) != "" {
				t.Errorf("%s: inline script", name)
			}
		case "style":
			t.Errorf("%s: <style>", name)
		}
		for k := range n.attrs {
			if k == "style" || strings.HasPrefix(k, "on") {
				t.Errorf("%s: <%s %s=...>", name, n.tag, k)
			}
		}
	}
}

// TestAdminApplications: the admin page "Applications" adds an application and shows its
// secret once, with Copy; a refused registration is said beside its field and stores nothing;
// a new secret and Remove ask first and change nothing until confirmed.
func TestAdminApplications(t *testing.T) {
	a := newApp(t, appConfig{})
	admin := a.client()
	admin.signInFully("root", a.addUser("root", true))

	list := admin.get("/admin/clients").expect(200, "")
	checkPage(t, "applications", list)
	link := list.doc.find(func(n *node) bool { return n.tag == "a" && n.attr("href") == "/admin/clients" })
	if link == nil || link.content() != "Applications" || link.attr("aria-current") != "page" {
		t.Errorf("no current nav link \"Applications\"")
	}
	if !list.has("no-clients") || list.byID("add-client").attr("href") != "/admin/clients/new" {
		t.Errorf("the empty list: %s", list.body)
	}
	checkPage(t, "new application", admin.get("/admin/clients/new").expect(200, ""))

	// A refused URI: 400, the rule beside its field, what was typed kept, nothing stored.
	bad := admin.post("/admin/clients", url.Values{"name": {"Grafana"},
		"redirect_uris": {"https://grafana.example.com/cb\r\nhttp://grafana.example.com/cb\r\n"}}).expect(400, "")
	if msg := bad.byID("redirect_uris-error").content(); !strings.Contains(msg, "must be https") {
		t.Errorf("the refusal beside the field: %q", msg)
	}
	if got := bad.byID("redirect_uris").content(); !strings.Contains(got, "https://grafana.example.com/cb") ||
		bad.byID("redirect_uris").attr("aria-invalid") != "true" {
		t.Errorf("the text box after a refusal: %q", got)
	}
	checkPage(t, "refused", bad)
	if n := len(a.clients()); n != 0 {
		t.Fatalf("a refused registration stored %d clients", n)
	}
	// A form posted from another site registers nothing.
	admin.postWith("/admin/clients", url.Values{"name": {"Evil"}, "redirect_uris": {"https://evil.example/cb"}},
		map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}).expect(403, "")
	if n := len(a.clients()); n != 0 {
		t.Fatalf("a cross-site form registered %d clients", n)
	}

	// Added: the secret shown once, with Copy (app.js), and stored only as its hash.
	added := admin.post("/admin/clients", url.Values{"name": {"Grafana"},
		"redirect_uris":             {"https://grafana.example.com/cb\r\nhttp://127.0.0.1:3000/cb\r\n\r\n"},
		"post_logout_redirect_uris": {""}, "backchannel_logout_uri": {""}, "groups": {"ops,dev"},
		"require_mfa": {"1"}}).expect(200, "")
	checkPage(t, "added", added)
	id, secret := added.byID("client-id").content(), added.byID("client-secret").content()
	stored := a.clients()
	if len(stored) != 1 || stored[0].ID != id || !bytes.Equal(stored[0].SecretHash, sum(secret)) {
		t.Fatalf("stored %+v; page shows %q, %q", stored, id, secret)
	}
	if c := stored[0]; len(c.RedirectURIs) != 2 || !c.RequireMFA || strings.Join(c.Groups, ",") != "dev,ops" || c.Public {
		t.Errorf("stored %+v", c)
	}
	copyButton := added.doc.find(func(n *node) bool { return n.attr("data-copy") == "client-secret" })
	if copyButton == nil || copyButton.content() != "Copy" || added.doc.find(tag("script")) == nil || !added.has("copy-status") {
		t.Errorf("no Copy for the secret")
	}
	if added.header.Get("Cache-Control") != "no-store" {
		t.Errorf("the secret's page may be cached: %q", added.header.Get("Cache-Control"))
	}
	if added.byID("done").attr("href") != "/admin/clients/"+id {
		t.Errorf("Done leads to %q", added.byID("done").attr("href"))
	}
	details := admin.get("/admin/clients/"+id).expect(200, "")
	checkPage(t, "application", details)
	if strings.Contains(details.body, secret) || strings.Contains(admin.get("/admin/clients").body, secret) {
		t.Errorf("the secret is shown again")
	}
	if !strings.Contains(details.byID("redirect-uris").content(), "http://127.0.0.1:3000/cb") ||
		!strings.Contains(details.byID("client-groups").content(), "dev, ops") {
		t.Errorf("details: %s", details.byID("client").content())
	}

	// New secret: asks first, then shows the new one once.
	p := admin.post("/admin/clients/"+id+"/secret", nil).expect(200, "")
	checkPage(t, "new secret confirmation", p)
	if form := p.byID("confirm").parentForm(p); form.attr("action") != "/admin/clients/"+id+"/secret" ||
		p.byID("cancel").attr("href") != "/admin/clients/"+id {
		t.Errorf("the confirmation posts to %q", form.attr("action"))
	}
	if !bytes.Equal(a.clients()[0].SecretHash, sum(secret)) {
		t.Fatalf("the secret changed before it was confirmed")
	}
	rotated := admin.post("/admin/clients/"+id+"/secret", url.Values{"confirm": {"1"}}).expect(200, "")
	fresh := rotated.byID("client-secret").content()
	if fresh == secret || !bytes.Equal(a.clients()[0].SecretHash, sum(fresh)) {
		t.Errorf("after a new secret the stored hash is not the shown secret's")
	}

	// A public application: no secret, none to renew.
	a.clock.Advance(time.Second)
	pub := admin.post("/admin/clients", url.Values{"name": {"SPA"}, "redirect_uris": {"http://localhost:5173/cb"},
		"public": {"1"}}).expect(200, "")
	if pub.has("client-secret") || !pub.has("no-secret") {
		t.Errorf("the public application's page: %s", pub.body)
	}
	pubID := pub.byID("client-id").content()
	if admin.get("/admin/clients/" + pubID).has("new-secret") {
		t.Errorf("New secret offered for a public application")
	}
	rows := admin.get("/admin/clients").doc.all(func(n *node) bool { return n.tag == "tr" && n.attr("data-client") != "" })
	if len(rows) != 2 || rows[0].attr("data-client") != pubID {
		t.Errorf("the list, newest first: %d rows", len(rows))
	}

	// Remove: asks first, changes nothing until confirmed.
	p = admin.post("/admin/clients/"+id+"/remove", nil).expect(200, "")
	if form := p.byID("confirm").parentForm(p); form.attr("action") != "/admin/clients/"+id+"/remove" {
		t.Errorf("the confirmation posts to %q", form.attr("action"))
	}
	if len(a.clients()) != 2 {
		t.Fatalf("Remove removed before it was confirmed")
	}
	admin.post("/admin/clients/"+id+"/remove", url.Values{"confirm": {"1"}}).expect(303, "/admin/clients?m=client-rm")
	if got := a.clients(); len(got) != 1 || got[0].ID != pubID {
		t.Errorf("after Remove: %+v", got)
	}
	admin.get("/admin/clients/"+id).expect(404, "")

	// Someone who is not an administrator sees none of it and changes nothing.
	bob := a.client()
	bob.signInFully("bob", a.addUser("bob", false))
	if prof := bob.get("/profile"); prof.doc.find(func(n *node) bool { return n.attr("href") == "/admin/clients" }) != nil {
		t.Errorf("a user's nav links to the applications")
	}
	bob.get("/admin/clients").expect(403, "")
	bob.get("/admin/clients/new").expect(403, "")
	bob.post("/admin/clients", url.Values{"name": {"X"}, "redirect_uris": {"https://x.example.com/cb"}}).expect(403, "")
	bob.post("/admin/clients/"+pubID+"/remove", url.Values{"confirm": {"1"}}).expect(403, "")
	if len(a.clients()) != 1 {
		t.Errorf("a user changed the applications")
	}
}

// TestProfileApplications: Profile > Applications lists the applications the person allowed;
// "Remove access" withdraws the consent and revokes the person's tokens of that application.
func TestProfileApplications(t *testing.T) {
	a := newApp(t, appConfig{})
	ctx := context.Background()
	alice := a.client()
	alice.signInFully("alice", a.addUser("alice", false))
	u, err := a.store.UserByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	now := a.clock.Now()
	for _, id := range []string{"grafana", "wiki"} {
		if err := a.store.CreateClient(ctx, &store.Client{ID: id, Name: strings.ToUpper(id[:1]) + id[1:],
			RedirectURIs: []string{"https://" + id + ".example.com/cb"}, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := a.store.SetConsent(ctx, &store.Consent{UserID: u.ID, ClientID: id, Scopes: []string{"openid", "email"},
			CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := a.store.CreateToken(ctx, &store.Token{IDHash: sum(id), Kind: store.TokenRefresh, Family: id, ClientID: id,
			UserID: u.ID, Scopes: []string{"openid"}, AuthTime: now, ExpiresAt: now.Add(time.Hour), CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}

	if tab := alice.get("/profile/security").byID("applications-tab"); tab.attr("href") != "/profile/applications" {
		t.Errorf("no Applications tab beside Security")
	}
	p := alice.get("/profile/applications").expect(200, "")
	checkPage(t, "applications", p)
	if p.byID("applications-tab").attr("aria-current") != "page" {
		t.Errorf("the Applications tab is not current")
	}
	rows := p.byID("applications").all(func(n *node) bool { return n.tag == "tr" && n.attr("data-client") != "" })
	if len(rows) != 2 || !strings.Contains(rows[0].content(), "openid, email") {
		t.Fatalf("the applications: %s", p.byID("applications").content())
	}
	var form *node
	for _, f := range p.doc.all(tag("form")) {
		if f.attr("action") == "/profile/applications/grafana/remove" {
			form = f
		}
	}
	if form == nil || form.attr("method") != "post" || !strings.Contains(form.content(), "Remove access") {
		t.Fatalf("no \"Remove access\" form for Grafana")
	}

	alice.postWith("/profile/applications/grafana/remove", nil,
		map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}).expect(403, "")
	if _, err := a.store.Consent(ctx, u.ID, "grafana"); err != nil {
		t.Fatalf("a cross-site form removed the access: %v", err)
	}
	alice.post("/profile/applications/grafana/remove", nil).expect(303, "/profile/applications?m=access-rm")
	if _, err := a.store.Consent(ctx, u.ID, "grafana"); err == nil {
		t.Errorf("the consent is still there")
	}
	if ids, err := a.store.TokenClients(ctx, u.ID, a.clock.Now()); err != nil || len(ids) != 1 || ids[0] != "wiki" {
		t.Errorf("clients holding tokens after Remove access: %q, %v", ids, err)
	}
	after := alice.get("/profile/applications?m=access-rm").expect(200, "")
	if rows := after.byID("applications").all(func(n *node) bool { return n.tag == "tr" && n.attr("data-client") != "" }); len(rows) != 1 {
		t.Errorf("%d applications after Remove access, want 1", len(rows))
	}
	if !strings.Contains(after.body, "access is removed") {
		t.Errorf("no notice after Remove access")
	}
	alice.post("/profile/applications/grafana/remove", nil).expect(404, "")

	// Nobody else's access can be removed: another person has no consent of theirs to remove.
	bob := a.client()
	bob.signInFully("bob", a.addUser("bob", false))
	bob.post("/profile/applications/wiki/remove", nil).expect(404, "")
	if _, err := a.store.Consent(ctx, u.ID, "wiki"); err != nil {
		t.Errorf("bob removed alice's consent: %v", err)
	}
	if p := bob.get("/profile/applications").expect(200, ""); !p.has("no-applications") {
		t.Errorf("bob's empty list: %s", p.body)
	}
	a.client().post("/profile/applications/wiki/remove", nil).expect(303, "/signin")
}
