package web_test

import (
	"net/url"
	"testing"
)

// TestPagesTakeInputAsTyped checks that the pages apply the service's input rules as the API
// does (SPEC §1 usernames, §3 malformed versus wrong): a username with white space around it
// and a code with a space in it are refused as malformed, 400 beside their field, and not
// counted; nothing is trimmed or dropped by a page first.
func TestPagesTakeInputAsTyped(t *testing.T) {
	a := newApp(t, appConfig{})
	c := a.client()
	secret, _ := c.signInFully("dora", a.addUser("dora", false))
	c.post("/signout", nil).expect(303, "/signin?m=signedout")

	for _, name := range []string{" dora", "dora ", "\tdora"} {
		checkTied(t, c.post("/signin", url.Values{"username": {name}, "password": {chosenPassword}}).expect(400, ""),
			"username", "letters, digits")
	}
	c.post("/signin", url.Values{"username": {"dora"}, "password": {chosenPassword}}).expect(303, "/signin/verify")
	code := a.totp(secret)
	for _, typed := range []string{code[:3] + " " + code[3:], " " + code, code + " "} {
		checkTied(t, c.post("/signin/verify", url.Values{"code": {typed}}).expect(400, ""), "code", "6 digits")
	}
	// Malformed codes were not counted: the code as the app shows it still signs in.
	c.post("/signin/verify", url.Values{"code": {code}}).expect(303, "/profile?m=signedin")
}
