package cookie_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/twofold-auth/twofold/internal/cookie"
)

func TestSetAndToken(t *testing.T) {
	for _, secure := range []bool{false, true} {
		w := httptest.NewRecorder()
		cookie.Set(w, "tok", secure)
		got := w.Result().Cookies()
		if len(got) != 1 {
			t.Fatalf("%d cookies", len(got))
		}
		c := got[0]
		if c.Name != "twofold_session" || c.Value != "tok" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode ||
			c.Path != "/" || c.Secure != secure {
			t.Fatalf("cookie %+v (secure %v)", c, secure)
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(c)
		if cookie.Token(r) != "tok" {
			t.Fatal("Token does not read the cookie back")
		}
	}
	w := httptest.NewRecorder()
	cookie.Set(w, "", false)
	if c := w.Result().Cookies()[0]; c.MaxAge >= 0 {
		t.Fatalf("an empty token does not remove the cookie: %+v", c)
	}
	if cookie.Token(httptest.NewRequest("GET", "/", nil)) != "" {
		t.Fatal("a request without the cookie has a token")
	}
}
