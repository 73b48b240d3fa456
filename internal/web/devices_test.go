package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/cookie"
	"github.com/twofold-auth/twofold/internal/options"
)

// TestRememberDevicePages (SPEC §10): Verification Required offers "Remember this device for N
// days" only while the option is on; ticked, the next sign-in from that browser needs only the
// password; the Security tab lists the device with "Forget" and "Forget all", which also
// removes the browser's device cookie.
func TestRememberDevicePages(t *testing.T) {
	a := newApp(t, appConfig{})
	temp := a.addUser("rita", false)
	c := a.client()
	secret, _ := c.signInFully("rita", temp)
	c.post("/signout", nil)

	c.post("/signin", url.Values{"username": {"rita"}, "password": {chosenPassword}}).expect(303, "/signin/verify")
	if c.get("/signin/verify").expect(200, "").has("remember-device") {
		t.Fatal("the box is offered while mfaRememberDevice is 0")
	}
	a.setOption(options.MFARememberDevice, "14d")
	v := c.get("/signin/verify").expect(200, "")
	if !v.has("remember-device") || !strings.Contains(v.body, "Remember this device for 14 days") {
		t.Fatalf("no \"Remember this device for 14 days\": %s", v.body)
	}
	c.post("/signin/verify", url.Values{"code": {a.totp(secret)}, "remember_device": {"1"}}).expect(303, "/profile")
	c.post("/signout", nil)

	a.clock.Advance(time.Hour)
	c.post("/signin", url.Values{"username": {"rita"}, "password": {chosenPassword}}).expect(303, "/profile")
	sec := c.get("/profile/security").expect(200, "")
	list := sec.byID("device-list")
	if list == nil || len(list.all(tag("tr"))) != 2 || !sec.has("forget-all") {
		t.Fatalf("Security tab without the device list: %s", sec.body)
	}
	row := list.all(tag("tr"))[1]
	id := strings.TrimPrefix(row.attr("id"), "device-")
	c.post("/profile/security/devices/forget", url.Values{"device": {id}}).expect(303, "/profile/security?m=device-rm")
	if c.get("/profile/security").expect(200, "").has("device-list") {
		t.Fatal("the forgotten device is still listed")
	}
	c.post("/signout", nil)
	c.post("/signin", url.Values{"username": {"rita"}, "password": {chosenPassword}}).expect(303, "/signin/verify")

	// Remember again, then Forget all.
	a.clock.Advance(30 * time.Second)
	c.post("/signin/verify", url.Values{"code": {a.totp(secret)}, "remember_device": {"1"}}).expect(303, "/profile")
	all := c.post("/profile/security/devices/forget-all", nil).expect(303, "/profile/security?m=devices-rm")
	if set := (&http.Response{Header: all.header}).Cookies(); len(set) != 1 || set[0].Name != cookie.DeviceName ||
		set[0].Value != "" || set[0].MaxAge >= 0 {
		t.Fatalf("Forget all does not remove the browser's device cookie: %+v", set)
	}
	c.post("/signout", nil)
	c.post("/signin", url.Values{"username": {"rita"}, "password": {chosenPassword}}).expect(303, "/signin/verify")
}
