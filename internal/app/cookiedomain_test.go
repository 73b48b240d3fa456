package app_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/app/apptest"
)

// TestCookieDomain: the server refuses a cookie domain that the base URL's host is not under,
// and with one the sign-in's cookie covers the domain.
func TestCookieDomain(t *testing.T) {
	for _, base := range []string{"https://example.com.evil.org", "https://badexample.com", "http://127.0.0.1:8080"} {
		_, err := app.Open(context.Background(), app.Config{Data: t.TempDir(), MailFrom: "Twofold <t@localhost>",
			BaseURL: base, CookieDomain: "example.com"})
		var se *app.SettingsError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "--cookie-domain") {
			t.Errorf("base URL %s with cookie domain example.com: %v, want a settings error", base, err)
		}
	}
	a := apptest.Serve(t, app.Config{BaseURL: "http://signin.example.com", CookieDomain: "Example.com", Addr: "127.0.0.1:0"})
	if a.CookieDomain != "example.com" {
		t.Errorf("cookie domain %q", a.CookieDomain)
	}
	res, err := http.PostForm(a.URL()+"/signin", url.Values{"username": {"nobody"}, "password": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	// A failed sign-in on the page removes what the cookie held: both the domain's cookie and the host's.
	var domains []string
	for _, c := range res.Cookies() {
		domains = append(domains, c.Domain)
	}
	if strings.Join(domains, ",") != ",example.com" {
		t.Errorf("cookies set for domains %q", domains)
	}
}
