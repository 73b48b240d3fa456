package provider_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/twofold-auth/twofold/internal/cookie"
	"github.com/twofold-auth/twofold/internal/provider"
	"github.com/twofold-auth/twofold/internal/store"
)

// beforeUpdate runs hook once, before the first transaction after it is armed, in a
// transaction of its own: something another request commits just before.
type beforeUpdate struct {
	store.Store
	mu   sync.Mutex
	hook func()
}

func (s *beforeUpdate) Update(ctx context.Context, fn func(q store.Queries) error) error {
	s.mu.Lock()
	hook := s.hook
	s.hook = nil
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return s.Store.Update(ctx, fn)
}

// TestNoCodeForAnEndedSession: a session that ends (here, by signing out) after the provider
// has checked it, but before it binds the sign-in request to it, gives the application no
// code: the request is answered "not signed in" and stays unfinished (SPEC §7: nothing an
// application holds outlives the session's end).
func TestNoCodeForAnEndedSession(t *testing.T) {
	h := newHarness(t)
	b, p, _ := h.atConsent("ned")
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

	st := &beforeUpdate{Store: h.app.Store}
	p2, err := provider.New(ctx, provider.Config{Store: st, Accounts: h.app.Service, Keys: h.app.Keys, Issuer: h.base, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	st.hook = func() {
		if err := h.app.Service.SignOut(ctx, token); err != nil {
			t.Errorf("SignOut: %v", err)
		}
	}
	target, err := p2.Respond(ctx, reqID, token)
	if err == nil || strings.Contains(target, "code=") {
		t.Fatalf("Respond after the session ended = %q, %v; want no code", target, err)
	}
	a, err := h.app.Store.AuthRequest(ctx, reqID)
	if err != nil {
		t.Fatal(err)
	}
	if a.Done || a.CodeHash != nil {
		t.Errorf("the request was bound to an ended session: done %v, code %v", a.Done, a.CodeHash != nil)
	}
}
