package web_test

import (
	"net/url"
	"reflect"
	"testing"
)

// TestAdminDestroyConfirms checks that Reset MFA, Disable and a new temporary password ask
// first and change nothing until confirmed, and that actions with nothing to do are not offered.
func TestAdminDestroyConfirms(t *testing.T) {
	a := newApp(t, appConfig{})
	admin := a.client()
	admin.signInFully("root", a.addUser("root", true))
	temp := a.addUser("ned", false)

	fresh := admin.get("/admin/users/ned").expect(200, "")
	if fresh.has("reset-mfa") || fresh.has("unlock") {
		t.Errorf("Reset MFA or Unlock offered for an account without MFA or locks")
	}
	a.client().signInFully("ned", temp)
	enrolled := admin.get("/admin/users/ned").expect(200, "")
	if !enrolled.has("reset-mfa") || enrolled.has("unlock") {
		t.Errorf("enrolled, not locked: Reset MFA %v, Unlock %v", enrolled.has("reset-mfa"), enrolled.has("unlock"))
	}

	for _, action := range []struct{ path, note string }{
		{"/admin/users/ned/mfa/reset", "mfa-reset"},
		{"/admin/users/ned/password/reset", "pw-reset"},
		{"/admin/users/ned/disable", "disabled"},
	} {
		before := a.snapshot()
		p := admin.post(action.path, nil).expect(200, "")
		if !reflect.DeepEqual(a.snapshot(), before) {
			t.Errorf("%s changed the account before it was confirmed", action.path)
		}
		form := p.byID("confirm").parentForm(p)
		if form.attr("action") != action.path || form.attr("method") != "post" {
			t.Errorf("%s: the confirmation posts to %q", action.path, form.attr("action"))
		}
		if !p.has("cancel") || p.byID("cancel").attr("href") != "/admin/users/ned" {
			t.Errorf("%s: no Cancel back to the account", action.path)
		}
		admin.post(action.path, url.Values{"confirm": {"1"}}).expect(303, "/admin/users/ned?m="+action.note)
	}
}

// parentForm answers the form holding n.
func (n *node) parentForm(p *page) *node {
	for f := n.parent; f != nil; f = f.parent {
		if f.tag == "form" {
			return f
		}
	}
	p.t.Fatalf("#%s is in no form", n.attr("id"))
	return nil
}
