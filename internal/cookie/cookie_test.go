package cookie_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/cookie"
)

func TestSetAndToken(t *testing.T) {
	for _, a := range []cookie.Attrs{{}, {Secure: true}, {Secure: true, Domain: "example.com"}} {
		w := httptest.NewRecorder()
		cookie.Set(w, "tok", a)
		got := w.Result().Cookies()
		if len(got) != 1 {
			t.Fatalf("%d cookies", len(got))
		}
		c := got[0]
		if c.Name != "twofold_session" || c.Value != "tok" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode ||
			c.Path != "/" || c.Secure != a.Secure || c.Domain != a.Domain {
			t.Fatalf("cookie %+v (attributes %+v)", c, a)
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(c)
		if cookie.Token(r) != "tok" {
			t.Fatal("Token does not read the cookie back")
		}
	}
	w := httptest.NewRecorder()
	cookie.Set(w, "", cookie.Attrs{})
	if c := w.Result().Cookies()[0]; c.MaxAge >= 0 {
		t.Fatalf("an empty token does not remove the cookie: %+v", c)
	}
	if cookie.Token(httptest.NewRequest("GET", "/", nil)) != "" {
		t.Fatal("a request without the cookie has a token")
	}
}

// TestRemoveWithDomain checks that a sign-out under --cookie-domain removes the domain's
// cookie and a cookie of the host alone that the server set before the flag was given.
func TestRemoveWithDomain(t *testing.T) {
	w := httptest.NewRecorder()
	cookie.Set(w, "", cookie.Attrs{Domain: "example.com"})
	got := w.Result().Cookies()
	if len(got) != 2 || got[0].Domain != "" || got[1].Domain != "example.com" || got[0].MaxAge >= 0 || got[1].MaxAge >= 0 {
		t.Fatalf("removal cookies %+v", got)
	}
}

// TestSetDevice checks that the device cookie is the host's alone even with a cookie domain,
// which would otherwise hand it to every application under the domain, and that with one the
// same answer removes the domain's device cookie an earlier version set.
func TestSetDevice(t *testing.T) {
	for _, a := range []cookie.Attrs{{}, {Secure: true}, {Secure: true, Domain: "example.com"}} {
		w := httptest.NewRecorder()
		cookie.SetDevice(w, "devtok", 7*24*time.Hour, a)
		got := w.Result().Cookies()
		want := 1
		if a.Domain != "" {
			want = 2
		}
		if len(got) != want {
			t.Fatalf("%d cookies, want %d: %+v", len(got), want, got)
		}
		c := got[len(got)-1]
		if c.Name != "twofold_device" || c.Value != "devtok" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode ||
			c.Path != "/" || c.Secure != a.Secure || c.Domain != "" || c.MaxAge != 7*24*3600 {
			t.Fatalf("cookie %+v (attributes %+v)", c, a)
		}
		if a.Domain != "" {
			if old := got[0]; old.Name != "twofold_device" || old.Domain != a.Domain || old.Path != "/" || old.MaxAge >= 0 {
				t.Fatalf("the domain's device cookie is not removed: %+v", old)
			}
		}
		for _, line := range w.Result().Header.Values("Set-Cookie") {
			if strings.HasPrefix(line, "twofold_device=devtok;") && strings.Contains(strings.ToLower(line), "domain=") {
				t.Fatalf("the device cookie names a domain: %s", line)
			}
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(c)
		if cookie.DeviceToken(r) != "devtok" {
			t.Fatal("DeviceToken does not read the cookie back")
		}
	}
	if cookie.DeviceToken(httptest.NewRequest("GET", "/", nil)) != "" {
		t.Fatal("a request without the cookie has a device token")
	}
}

// TestRemoveDevice checks that removing the device cookie removes the host's, and with a
// cookie domain also the domain's that an earlier version set.
func TestRemoveDevice(t *testing.T) {
	for _, c := range []struct {
		domain  string
		domains []string
	}{
		{"", []string{""}},
		{"example.com", []string{"example.com", ""}},
	} {
		w := httptest.NewRecorder()
		cookie.SetDevice(w, "", 0, cookie.Attrs{Secure: true, Domain: c.domain})
		got := w.Result().Cookies()
		if len(got) != len(c.domains) {
			t.Fatalf("domain %q: removal cookies %+v", c.domain, got)
		}
		for i, ck := range got {
			if ck.Name != "twofold_device" || ck.Value != "" || ck.Domain != c.domains[i] || ck.Path != "/" || ck.MaxAge >= 0 {
				t.Fatalf("domain %q: removal cookie %d %+v", c.domain, i, ck)
			}
		}
	}
}

func TestCheckDomain(t *testing.T) {
	for _, c := range []struct {
		domain, base, want string
		ok                 bool
	}{
		{"example.com", "https://example.com", "example.com", true},
		{"example.com", "https://signin.example.com:8443/", "example.com", true},
		{".Example.COM", "https://a.b.example.com", "example.com", true},
		{"example.com", "https://example.com.evil.org", "", false},
		{"example.com", "https://badexample.com", "", false},
		{"example.com", "https://other.org", "", false},
		{"com", "https://example.com", "", false},
		{"127.0.0.1", "http://127.0.0.1:8080", "", false},
		{"example.com:443", "https://example.com", "", false},
		{"https://example.com", "https://example.com", "", false},
		{"", "https://example.com", "", false},
	} {
		got, err := cookie.CheckDomain(c.domain, c.base)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("CheckDomain(%q, %q) = %q, %v; want %q, ok %v", c.domain, c.base, got, err, c.want, c.ok)
		}
	}
}
