package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/cookie"
)

// deviceCookie answers the twofold_device cookie an answer set, nil when none.
func deviceCookie(a *answer) *http.Cookie {
	for _, c := range a.set {
		if c.Name == cookie.DeviceName {
			return c
		}
	}
	return nil
}

// TestRememberedDeviceAPI (SPEC §10): "remember_device": true on the verify step sets the
// device cookie; the next sign-in from that client with the password answers done; the
// cookie alone gives nothing; GET /me/devices lists the device, DELETE forgets it.
func TestRememberedDeviceAPI(t *testing.T) {
	h := newHarness(t)
	h.setOption("mfaRememberDevice", "7d")
	pw := h.createUser(account.NewUser{Username: "ann"})
	p := h.signIn("ann", pw)
	c := p.c

	h.clock.Advance(30 * time.Second)
	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "ann", "password": p.pw}), "mfa_verify")
	a := c.post("/api/v1/signin/mfa/verify", map[string]any{"code": h.code(p.key), "remember_device": true})
	checkStep(t, a, "done")
	dc := deviceCookie(a)
	if dc == nil || dc.Value == "" || !dc.HttpOnly || dc.Path != "/" || dc.SameSite != http.SameSiteLaxMode || dc.MaxAge != 7*24*3600 {
		t.Fatalf("device cookie = %+v", dc)
	}
	c.post("/api/v1/signout", nil)

	// The same browser signs in with only the password.
	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "ann", "password": p.pw}), "done")
	list := asList(t, c.get("/api/v1/me/devices").ok(t, 200).json, "devices")
	if len(list) != 1 {
		t.Fatalf("devices = %v", list)
	}
	d := list[0].(map[string]any)
	id := asString(t, d, "id")
	if asString(t, d, "label") == "" || asTime(t, d, "last_used_at").IsZero() ||
		!asTime(t, d, "expires_at").Equal(asTime(t, d, "created_at").Add(7*24*time.Hour)) {
		t.Fatalf("device = %v", d)
	}

	// The cookie alone, or with a wrong password, gives nothing.
	thief := h.client()
	thief.hc.Jar.SetCookies(thief.url, []*http.Cookie{{Name: cookie.DeviceName, Value: dc.Value, Path: "/"}})
	thief.get("/api/v1/me").wantError(t, 401, "not_signed_in")
	thief.post("/api/v1/signin", map[string]string{"username": "ann", "password": "wrong password here"}).wantError(t, 401, "invalid_credentials")
	// Nor does it help another account.
	pw2 := h.createUser(account.NewUser{Username: "bea"})
	h.signIn("bea", pw2)
	other := h.client()
	other.hc.Jar.SetCookies(other.url, []*http.Cookie{{Name: cookie.DeviceName, Value: dc.Value, Path: "/"}})
	checkStep(t, other.post("/api/v1/signin", map[string]string{"username": "bea", "password": newPassword}), "mfa_verify")

	c.call("DELETE", "/api/v1/me/devices/999999", nil).wantError(t, 404, "not_found")
	c.call("DELETE", "/api/v1/me/devices/"+id, nil).ok(t, 204)
	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "ann", "password": p.pw}), "mfa_verify")

	// Forget all.
	h.clock.Advance(30 * time.Second)
	checkStep(t, c.post("/api/v1/signin/mfa/verify", map[string]any{"code": h.code(p.key), "remember_device": true}), "done")
	if n := len(asList(t, c.get("/api/v1/me/devices").ok(t, 200).json, "devices")); n != 1 {
		t.Fatalf("%d devices, want 1", n)
	}
	c.call("DELETE", "/api/v1/me/devices", nil).ok(t, 204)
	if n := len(asList(t, c.get("/api/v1/me/devices").ok(t, 200).json, "devices")); n != 0 {
		t.Fatalf("%d devices after forgetting all", n)
	}
	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "ann", "password": p.pw}), "mfa_verify")
}

// TestRememberedDeviceKeyFinish: the security-key finish accepts "remember_device": true.
func TestRememberedDeviceKeyFinish(t *testing.T) {
	h := newHarness(t)
	h.setOption("mfaRememberDevice", "1d")
	kim, k, _ := keyOnly(t, h, "kim")
	c := kim.c

	opts := keyBegin(t, c, "kim", kim.pw)
	var cred map[string]any
	if err := json.Unmarshal(k.get(opts), &cred); err != nil {
		t.Fatal(err)
	}
	cred["remember_device"] = true
	body, _ := json.Marshal(cred)
	a := c.postRaw("/api/v1/signin/mfa/webauthn/finish", body)
	checkStep(t, a, "done")
	if dc := deviceCookie(a); dc == nil || dc.MaxAge != 24*3600 {
		t.Fatalf("device cookie = %+v", dc)
	}
	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "kim", "password": kim.pw}), "done")
}

// hostJar keeps every cookie as the host's alone: the test server is 127.0.0.1, for which a
// cookie jar refuses a cookie of the cookie domain.
type hostJar struct{ http.CookieJar }

func (j hostJar) SetCookies(u *url.URL, cs []*http.Cookie) {
	for _, c := range cs {
		c.Domain = ""
	}
	j.CookieJar.SetCookies(u, cs)
}

// TestRememberedDeviceCookieDomain: with --cookie-domain the device cookie is still the
// host's alone, so applications under the domain never receive it, and the answer that sets
// it removes the domain's device cookie an earlier version set; Forget all removes both.
func TestRememberedDeviceCookieDomain(t *testing.T) {
	h := newHarness(t, harnessConfig{baseURL: "http://signin.example.test", cookieDomain: "example.test"})
	h.setOption("mfaRememberDevice", "7d")
	p := &person{c: h.client(), name: "ann", pw: h.createUser(account.NewUser{Username: "ann"})}
	p.c.hc.Jar = hostJar{p.c.hc.Jar}
	p.finish(p.c.post("/api/v1/signin", map[string]string{"username": "ann", "password": p.pw}).ok(t, 200).str(t, "next"))
	c := p.c

	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "ann", "password": p.pw}), "mfa_verify")
	a := c.post("/api/v1/signin/mfa/verify", map[string]any{"code": h.code(p.key), "remember_device": true})
	checkStep(t, a, "done")
	var dev, old *http.Cookie
	for _, ck := range a.set {
		switch {
		case ck.Name != cookie.DeviceName:
		case ck.Value != "":
			dev = ck
		default:
			old = ck
		}
	}
	if dev == nil || dev.Domain != "" || dev.MaxAge != 7*24*3600 {
		t.Fatalf("device cookie = %+v", dev)
	}
	for _, line := range a.header.Values("Set-Cookie") {
		if strings.HasPrefix(line, cookie.DeviceName+"="+dev.Value) && strings.Contains(strings.ToLower(line), "domain=") {
			t.Fatalf("the device cookie names a domain: %s", line)
		}
	}
	if old == nil || old.Domain != "example.test" || old.MaxAge >= 0 {
		t.Fatalf("the domain's device cookie is not removed: %+v", old)
	}
	c.post("/api/v1/signout", nil)
	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "ann", "password": p.pw}), "done")

	var domains []string
	for _, ck := range c.call("DELETE", "/api/v1/me/devices", nil).ok(t, 204).set {
		if ck.Name == cookie.DeviceName && ck.Value == "" && ck.MaxAge < 0 {
			domains = append(domains, ck.Domain)
		}
	}
	if len(domains) != 2 || domains[0] != "example.test" || domains[1] != "" {
		t.Fatalf("Forget all removed the device cookies of %q, want example.test's and the host's", domains)
	}
}
