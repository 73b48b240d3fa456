package provider_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/store"
)

// TestStandingVoidsCodes: a code issued but not yet exchanged when the account's standing
// changes, or when the person withdraws the application's access, can no longer be exchanged
// (SPEC §7: none outlives the account's standing), though it is well within its 60 seconds; a
// code of another application survives the withdrawal of one application's access.
func TestStandingVoidsCodes(t *testing.T) {
	for name, change := range map[string]func(h *harness, b *browser, clientID string) error{
		"reset MFA": func(h *harness, _ *browser, _ string) error {
			_, err := h.app.Service.ResetMFA(context.Background(), account.CLI, "zed", false)
			return err
		},
		"new temporary password": func(h *harness, _ *browser, _ string) error {
			_, err := h.app.Service.ResetPassword(context.Background(), account.CLI, "zed")
			return err
		},
		"password change": func(h *harness, b *browser, _ string) error {
			p := b.post("/profile/security/password", url.Values{"current_password": {testPassword},
				"new_password": {"a whole new passphrase 42"}, "confirm_password": {"a whole new passphrase 42"}})
			if p.status != http.StatusOK {
				return fmt.Errorf("password change: %d at %s", p.status, p.url)
			}
			return nil
		},
		"access removed": func(h *harness, b *browser, clientID string) error {
			return h.app.Provider.RemoveAccess(context.Background(), sessionCookie(h.t, b, h.base), clientID)
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.addUser("zed", true)
			ctx := context.Background()
			b := h.browser()
			app := func(name string) *oauth2.Config {
				id, secret := h.addClient(store.Client{Name: name})
				cfg, _ := h.oauth(id, secret, gooidc.ScopeOpenID, gooidc.ScopeOfflineAccess)
				cfg.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
				return cfg
			}
			code := func(cfg *oauth2.Config) string {
				c := h.codeFor(b, cfg, "zed")
				if c == "" {
					t.Fatalf("no code for %s", cfg.ClientID)
				}
				return c
			}
			wiki, other := app("Wiki"), app("Other")
			pending, otherPending := code(wiki), code(other)
			if err := change(h, b, wiki.ClientID); err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(5 * time.Second)
			_, err := wiki.Exchange(ctx, pending)
			if err == nil || !strings.Contains(err.Error(), "invalid_grant") {
				t.Fatalf("a code issued before %s, exchanged after it: %v, want invalid_grant", name, err)
			}
			_, err = other.Exchange(ctx, otherPending)
			if name == "access removed" && err != nil {
				t.Errorf("another application's code after one application's access was removed: %v", err)
			}
			if name != "access removed" && err == nil {
				t.Errorf("another application's code after %s worked", name)
			}
		})
	}
}
