package app_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/twofold-auth/twofold/internal/app"
)

// TestSSORedirectOrigin: an --sso-redirect-url on the pages' origin (the host's case aside) is
// taken; one on another scheme, host or port is a settings error.
func TestSSORedirectOrigin(t *testing.T) {
	for redirect, ok := range map[string]bool{
		"https://signin.example.org/api/v1/sso/callback":      true,
		"https://SIGNIN.example.org/api/v1/sso/callback":      true,
		"https://other.example.org/api/v1/sso/callback":       false,
		"http://signin.example.org/api/v1/sso/callback":       false,
		"https://signin.example.org:8443/api/v1/sso/callback": false,
	} {
		c := keyConfig(t.TempDir(), "", keyA)
		c.Addr, c.BaseURL = "127.0.0.1:0", "https://signin.example.org"
		c.SSO = app.SSO{Issuer: "https://idp.example.org", ClientID: "twofold", RedirectURL: redirect}
		a, err := app.Open(context.Background(), c)
		var se *app.SettingsError
		if ok != (err == nil) || !ok && !errors.As(err, &se) {
			t.Errorf("--sso-redirect-url %s: %v, want accepted %v (refused as a settings error)", redirect, err, ok)
		}
		if err == nil {
			a.Close()
		}
	}
}

// TestBaseURLInCapitals: "HTTPS://" is https to every use of the base URL: the issuer, and the
// cookies' Secure flag (SPEC §5).
func TestBaseURLInCapitals(t *testing.T) {
	c := keyConfig(t.TempDir(), "", keyA)
	c.Addr, c.BaseURL = "127.0.0.1:0", "HTTPS://Signin.Example.org"
	a, err := app.Open(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.BaseURL != "https://signin.example.org" || a.Provider == nil {
		t.Errorf("base URL %q, provider %v; want https://signin.example.org and a provider", a.BaseURL, a.Provider != nil)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/signin", strings.NewReader("username=nobody&password=wrong+password"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	a.Handler.ServeHTTP(rec, req)
	if set := rec.Header().Get("Set-Cookie"); !strings.Contains(set, "twofold_session=") || !strings.Contains(set, "; Secure") {
		t.Errorf("Set-Cookie %q: want the session cookie, Secure", set)
	}
}
