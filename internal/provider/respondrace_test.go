package provider_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/cookie"
	"github.com/twofold-auth/twofold/internal/provider"
	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/storetest"
)

// TestNoCodeForAnEndedSession: what changes after the provider has checked a sign-in request
// but before it binds the request to the session gives the application no code: the session
// ended (here, by signing out; SPEC §7: nothing an application holds outlives it), the
// person's consent withdrawn, or the person left the application's groups. The request stays
// unfinished.
func TestNoCodeForAnEndedSession(t *testing.T) {
	for name, change := range map[string]func(h *harness, token, clientID string) error{
		"signed out": func(h *harness, token, _ string) error { return h.app.Service.SignOut(context.Background(), token) },
		"consent withdrawn": func(h *harness, token, clientID string) error {
			return h.app.Provider.RemoveAccess(context.Background(), token, clientID)
		},
		"left the group": func(h *harness, _, _ string) error {
			_, err := h.app.Service.ChangeGroups(context.Background(), account.CLI, "ned", account.GroupChange{Remove: []string{"staff"}})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			b, p, cfg := h.atConsent("ned", store.Client{Groups: []string{"staff"}}, "staff")
			reqID := p.hidden(t, "id")
			base, _ := url.Parse(h.base)
			var token string
			for _, c := range b.client.Jar.Cookies(base) {
				if c.Name == cookie.Name {
					token = c.Value
				}
			}
			ctx := context.Background()
			if token == "" {
				t.Fatal("no session cookie after signing in")
			}
			if err := h.app.Provider.Consent(ctx, reqID, token, true); err != nil {
				t.Fatal(err)
			}

			st := &storetest.Before{Store: h.app.Store}
			p2, err := provider.New(ctx, provider.Config{Store: st, Accounts: h.app.Service, Keys: h.app.Keys, Issuer: h.base, Now: h.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			st.Arm(func() {
				if err := change(h, token, cfg.ClientID); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			})
			target, err := p2.Respond(ctx, reqID, token)
			if err == nil || strings.Contains(target, "code=") {
				t.Fatalf("Respond after the change = %q, %v; want no code", target, err)
			}
			a, err := h.app.Store.AuthRequest(ctx, reqID)
			if err != nil {
				t.Fatal(err)
			}
			if a.Done || a.CodeHash != nil {
				t.Errorf("the request was finished after the change: done %v, code %v", a.Done, a.CodeHash != nil)
			}
		})
	}
}
