package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twofold-auth/twofold/internal/options"
)

// TestStepUpFromAnotherSite: a session without a second factor sent to /signin?mfa=required
// (forward auth's two_factor rule) by a navigation another site started is not changed by that
// GET: it gets a page whose Continue posts the step-up, a post from another site is refused,
// and the session keeps working meanwhile. The same navigation from a site of its own steps up
// at once. An account with no second factor steps up by signing in again with its password.
func TestStepUpFromAnotherSite(t *testing.T) {
	a := newApp(t, appConfig{})
	a.setOption(options.InternalMFA, options.PolicyOff)
	temp := a.addUser("ann", false)
	c := a.client()
	c.post("/signin", url.Values{"username": {"ann"}, "password": {temp}}).expect(303, "/signin/password")
	c.post("/signin/password", url.Values{"new_password": {chosenPassword}, "confirm_password": {chosenPassword}}).
		expect(303, "/profile")

	stepUp := "/signin?mfa=required&rd=" + url.QueryEscape("/profile")
	navigate := func(site string) *page {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, a.url+stepUp, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Sec-Fetch-Site", site)
		return c.do(req)
	}

	p := navigate("cross-site").expect(200, "")
	form := p.doc.find(func(n *node) bool { return n.tag == "form" && n.attr("action") == "/signin/step-up" })
	if form == nil || !p.has("stepup-message") {
		t.Fatalf("a cross-site step-up is not the Continue page:\n%s", p.body)
	}
	c.get("/profile").expect(200, "") // the session is as it was

	c.postWith("/signin/step-up", url.Values{"rd": {"/profile"}},
		map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}).expect(403, "")
	c.get("/profile").expect(200, "")

	// Ann has no second factor: enrolling one needs her password, so the step-up is a new
	// sign-in that needs one (SPEC §4, §9), and the session is as it was meanwhile.
	passwordFirst := "/signin?mfa=required&prompt=login&rd=%2Fprofile"
	c.post("/signin/step-up", url.Values{"rd": {"/profile"}}).expect(303, passwordFirst)
	c.get("/profile").expect(200, "")
	if p := c.get("/signin/enroll"); p.status == 200 {
		t.Error("GET /signin/enroll after a step-up without the password: 200, want no enrolment")
	}
	if p := c.post("/signin/enroll/key", nil); p.status == 200 {
		t.Error("POST /signin/enroll/key after a step-up without the password: 200, want no key ceremony")
	}
	p = c.get(passwordFirst).expect(200, "")
	if p.doc.find(func(n *node) bool {
		return n.tag == "input" && n.attr("name") == "mfa" && n.attr("value") == "required"
	}) == nil {
		t.Fatalf("the step-up's sign-in form does not carry mfa=required:\n%s", p.body)
	}
	c.post("/signin", url.Values{"username": {"ann"}, "password": {chosenPassword}, "mfa": {"required"}, "rd": {"/profile"}}).
		expect(303, "/signin/enroll")
	if p := c.get("/signin/enroll").expect(200, ""); strings.Contains(p.body, "Skip for now") {
		t.Error("the enrolment an application needs offers Skip for now")
	}

	// From a site of its own (an application under the cookie domain), at once.
	d := a.client()
	d.post("/signin", url.Values{"username": {"ann"}, "password": {chosenPassword}}).expect(303, "/profile")
	c = d
	navigate("same-site").expect(303, passwordFirst)
}
