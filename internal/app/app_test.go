package app_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/app/apptest"
	"github.com/twofold-auth/twofold/internal/clock"
)

// TestOpenForCommands: without an address there are no HTTP parts, links use the default base
// URL, and a server key is made in the data folder, readable by its owner only.
func TestOpenForCommands(t *testing.T) {
	a := apptest.Open(t, app.Config{})
	if a.Handler != nil || a.API != nil || a.Pages != nil || a.URL() != "" {
		t.Errorf("a command's app has HTTP parts")
	}
	if a.BaseURL != app.DefaultBaseURL {
		t.Errorf("base URL %q, want %q", a.BaseURL, app.DefaultBaseURL)
	}
	fi, err := os.Stat(filepath.Join(a.Data, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("secret.key mode %v, want 0600", fi.Mode().Perm())
	}
	if err := a.Serve(context.Background()); err == nil {
		t.Errorf("Serve without an address answered no error")
	}
}

// TestServeOnPortZero: a server on port 0 answers at its URL, which is its base URL, and the
// service runs on the clock it was given.
func TestServeOnPortZero(t *testing.T) {
	at := time.Date(2031, 3, 14, 9, 0, 10, 0, time.UTC)
	a := apptest.Serve(t, app.Config{Clock: clock.NewFake(at)})
	if a.BaseURL != a.URL() || a.URL() == "" {
		t.Errorf("base URL %q, URL %q", a.BaseURL, a.URL())
	}
	resp, err := http.Get(a.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d", resp.StatusCode)
	}
	if _, err := a.Service.Bootstrap(context.Background(), "admin@example.org"); err != nil {
		t.Fatal(err)
	}
	u, err := a.Store.UserByName(context.Background(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	if !u.CreatedAt.Equal(at) {
		t.Errorf("the account was made at %v, want the injected %v", u.CreatedAt, at)
	}
}

// TestSettingsRefused: settings that cannot work are refused at Open, SSO ones as a
// SettingsError, and nothing stays listening.
func TestSettingsRefused(t *testing.T) {
	base := app.Config{Data: t.TempDir(), MailFrom: "Twofold <twofold@localhost>", Hashing: apptest.CheapHashing}
	for name, mod := range map[string]func(*app.Config){
		"mail from":     func(c *app.Config) { c.MailFrom = "not an address" },
		"mail":          func(c *app.Config) { c.Mail = "carrier-pigeon" },
		"database":      func(c *app.Config) { c.DB = "mysql://x" },
		"server key":    func(c *app.Config) { c.SecretKey = "00" },
		"database away": func(c *app.Config) { c.DB = "postgres://127.0.0.1:1/none" },
		"plain http SSO": func(c *app.Config) {
			c.Addr, c.SSO.Issuer, c.SSO.ClientID = "127.0.0.1:0", "http://idp.example.org", "c"
		},
	} {
		c := base
		mod(&c)
		a, err := app.Open(context.Background(), c)
		if err == nil {
			a.Close()
			t.Errorf("%s: opened", name)
			continue
		}
		var se *app.SettingsError
		if isSSO := c.SSO.Issuer != ""; errors.As(err, &se) != isSSO {
			t.Errorf("%s: %v is a SettingsError: %v", name, err, !isSSO)
		}
	}
}
