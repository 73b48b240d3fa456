package provider_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/store"
)

// TestCodeFlow is an application's whole sign-in through go-oidc and x/oauth2: discovery, the
// authorization request, Twofold's sign-in and consent, the code coming back with state and iss,
// the exchange, the verified ID token and userinfo.
func TestCodeFlow(t *testing.T) {
	h := newHarness(t)
	u := h.addUser("alice", false, "staff")
	id, secret := h.addClient(store.Client{Name: "Grafana"})
	cfg, verifier := h.oauth(id, secret, gooidc.ScopeOpenID, "profile", "email", "groups")
	b := h.browser()

	p := b.authorize(cfg, "state-1", gooidc.Nonce("nonce-1"))
	p = b.signIn(p, "alice")
	if !strings.Contains(p.body, "Grafana") {
		t.Fatalf("the consent page does not name the application:\n%s", p.body)
	}
	got := h.atApp(b.allow(p))
	if got.Get("state") != "state-1" || got.Get("iss") != h.base || got.Get("code") == "" {
		t.Fatalf("authorization response %v, want state-1, iss %s and a code", got, h.base)
	}

	tok, err := cfg.Exchange(context.Background(), got.Get("code"))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := verifier.Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	c := claims(t, idt)
	if idt.Subject != u.Subject || idt.Subject == "alice" || idt.Nonce != "nonce-1" {
		t.Errorf("sub %q nonce %q, want the account's subject %q and nonce-1", idt.Subject, idt.Nonce, u.Subject)
	}
	if c["preferred_username"] != "alice" || c["email"] != "alice@example.org" || c["name"] != "Person alice" {
		t.Errorf("ID token claims %v lack the scopes' claims", c)
	}
	if g, _ := c["groups"].([]any); len(g) != 1 || g[0] != "staff" {
		t.Errorf("groups claim %v, want [staff]", c["groups"])
	}
	if c["acr"] != "pwd" || !sameStrings(c["amr"], "pwd") || c["sid"] == nil || c["auth_time"] == nil {
		t.Errorf("acr %v amr %v sid %v auth_time %v, want pwd, [pwd], a sid and auth_time", c["acr"], c["amr"], c["sid"], c["auth_time"])
	}
	if tok.RefreshToken != "" {
		t.Errorf("a refresh token without offline_access")
	}

	status, ui := h.userinfo(tok.AccessToken)
	if status != http.StatusOK || ui["sub"] != u.Subject || ui["preferred_username"] != "alice" || ui["email_verified"] != false {
		t.Fatalf("userinfo %d %v", status, ui)
	}
	if _, ok := ui["sid"]; ok {
		t.Errorf("userinfo answers sid, which no scope asks for: %v", ui)
	}
	if len(h.events("oidc.authorized")) != 1 {
		t.Errorf("the authorization is not audited")
	}

	// Signed in and allowed: the next authorization asks nothing.
	p = b.authorize(cfg, "state-2")
	if got := h.atApp(p); got.Get("code") == "" || got.Get("state") != "state-2" {
		t.Fatalf("second authorization %v", got)
	}
}

// TestScopesLimitClaims: claims of scopes not asked for are in neither the ID token nor
// userinfo.
func TestScopesLimitClaims(t *testing.T) {
	h := newHarness(t)
	h.addUser("bob", false, "staff")
	id, secret := h.addClient(store.Client{SkipConsent: true})
	cfg, verifier := h.oauth(id, secret, gooidc.ScopeOpenID)
	b := h.browser()
	got := h.atApp(b.signIn(b.authorize(cfg, "s"), "bob"))
	tok, err := cfg.Exchange(context.Background(), got.Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	idt, err := verifier.Verify(context.Background(), tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	c := claims(t, idt)
	_, ui := h.userinfo(tok.AccessToken)
	for _, k := range []string{"email", "preferred_username", "name", "groups", "email_verified"} {
		if _, ok := c[k]; ok {
			t.Errorf("ID token holds %s without its scope", k)
		}
		if _, ok := ui[k]; ok {
			t.Errorf("userinfo holds %s without its scope", k)
		}
	}
}

func sameStrings(v any, want ...string) bool {
	list, _ := v.([]any)
	var got []string
	for _, x := range list {
		s, _ := x.(string)
		got = append(got, s)
	}
	return slices.Equal(got, want)
}

// TestConsentRememberedAndWithdrawn: consent is asked again when the client asks for more, and
// Remove access (Profile > Applications) forgets it and revokes that client's tokens.
func TestConsentRememberedAndWithdrawn(t *testing.T) {
	h := newHarness(t)
	h.addUser("uma", false)
	id, secret := h.addClient(store.Client{Name: "Wiki"})
	cfg, _ := h.oauth(id, secret, gooidc.ScopeOpenID, "profile")
	b := h.browser()
	p := b.signIn(b.authorize(cfg, "s"), "uma")
	tok, err := cfg.Exchange(context.Background(), h.atApp(b.allow(p)).Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	if got := h.atApp(b.authorize(cfg, "s")); got.Get("code") == "" {
		t.Fatalf("consent was not remembered: %v", got)
	}
	more, _ := h.oauth(id, secret, gooidc.ScopeOpenID, "profile", "email")
	if p := b.authorize(more, "s"); !strings.Contains(p.body, `value="allow"`) || !strings.Contains(p.body, "email") {
		t.Fatalf("a client asking for more was not asked about:\n%s", p.body)
	}

	token := sessionCookie(t, b, h.base)
	if err := h.app.Provider.RemoveAccess(context.Background(), token, id); err != nil {
		t.Fatal(err)
	}
	if status, _ := h.userinfo(tok.AccessToken); !refused(status) {
		t.Errorf("a token of a withdrawn consent answers %d", status)
	}
	if p := b.authorize(cfg, "s"); !strings.Contains(p.body, `value="allow"`) {
		t.Fatalf("consent was still remembered after Remove access")
	}
}

// TestEmailVerified: email_verified is true once the account signed in with a temporary
// password mailed to its address.
func TestEmailVerified(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if _, _, err := h.app.Service.CreateUser(ctx, account.CLI, account.NewUser{Username: "vic", Email: "vic@example.org"}); err != nil {
		t.Fatal(err)
	}
	id, secret := h.addClient(store.Client{SkipConsent: true})
	cfg, _ := h.oauth(id, secret)
	b := h.browser()
	p := b.authorize(cfg, "s")
	p = b.post("/signin", url.Values{"username": {"vic"}, "password": {h.temporaryPassword("vic@example.org")},
		"rd": {p.hidden(t, "rd")}})
	if p.url.Path != "/signin/password" {
		t.Fatalf("expected the new-password step, at %s", p.url)
	}
	got := h.atApp(b.post("/signin/password", url.Values{"new_password": {testPassword}, "confirm_password": {testPassword}}))
	tok, err := cfg.Exchange(ctx, got.Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ui := h.userinfo(tok.AccessToken); ui["email_verified"] != true {
		t.Errorf("email_verified %v after a mailed temporary password", ui["email_verified"])
	}
}

// sessionCookie answers the browser's Twofold session token.
func sessionCookie(t *testing.T, b *browser, base string) string {
	t.Helper()
	u, _ := url.Parse(base)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "twofold_session" {
			return c.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// TestApplicationsListsSkipConsent: an application that asks no consent is listed under
// Profile > Applications while it holds a token of the person, and Remove access revokes it.
func TestApplicationsListsSkipConsent(t *testing.T) {
	h := newHarness(t)
	h.addUser("wes", false)
	id, secret := h.addClient(store.Client{Name: "Intranet", SkipConsent: true})
	cfg, _ := h.oauth(id, secret)
	b := h.browser()
	tok, err := cfg.Exchange(context.Background(), h.codeFor(b, cfg, "wes"))
	if err != nil {
		t.Fatal(err)
	}
	token := sessionCookie(t, b, h.base)
	apps, err := h.app.Provider.Applications(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 1 || apps[0].ClientID != id || !apps[0].AllowedAt.IsZero() {
		t.Fatalf("applications %+v, want Intranet without a consent time", apps)
	}
	if err := h.app.Provider.RemoveAccess(context.Background(), token, id); err != nil {
		t.Fatal(err)
	}
	if status, _ := h.userinfo(tok.AccessToken); !refused(status) {
		t.Errorf("after Remove access the token answers %d", status)
	}
	if apps, _ := h.app.Provider.Applications(context.Background(), token); len(apps) != 0 {
		t.Errorf("still listed: %+v", apps)
	}
}
