package cookie_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

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
