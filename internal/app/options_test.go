package app_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/app/apptest"
	"github.com/twofold-auth/twofold/internal/options"
)

// TestInvalidStoredOptionLogged: a stored option value that fails its rule (a database edited
// by hand) reads as the default, and the server says so when it opens, naming the rule; valid
// values are not mentioned.
func TestInvalidStoredOptionLogged(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	c := keyConfig(data, "", keyA)
	a, err := app.Open(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	for key, value := range map[string]string{options.InternalMFA: "bogus", options.ExternalMFA: "optional"} {
		if err := a.Store.SetOption(ctx, key, value); err != nil { // past the service's checks
			t.Fatal(err)
		}
	}
	a.Close()

	logs := &apptest.Logs{}
	c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	if a, err = app.Open(ctx, c); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	got := logs.String()
	if !strings.Contains(got, "a stored option is not valid") || !strings.Contains(got, "internalMFA must be one of") {
		t.Errorf("the invalid internalMFA is not logged:\n%s", got)
	}
	if strings.Contains(got, "externalMFA") {
		t.Errorf("a valid option is logged:\n%s", got)
	}
	if v, err := a.Options.Get(ctx); err != nil || v.Get(options.InternalMFA) != "required" {
		t.Errorf("the invalid internalMFA reads as %q (%v), want the default", v.Get(options.InternalMFA), err)
	}
}
