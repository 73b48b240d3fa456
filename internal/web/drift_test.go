package web_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/otp"
)

// Clock drift (SPEC §10): at Verification Required, the second code from a phone 7 minutes
// slow is refused beside the code field with the clock named and how to fix it.
func TestClockDriftPage(t *testing.T) {
	a := newApp(t, appConfig{})
	c := a.client()
	secret, _ := c.signInFully("vic", a.addUser("vic", false))
	c.post("/signout", nil).expect(303, "/signin")
	c.post("/signin", url.Values{"username": {"vic"}, "password": {chosenPassword}}).expect(303, "/signin/verify")
	key, err := otp.DecodeKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	slow := func() string {
		a.clock.Advance(30 * time.Second)
		return otp.TOTP(key, a.clock.Now().Add(-7*time.Minute), otp.Default)
	}
	first := c.post("/signin/verify", url.Values{"code": {slow()}}).expect(401, "")
	if msg := first.byID("code-error").content(); strings.Contains(msg, "clock") {
		t.Fatalf("first drifted code: %q", msg)
	}
	second := c.post("/signin/verify", url.Values{"code": {slow()}}).expect(401, "")
	checkTied(t, second, "code", "clock seems about 7 minutes slow")
	checkTied(t, second, "code", "automatic date and time")
}
