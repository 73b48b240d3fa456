package provider_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/store"
)

// codeFor runs a whole authorization for username, signing in and allowing the application
// when asked, and answers the code.
func (h *harness) codeFor(b *browser, cfg *oauth2.Config, username string, opts ...oauth2.AuthCodeOption) string {
	h.t.Helper()
	p := b.authorize(cfg, "st", opts...)
	if p.url.Path == "/signin" {
		p = b.signIn(p, username)
	}
	if strings.Contains(p.body, `value="allow"`) {
		p = b.allow(p)
	}
	return h.atApp(p).Get("code")
}

// TestDiscoveryListsOnlyWhatWorks: the code flow, S256, RS256, the answered scopes, iss in the
// response; nothing of the implicit flow, device flow or request objects.
func TestDiscoveryListsOnlyWhatWorks(t *testing.T) {
	h := newHarness(t)
	resp, err := http.Get(h.base + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d map[string]any
	json.NewDecoder(resp.Body).Decode(&d)
	checks := map[string]any{
		"issuer": h.base, "response_types_supported": []any{"code"},
		"grant_types_supported":                          []any{"authorization_code", "refresh_token"},
		"code_challenge_methods_supported":               []any{"S256"},
		"id_token_signing_alg_values_supported":          []any{"RS256"},
		"authorization_response_iss_parameter_supported": true,
		"backchannel_logout_supported":                   true,
		"request_parameter_supported":                    nil,
		// TestIntrospection: the secret in the form is refused there.
		"introspection_endpoint_auth_methods_supported": []any{"client_secret_basic"},
		"device_authorization_endpoint":                 nil,
	}
	for k, want := range checks {
		got, _ := json.Marshal(d[k])
		w, _ := json.Marshal(want)
		if string(got) != string(w) {
			t.Errorf("%s = %s, want %s", k, got, w)
		}
	}
	for _, k := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
		"revocation_endpoint", "introspection_endpoint", "end_session_endpoint"} {
		if s, _ := d[k].(string); !strings.HasPrefix(s, h.base+"/") {
			t.Errorf("%s = %v", k, d[k])
		}
	}
}

// TestClientErrorsStayOnTwofold: an unknown client or a redirect URI not registered exactly is
// shown on Twofold's page and never redirected.
func TestClientErrorsStayOnTwofold(t *testing.T) {
	h := newHarness(t)
	id, secret := h.addClient(store.Client{})
	cfg, _ := h.oauth(id, secret)
	cases := map[string]func(c *oauth2.Config){
		"unknown client":       func(c *oauth2.Config) { c.ClientID = "nobody" },
		"extra query":          func(c *oauth2.Config) { c.RedirectURL += "?x=1" },
		"prefix":               func(c *oauth2.Config) { c.RedirectURL += "/more" },
		"other host":           func(c *oauth2.Config) { c.RedirectURL = "https://evil.example/callback" },
		"trailing slash":       func(c *oauth2.Config) { c.RedirectURL += "/" },
		"missing redirect uri": func(c *oauth2.Config) { c.RedirectURL = "" },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			c := *cfg
			change(&c)
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := client.Get(c.AuthCodeURL("s"))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" ||
				!strings.Contains(string(body), "sign-in request was refused") {
				t.Fatalf("%d Location %q:\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
			}
		})
	}
}

// TestPKCE: a public client must send S256; with it the flow works, and the verifier must match.
func TestPKCE(t *testing.T) {
	h := newHarness(t)
	h.addUser("carol", false)
	id, _ := h.addClient(store.Client{Public: true, SkipConsent: true})
	cfg, _ := h.oauth(id, "")
	b := h.browser()

	got := h.atApp(b.authorize(cfg, "s"))
	if got.Get("error") != "invalid_request" || got.Get("state") != "s" {
		t.Fatalf("public client without PKCE: %v", got)
	}
	plain := h.atApp(b.authorize(cfg, "s", oauth2.SetAuthURLParam("code_challenge", "abc"),
		oauth2.SetAuthURLParam("code_challenge_method", "plain")))
	if plain.Get("error") != "invalid_request" {
		t.Fatalf("plain PKCE: %v", plain)
	}

	verifier := oauth2.GenerateVerifier()
	code := h.codeFor(b, cfg, "carol", oauth2.S256ChallengeOption(verifier))
	if _, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
		t.Fatal("a wrong verifier was accepted")
	}
	code = h.codeFor(b, cfg, "carol", oauth2.S256ChallengeOption(verifier))
	if _, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("right verifier: %v", err)
	}
}

// TestCodeWorksOnce: a second redemption is refused and revokes what the first issued; of
// redemptions at the same moment exactly one succeeds; a code expires after 60 seconds.
func TestCodeWorksOnce(t *testing.T) {
	h := newHarness(t)
	h.addUser("dave", false)
	id, secret := h.addClient(store.Client{SkipConsent: true})
	cfg, _ := h.oauth(id, secret, gooidc.ScopeOpenID, gooidc.ScopeOfflineAccess)
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	b := h.browser()
	ctx := context.Background()

	code := h.codeFor(b, cfg, "dave")
	tok, err := cfg.Exchange(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Exchange(ctx, code); err == nil {
		t.Fatal("a code worked twice")
	}
	if status, _ := h.userinfo(tok.AccessToken); !refused(status) {
		t.Errorf("the access token of a replayed code answers %d", status)
	}
	if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Errorf("the refresh token of a replayed code still works")
	}
	if len(h.events("oidc.code_replayed")) != 1 {
		t.Errorf("the replay is not audited")
	}

	code = h.codeFor(b, cfg, "dave")
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := cfg.Exchange(ctx, code); err == nil {
				ok.Add(1)
			} else if testing.Verbose() {
				t.Log(err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() > 1 {
		t.Errorf("%d of 20 simultaneous redemptions succeeded, want at most 1", ok.Load())
	}
	if n := len(h.events("oidc.code_replayed")); n < 2 {
		t.Errorf("%d replays audited, want the simultaneous ones too", n)
	}

	code = h.codeFor(b, cfg, "dave")
	h.clock.Advance(61 * time.Second)
	if _, err := cfg.Exchange(ctx, code); err == nil {
		t.Error("a code worked after 61 seconds")
	}
}

// TestRefreshRotation: each refresh gives a new refresh token; using an old one again revokes
// the whole family, access tokens included.
func TestRefreshRotation(t *testing.T) {
	h := newHarness(t)
	h.addUser("erin", false)
	id, secret := h.addClient(store.Client{SkipConsent: true})
	cfg, _ := h.oauth(id, secret, gooidc.ScopeOpenID, gooidc.ScopeOfflineAccess)
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	b := h.browser()
	ctx := context.Background()

	tok, err := cfg.Exchange(ctx, h.codeFor(b, cfg, "erin"))
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("exchange: %v, refresh token %q", err, tok.RefreshToken)
	}
	first := tok.RefreshToken
	tok2, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: first}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if tok2.RefreshToken == "" || tok2.RefreshToken == first {
		t.Fatalf("the refresh token did not rotate")
	}
	if status, _ := h.userinfo(tok2.AccessToken); status != http.StatusOK {
		t.Fatalf("refreshed access token: %d", status)
	}
	if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: first}).Token(); err == nil {
		t.Fatal("a used refresh token worked again")
	}
	if status, _ := h.userinfo(tok2.AccessToken); !refused(status) {
		t.Errorf("after reuse, the family's access token answers %d", status)
	}
	if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok2.RefreshToken}).Token(); err == nil {
		t.Errorf("after reuse, the family's newest refresh token still works")
	}
	if len(h.events("oidc.refresh_replayed")) != 1 {
		t.Errorf("the family revocation is not audited")
	}
}

// TestPrompt: prompt=none shows no page; prompt=login and a passed max_age ask again.
func TestPrompt(t *testing.T) {
	h := newHarness(t)
	h.addUser("fay", false)
	id, secret := h.addClient(store.Client{})
	cfg, _ := h.oauth(id, secret)
	b := h.browser()

	if got := h.atApp(b.authorize(cfg, "s", oauth2.SetAuthURLParam("prompt", "none"))); got.Get("error") != "login_required" {
		t.Fatalf("prompt=none without a session: %v", got)
	}
	p := b.authorize(cfg, "s", oauth2.SetAuthURLParam("login_hint", "fay"))
	if !strings.Contains(p.body, `value="fay"`) {
		t.Errorf("login_hint does not fill the username")
	}
	p = b.signIn(p, "fay")
	if got := h.atApp(b.authorize(cfg, "s", oauth2.SetAuthURLParam("prompt", "none"))); got.Get("error") != "consent_required" {
		t.Fatalf("prompt=none without consent: %v", got)
	}
	h.atApp(b.allow(p))

	h.clock.Advance(time.Second)
	p = b.authorize(cfg, "s", oauth2.SetAuthURLParam("prompt", "login"))
	if p.url.Path != "/signin" {
		t.Fatalf("prompt=login with a session went to %s", p.url)
	}
	h.clock.Advance(time.Second)
	h.atApp(b.signIn(p, "fay"))

	h.clock.Advance(10 * time.Minute)
	if got := h.atApp(b.authorize(cfg, "s", oauth2.SetAuthURLParam("max_age", "3600"))); got.Get("code") == "" {
		t.Fatalf("max_age not passed: %v", got)
	}
	p = b.authorize(cfg, "s", oauth2.SetAuthURLParam("max_age", "60"))
	if p.url.Path != "/signin" {
		t.Fatalf("a passed max_age went to %s", p.url)
	}
	if got := h.atApp(b.authorize(cfg, "s", oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("max_age", "60"))); got.Get("error") != "login_required" {
		t.Fatalf("prompt=none with a passed max_age: %v", got)
	}
}

// TestStepUp: a client registered with --require-mfa, or acr_values=mfa, sends a session
// without a second factor through verification, or enrolment without "Skip for now", whatever
// the policy; the ID token then says acr mfa and amr pwd otp mfa.
func TestStepUp(t *testing.T) {
	for _, tc := range []struct {
		name       string
		requireMFA bool
		opts       []oauth2.AuthCodeOption
		policy     string
	}{
		{"require-mfa, policy off", true, nil, options.PolicyOff},
		{"acr_values, policy optional", false, []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("acr_values", "mfa")}, options.PolicyOptional},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.setOption(options.InternalMFA, tc.policy)
			h.addUser("gus", true)
			h.addUser("hal", false)
			id, secret := h.addClient(store.Client{SkipConsent: true, RequireMFA: tc.requireMFA})
			cfg, verifier := h.oauth(id, secret)

			b := h.browser()
			p := b.signIn(b.authorize(cfg, "s", tc.opts...), "gus")
			if p.url.Path != "/signin/verify" {
				t.Fatalf("expected Verification Required, at %s:\n%s", p.url, p.body)
			}
			got := h.atApp(b.post("/signin/verify", url.Values{"code": {h.code()}}))
			tok, err := cfg.Exchange(context.Background(), got.Get("code"))
			if err != nil {
				t.Fatal(err)
			}
			idt, err := verifier.Verify(context.Background(), tok.Extra("id_token").(string))
			if err != nil {
				t.Fatal(err)
			}
			c := claims(t, idt)
			if c["acr"] != "mfa" || !sameStrings(c["amr"], "pwd", "otp", "mfa") {
				t.Errorf("acr %v amr %v after a TOTP code", c["acr"], c["amr"])
			}

			b = h.browser()
			p = b.signIn(b.authorize(cfg, "s", tc.opts...), "hal")
			if p.url.Path != "/signin/enroll" || strings.Contains(p.body, "Skip for now") {
				t.Fatalf("an account without an authenticator: at %s, skip offered %v", p.url, strings.Contains(p.body, "Skip for now"))
			}
		})
	}
}

// TestRefreshACR: the ID token of a refresh grant says the acr of the session, as the code
// grant's does: mfa after a TOTP code, pwd after a password alone (SPEC §7).
func TestRefreshACR(t *testing.T) {
	for _, tc := range []struct {
		name string
		totp bool
		acr  string
		amr  []string
	}{
		{"password alone", false, "pwd", []string{"pwd"}},
		{"TOTP code", true, "mfa", []string{"pwd", "otp", "mfa"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.addUser("kit", tc.totp)
			id, secret := h.addClient(store.Client{SkipConsent: true, RequireMFA: tc.totp})
			cfg, verifier := h.oauth(id, secret, gooidc.ScopeOpenID, gooidc.ScopeOfflineAccess)
			ctx := context.Background()

			b := h.browser()
			p := b.signIn(b.authorize(cfg, "s"), "kit")
			if tc.totp {
				p = b.post("/signin/verify", url.Values{"code": {h.code()}})
			}
			tok, err := cfg.Exchange(ctx, h.atApp(p).Get("code"))
			if err != nil || tok.RefreshToken == "" {
				t.Fatalf("exchange: %v, refresh token %q", err, tok.RefreshToken)
			}
			refreshed, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			for grant, tk := range map[string]*oauth2.Token{"code": tok, "refresh": refreshed} {
				raw, _ := tk.Extra("id_token").(string)
				idt, err := verifier.Verify(ctx, raw)
				if err != nil {
					t.Fatalf("%s grant's ID token: %v", grant, err)
				}
				if c := claims(t, idt); c["acr"] != tc.acr || !sameStrings(c["amr"], tc.amr...) {
					t.Errorf("%s grant: acr %v amr %v, want %s and %v", grant, c["acr"], c["amr"], tc.acr, tc.amr)
				}
			}
		})
	}
}

// TestGroupsRestrictClient: a client registered with groups admits only their members; others
// see "You don't have access to NAME", whose Back returns access_denied.
func TestGroupsRestrictClient(t *testing.T) {
	h := newHarness(t)
	h.addUser("ida", false, "ops")
	h.addUser("jon", false, "sales")
	id, secret := h.addClient(store.Client{Name: "Ops Console", SkipConsent: true, Groups: []string{"ops", "admins"}})
	cfg, _ := h.oauth(id, secret)

	b := h.browser()
	if got := h.atApp(b.signIn(b.authorize(cfg, "s"), "ida")); got.Get("code") == "" {
		t.Fatalf("a member was refused: %v", got)
	}
	b = h.browser()
	p := b.signIn(b.authorize(cfg, "s"), "jon")
	if !strings.Contains(p.body, "You don&#39;t have access to Ops Console") || !strings.Contains(p.body, "Back to Ops Console") {
		t.Fatalf("no access page:\n%s", p.body)
	}
	got := h.atApp(b.post("/oidc/back", url.Values{"id": {p.hidden(t, "id")}}))
	if got.Get("error") != "access_denied" || got.Get("state") != "s" {
		t.Fatalf("Back: %v", got)
	}
}

// TestConsentDeny: Deny sends access_denied and remembers nothing.
func TestConsentDeny(t *testing.T) {
	h := newHarness(t)
	b, p, cfg := h.atConsent("kim", store.Client{})
	got := h.atApp(b.post("/oidc/consent", url.Values{"id": {p.hidden(t, "id")}, "answer": {"deny"}}))
	if got.Get("error") != "access_denied" {
		t.Fatalf("Deny: %v", got)
	}
	if p := b.authorize(cfg, "s"); !strings.Contains(p.body, `value="allow"`) {
		t.Fatalf("consent was remembered after Deny")
	}
}

// TestDisablingRevokes: disabling the account revokes its tokens at once.
func TestDisablingRevokes(t *testing.T) {
	h := newHarness(t)
	h.addUser("lee", false)
	id, secret := h.addClient(store.Client{SkipConsent: true})
	cfg, _ := h.oauth(id, secret, gooidc.ScopeOpenID, gooidc.ScopeOfflineAccess)
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	b := h.browser()
	ctx := context.Background()
	tok, err := cfg.Exchange(ctx, h.codeFor(b, cfg, "lee"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.app.Service.SetDisabled(ctx, account.CLI, "lee", true); err != nil {
		t.Fatal(err)
	}
	if status, _ := h.userinfo(tok.AccessToken); !refused(status) {
		t.Errorf("access token of a disabled account: %d", status)
	}
	if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Errorf("refresh token of a disabled account worked")
	}
}

// TestWrongSecret: a wrong client secret is refused with invalid_client, counted in the
// metrics and never logged.
func TestWrongSecret(t *testing.T) {
	h := newHarness(t)
	h.addUser("max", false)
	id, secret := h.addClient(store.Client{SkipConsent: true})
	cfg, _ := h.oauth(id, secret)
	code := h.codeFor(h.browser(), cfg, "max")
	bad := *cfg
	bad.ClientSecret = "not-the-secret-xyz"
	bad.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	var logged bytes.Buffer // the library logs through slog's default
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer slog.SetDefault(old)
	_, err := bad.Exchange(context.Background(), code)
	slog.SetDefault(old)
	if !strings.Contains(logged.String(), "invalid_client") {
		t.Errorf("the refusal was not logged where the test looks:\n%s", logged.String())
	}
	if strings.Contains(logged.String(), "not-the-secret") || strings.Contains(logged.String(), code) {
		t.Errorf("the log holds the secret or the code:\n%s", logged.String())
	}
	var re *oauth2.RetrieveError
	if err == nil || !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
		t.Fatalf("wrong secret: %v", err)
	}
	resp, err := http.Get(h.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "twofold_oidc_client_auth_failures_total 1") {
		t.Errorf("the failure is not counted")
	}
}

// refused is userinfo's answer to a token that does not work: 401 when it is not one of ours,
// 403 (the library's answer) when it was revoked or its account disabled.
func refused(status int) bool {
	return status == http.StatusUnauthorized || status == http.StatusForbidden
}

// TestEndSession: RP-initiated logout ends the session; it redirects only to a post-logout URI
// registered for that client, exactly, with state; any other shows Twofold's signed-out page.
func TestEndSession(t *testing.T) {
	h := newHarness(t)
	h.addUser("ned", false)
	after := h.rp.srv.URL + "/signed-out"
	id, secret := h.addClient(store.Client{SkipConsent: true, PostLogoutRedirectURIs: []string{after}})
	cfg, _ := h.oauth(id, secret)
	ctx := context.Background()

	for _, tc := range []struct {
		name, target string
		hint         bool
		wantAt       string
	}{
		{"registered, with hint", after, true, after},
		{"registered, client_id only", after, false, after},
		{"not registered", h.rp.srv.URL + "/elsewhere", true, ""},
		{"registered with extra query", after + "?x=1", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := h.browser()
			tok, err := cfg.Exchange(ctx, h.codeFor(b, cfg, "ned"))
			if err != nil {
				t.Fatal(err)
			}
			q := url.Values{"post_logout_redirect_uri": {tc.target}, "state": {"bye"}}
			if tc.hint {
				q.Set("id_token_hint", tok.Extra("id_token").(string))
			} else {
				q.Set("client_id", id)
			}
			p := b.get(h.base + "/oidc/end_session?" + q.Encode())
			if tc.wantAt != "" {
				if got := p.url.Scheme + "://" + p.url.Host + p.url.Path; got != tc.wantAt || p.url.Query().Get("state") != "bye" {
					t.Fatalf("after logout at %s, want %s with state", p.url, tc.wantAt)
				}
			} else if p.url.Host != strings.TrimPrefix(h.base, "http://") || !strings.Contains(p.body, "You are signed out") {
				t.Fatalf("after logout with %s at %s:\n%s", tc.target, p.url, p.body)
			}
			if p := b.authorize(cfg, "s"); p.url.Path != "/signin" {
				t.Fatalf("the session survived logout: at %s", p.url)
			}
		})
	}
	if n := len(h.events("oidc.end_session")); n != 4 {
		t.Errorf("%d logouts audited, want 4", n)
	}
}

// TestKeyRotation: after rotate-key, new ID tokens are signed with the new key and one signed
// before still verifies through the JWKS.
func TestKeyRotation(t *testing.T) {
	h := newHarness(t)
	h.addUser("ola", false)
	id, secret := h.addClient(store.Client{SkipConsent: true})
	cfg, _ := h.oauth(id, secret)
	ctx := context.Background()
	b := h.browser()
	tok, err := cfg.Exchange(ctx, h.codeFor(b, cfg, "ola"))
	if err != nil {
		t.Fatal(err)
	}
	old := tok.Extra("id_token").(string)
	if _, err := h.app.Provider.RotateKey(ctx, "cli"); err != nil {
		t.Fatal(err)
	}
	tok2, err := cfg.Exchange(ctx, h.codeFor(b, cfg, "ola"))
	if err != nil {
		t.Fatal(err)
	}
	if kid(t, old) == kid(t, tok2.Extra("id_token").(string)) {
		t.Fatal("the new ID token is signed with the old key")
	}
	// A new verifier fetches the JWKS afresh: both keys are in it.
	_, verifier := h.oauth(id, secret)
	for _, raw := range []string{old, tok2.Extra("id_token").(string)} {
		if _, err := verifier.Verify(ctx, raw); err != nil {
			t.Errorf("verify after rotation: %v", err)
		}
	}
	if len(h.events("oidc.key_rotated")) != 1 {
		t.Errorf("the rotation is not audited")
	}
}

// kid answers the key id in a JWT's header.
func kid(t *testing.T, raw string) string {
	t.Helper()
	head, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Kid string }
	json.Unmarshal(b, &h)
	return h.Kid
}

// TestBadRequests: malformed and oversized requests get a clear error and change nothing.
func TestBadRequests(t *testing.T) {
	h := newHarness(t)
	id, secret := h.addClient(store.Client{SkipConsent: true})
	cfg, _ := h.oauth(id, secret)
	b := h.browser()
	long := strings.Repeat("x", 5000)
	for name, opt := range map[string]oauth2.AuthCodeOption{
		"state too long":        oauth2.SetAuthURLParam("state", long),
		"nonce too long":        oauth2.SetAuthURLParam("nonce", long),
		"implicit":              oauth2.SetAuthURLParam("response_type", "id_token"),
		"token":                 oauth2.SetAuthURLParam("response_type", "token"),
		"fragment mode":         oauth2.SetAuthURLParam("response_mode", "fragment"),
		"request object":        oauth2.SetAuthURLParam("request", "eyJhbGciOiJub25lIn0.e30."),
		"prompt none and login": oauth2.SetAuthURLParam("prompt", "none login"),
	} {
		t.Run(name, func(t *testing.T) {
			p := b.authorize(cfg, "s", opt)
			got := h.atApp(p)
			if frag, _ := url.ParseQuery(p.url.Fragment); got.Get("error") == "" {
				got = frag // an error for a response in the fragment goes there
			}
			if got.Get("error") == "" || got.Get("code") != "" {
				t.Fatalf("answer %v, want an error", got)
			}
		})
	}
	var n int
	h.app.Store.Update(context.Background(), func(q store.Queries) error {
		var err error
		n, err = q.DeleteExpiredAuthRequests(context.Background(), h.clock.Now().Add(time.Hour))
		return err
	})
	if n != 0 {
		t.Errorf("%d authorization requests were kept for refused requests", n)
	}

	// The token endpoint: garbage, an unknown grant, an unknown client, a huge body.
	for name, body := range map[string]string{
		"no grant":       "code=x",
		"implicit":       "grant_type=implicit",
		"password":       "grant_type=password&username=a&password=b",
		"bad code":       "grant_type=authorization_code&code=nope&redirect_uri=" + url.QueryEscape(h.rp.redirectURI),
		"bad refresh":    "grant_type=refresh_token&refresh_token=nope",
		"huge":           "grant_type=authorization_code&code=" + strings.Repeat("a", 1<<20),
		"client creds":   "grant_type=client_credentials",
		"device":         "grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code=x",
		"token exchange": "grant_type=urn:ietf:params:oauth:grant-type:token-exchange",
	} {
		t.Run("token "+name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, h.base+"/oidc/token", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(id, secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e struct{ Error string }
			json.NewDecoder(resp.Body).Decode(&e)
			if resp.StatusCode < 400 || resp.StatusCode >= 500 || e.Error == "" {
				t.Fatalf("%d %q", resp.StatusCode, e.Error)
			}
		})
	}
	if n := len(h.events("oidc.authorized")); n != 0 {
		t.Errorf("%d authorizations after bad requests", n)
	}
}

// TestCORS: the token, userinfo, revocation and keys endpoints answer cross-origin requests
// only from the origins of registered public clients' redirect URIs.
func TestCORS(t *testing.T) {
	h := newHarness(t)
	h.addClient(store.Client{Public: true, RedirectURIs: []string{"https://spa.example/cb"}})
	h.addClient(store.Client{RedirectURIs: []string{"https://server.example/cb"}})
	for _, path := range []string{"/oidc/token", "/oidc/userinfo", "/oidc/revoke", "/oidc/keys", "/oidc/introspect"} {
		for origin, want := range map[string]bool{
			"https://spa.example": path != "/oidc/introspect", "https://server.example": false, "https://evil.example": false,
		} {
			req, _ := http.NewRequest(http.MethodOptions, h.base+path, nil)
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Access-Control-Allow-Origin") == origin; got != want {
				t.Errorf("%s from %s: allowed %v, want %v", path, origin, got, want)
			}
		}
	}
}

// TestSweep: expired requests and tokens go; a used refresh token stays until it expires.
func TestSweep(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	u := h.addUser("pia", false)
	id, _ := h.addClient(store.Client{})
	now := h.clock.Now()
	st := h.app.Store
	if err := st.CreateAuthRequest(ctx, &store.AuthRequest{ID: "req-1", ClientID: id, Request: []byte("{}"), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for i, tk := range []store.Token{
		{Kind: store.TokenAccess, ExpiresAt: now.Add(15 * time.Minute)},
		{Kind: store.TokenRefresh, ExpiresAt: now.Add(30 * 24 * time.Hour), Used: true},
	} {
		tk.IDHash, tk.Family, tk.ClientID, tk.UserID, tk.CreatedAt = []byte{byte(i)}, "req-1", id, u.ID, now
		if err := st.CreateToken(ctx, &tk); err != nil {
			t.Fatal(err)
		}
	}
	h.clock.Advance(30 * time.Minute)
	if err := h.app.Provider.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AuthRequest(ctx, "req-1"); err != nil {
		t.Errorf("a request went before a code issued at its end could expire: %v", err)
	}
	h.clock.Advance(2 * time.Minute)
	if err := h.app.Provider.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AuthRequest(ctx, "req-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the expired request stayed: %v", err)
	}
	if _, err := st.Token(ctx, []byte{0}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the expired access token stayed: %v", err)
	}
	if _, err := st.Token(ctx, []byte{1}); err != nil {
		t.Errorf("the used refresh token went before it expired: %v", err)
	}
}

// TestSSOAccountSecondFactor: an SSO account meets a client's --require-mfa only when its
// identity provider reported a second factor; otherwise it is refused with a message saying why,
// or, with prompt=none, goes back to the client as interaction_required, with state and iss
// (SPEC §7: prompt=none never shows a page).
func TestSSOAccountSecondFactor(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	u := h.addUser("quinn", false)
	u.Source, u.PasswordHash = store.SourceSSO, ""
	if err := h.app.Store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	id, secret := h.addClient(store.Client{Name: "Vault", SkipConsent: true, RequireMFA: true})
	cfg, verifier := h.oauth(id, secret)
	for _, tc := range []struct {
		amr  []string
		want bool
	}{{[]string{"pwd"}, false}, {[]string{"pwd", "hwk"}, true}, {nil, false}} {
		st, err := h.app.Service.SignInSSO(ctx, account.SSOSignInRequest{
			Identity: account.SSOIdentity{Username: "quinn", Claim: "preferred_username", Issuer: "https://idp.example", Subject: "q", AMR: tc.amr}})
		if err != nil {
			t.Fatal(err)
		}
		b := h.browser()
		base, _ := url.Parse(h.base)
		b.client.Jar.SetCookies(base, []*http.Cookie{{Name: "twofold_session", Value: st.Token, Path: "/"}})
		if !tc.want {
			got := h.atApp(b.authorize(cfg, "state-none", oauth2.SetAuthURLParam("prompt", "none")))
			if got.Get("error") != "interaction_required" || got.Get("state") != "state-none" || got.Get("iss") != h.base || got.Get("code") != "" {
				t.Fatalf("amr %q, prompt=none: %v, want interaction_required with state-none and iss %s", tc.amr, got, h.base)
			}
		}
		p := b.authorize(cfg, "s")
		if !tc.want {
			if p.status != http.StatusForbidden || !strings.Contains(p.body, "did not report one") {
				t.Fatalf("amr %q: %d at %s:\n%s", tc.amr, p.status, p.url, p.body)
			}
			continue
		}
		tok, err := cfg.Exchange(ctx, h.atApp(p).Get("code"))
		if err != nil {
			t.Fatal(err)
		}
		idt, err := verifier.Verify(ctx, tok.Extra("id_token").(string))
		if err != nil {
			t.Fatal(err)
		}
		if c := claims(t, idt); c["acr"] != "mfa" || !sameStrings(c["amr"], tc.amr...) {
			t.Errorf("acr %v amr %v, want mfa and the provider's amr", c["acr"], c["amr"])
		}
	}
}

// TestIntrospection: a client learns about its own tokens only (RFC 7662); a revoked or
// expired one is inactive.
func TestIntrospection(t *testing.T) {
	h := newHarness(t)
	u := h.addUser("xia", false)
	id, secret := h.addClient(store.Client{SkipConsent: true})
	other, otherSecret := h.addClient(store.Client{SkipConsent: true})
	cfg, _ := h.oauth(id, secret)
	tok, err := cfg.Exchange(context.Background(), h.codeFor(h.browser(), cfg, "xia"))
	if err != nil {
		t.Fatal(err)
	}
	introspectWith := func(form url.Values, client, secret string) map[string]any {
		form.Set("token", tok.AccessToken)
		_, m := h.protocol(http.MethodPost, "/oidc/introspect", form, func(r *http.Request) {
			if client != "" {
				r.SetBasicAuth(client, secret)
			}
		})
		return m
	}
	introspect := func(client, secret string) map[string]any { return introspectWith(url.Values{}, client, secret) }
	// Discovery lists basic authentication alone for this endpoint: a secret in the form
	// authenticates nothing here.
	if m := introspectWith(url.Values{"client_id": {id}, "client_secret": {secret}}, "", ""); m["active"] == true {
		t.Fatalf("with the secret in the form: %v", m)
	}
	if m := introspect(id, secret); m["active"] != true || m["sub"] != u.Subject || m["client_id"] != id || m["username"] != "xia" {
		t.Fatalf("own token: %v", m)
	}
	if m := introspect(other, otherSecret); m["active"] != false || m["sub"] != nil {
		t.Fatalf("another client's token: %v", m)
	}
	if m := introspect(id, "wrong"); m["active"] == true {
		t.Fatalf("with a wrong secret: %v", m)
	}
	h.clock.Advance(16 * time.Minute)
	if m := introspect(id, secret); m["active"] != false {
		t.Fatalf("after 16 minutes: %v", m)
	}
	if status, _ := h.userinfo(tok.AccessToken); !refused(status) {
		t.Errorf("userinfo with a 16-minute-old access token: %d", status)
	}
}

// TestRefreshLifetime: a refresh token works for 30 days, not more.
func TestRefreshLifetime(t *testing.T) {
	h := newHarness(t)
	h.addUser("yan", false)
	id, secret := h.addClient(store.Client{SkipConsent: true})
	cfg, _ := h.oauth(id, secret, gooidc.ScopeOpenID, gooidc.ScopeOfflineAccess)
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	ctx := context.Background()
	tok, err := cfg.Exchange(ctx, h.codeFor(h.browser(), cfg, "yan"))
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(29 * 24 * time.Hour)
	tok, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("after 29 days: %v", err)
	}
	h.clock.Advance(30*24*time.Hour + time.Minute)
	if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Fatal("a refresh token worked after 30 days")
	}
}

// TestStandingRevokes: resetting MFA, a new temporary password and a password change revoke
// the account's tokens at once, as disabling does (TestDisablingRevokes).
func TestStandingRevokes(t *testing.T) {
	for name, change := range map[string]func(h *harness, b *browser) error{
		"reset MFA": func(h *harness, _ *browser) error {
			_, err := h.app.Service.ResetMFA(context.Background(), account.CLI, "zed", false)
			return err
		},
		"new temporary password": func(h *harness, _ *browser) error {
			_, err := h.app.Service.ResetPassword(context.Background(), account.CLI, "zed")
			return err
		},
		"password change": func(h *harness, b *browser) error {
			p := b.post("/profile/security/password", url.Values{"current_password": {testPassword},
				"new_password": {"a whole new passphrase 42"}, "confirm_password": {"a whole new passphrase 42"}})
			if p.status != http.StatusOK {
				return fmt.Errorf("password change: %d at %s", p.status, p.url)
			}
			return nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.addUser("zed", true)
			id, secret := h.addClient(store.Client{SkipConsent: true})
			cfg, _ := h.oauth(id, secret, gooidc.ScopeOpenID, gooidc.ScopeOfflineAccess)
			cfg.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
			ctx := context.Background()
			b := h.browser()
			tok, err := cfg.Exchange(ctx, h.codeFor(b, cfg, "zed"))
			if err != nil {
				t.Fatal(err)
			}
			if err := change(h, b); err != nil {
				t.Fatal(err)
			}
			if status, _ := h.userinfo(tok.AccessToken); !refused(status) {
				t.Errorf("access token after %s: %d", name, status)
			}
			if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
				t.Errorf("refresh token after %s worked", name)
			}
		})
	}
}

// TestErrorResponsesCarryIss: every answer of the authorization endpoint that goes back to the
// application carries iss once, the issuer (RFC 9207 §2): the library's refusals of a request
// (no PKCE, an unsupported response_type, no scope, a bad id_token_hint) as well as Twofold's
// own errors and the code.
func TestErrorResponsesCarryIss(t *testing.T) {
	h := newHarness(t)
	h.addUser("iris", false)
	id, _ := h.addClient(store.Client{Public: true, SkipConsent: true})
	cfg, _ := h.oauth(id, "")
	b := h.browser()
	pkce := oauth2.S256ChallengeOption(oauth2.GenerateVerifier())
	noScope := *cfg
	noScope.Scopes = nil

	check := func(name string, p *page, wantError string) {
		t.Helper()
		got := h.atApp(p)
		if got.Get("error") == "" && p.url.Fragment != "" {
			got, _ = url.ParseQuery(p.url.Fragment) // an error for a response in the fragment goes there
		}
		if got.Get("error") != wantError || got.Get("state") != "s" || len(got["iss"]) != 1 || got.Get("iss") != h.base {
			t.Errorf("%s: %v, want %s with state s and one iss %s", name, got, wantError, h.base)
		}
	}
	check("public client without PKCE", b.authorize(cfg, "s"), "invalid_request")
	check("response_type token", b.authorize(cfg, "s", pkce, oauth2.SetAuthURLParam("response_type", "token")), "unauthorized_client")
	check("response_type id_token", b.authorize(cfg, "s", pkce, oauth2.SetAuthURLParam("response_type", "id_token")), "unauthorized_client")
	check("no scope", b.authorize(&noScope, "s", pkce), "invalid_request")
	check("bad id_token_hint", b.authorize(cfg, "s", pkce, oauth2.SetAuthURLParam("id_token_hint", "not.a.token")), "login_required")
	check("prompt=none without a session", b.authorize(cfg, "s", pkce, oauth2.SetAuthURLParam("prompt", "none")), "login_required")

	p := b.signIn(b.authorize(cfg, "s", pkce), "iris")
	if got := h.atApp(p); got.Get("code") == "" || len(got["iss"]) != 1 || got.Get("iss") != h.base {
		t.Errorf("code: %v, want one iss %s", got, h.base)
	}
}

// TestMaxAgeAtIssue: max_age is measured when the code is issued, not only when the request
// arrives: a person who signed in for the request and then waited longer than max_age on the
// consent page signs in again before a code goes back, and its auth_time is that new sign-in's;
// one who answers in time gets the code at once, without signing in again.
func TestMaxAgeAtIssue(t *testing.T) {
	h := newHarness(t)
	h.addUser("mona", false)
	id, secret := h.addClient(store.Client{})
	cfg, verifier := h.oauth(id, secret)
	b := h.browser()
	maxAge := oauth2.SetAuthURLParam("max_age", "60")

	p := b.signIn(b.authorize(cfg, "s", maxAge), "mona")
	h.clock.Advance(20 * time.Minute)
	p = b.allow(p)
	if p.url.Path != "/signin" {
		t.Fatalf("Allow 20 minutes after signing in, with max_age=60: at %s (%d), want the sign-in page", p.url, p.status)
	}
	h.clock.Advance(5 * time.Second)
	signedIn := h.clock.Now()
	got := h.atApp(b.signIn(p, "mona"))
	if got.Get("code") == "" || got.Get("state") != "s" || got.Get("iss") != h.base {
		t.Fatalf("after signing in again: %v, want a code with state and iss", got)
	}
	tok, err := cfg.Exchange(context.Background(), got.Get("code"))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	idt, err := verifier.Verify(context.Background(), tok.Extra("id_token").(string))
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if at, _ := claims(t, idt)["auth_time"].(float64); h.clock.Now().Sub(time.Unix(int64(at), 0)) > time.Minute || time.Unix(int64(at), 0).Before(signedIn.Add(-time.Second)) {
		t.Errorf("auth_time %v, want the new sign-in's (%v)", time.Unix(int64(at), 0), signedIn)
	}

	// In time: Allow 30 seconds after signing in, and a session 40 seconds old, give a code at
	// once.
	id, secret = h.addClient(store.Client{Name: "Other App"})
	cfg, _ = h.oauth(id, secret)
	b = h.browser()
	p = b.signIn(b.authorize(cfg, "s", maxAge), "mona")
	h.clock.Advance(30 * time.Second)
	if got := h.atApp(b.allow(p)); got.Get("code") == "" {
		t.Fatalf("Allow within max_age: %v, want a code", got)
	}
	h.clock.Advance(10 * time.Second)
	if got := h.atApp(b.authorize(cfg, "s", maxAge)); got.Get("code") == "" {
		t.Fatalf("a session 40 seconds old, max_age=60: %v, want a code", got)
	}
}

// TestIDTokenHint: an id_token_hint naming another account than the one signed in is not
// answered with a code for the signed-in one: with prompt=none the application gets
// login_required, with state and iss; without it the person is asked to sign in again, and
// can sign in as the account the hint names.
func TestIDTokenHint(t *testing.T) {
	h := newHarness(t)
	amy := h.addUser("amy", false)
	bob := h.addUser("bob", false)
	id, secret := h.addClient(store.Client{SkipConsent: true})
	cfg, verifier := h.oauth(id, secret)
	subject := func(code string) string {
		t.Helper()
		tok, err := cfg.Exchange(context.Background(), code)
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		idt, err := verifier.Verify(context.Background(), tok.Extra("id_token").(string))
		if err != nil {
			t.Fatalf("ID token: %v", err)
		}
		return idt.Subject
	}
	tok, err := cfg.Exchange(context.Background(), h.codeFor(h.browser(), cfg, "amy"))
	if err != nil {
		t.Fatal(err)
	}
	amyHint := oauth2.SetAuthURLParam("id_token_hint", tok.Extra("id_token").(string))

	b := h.browser()
	if sub := subject(h.codeFor(b, cfg, "bob")); sub != bob.Subject {
		t.Fatalf("bob's sign-in: sub %q", sub)
	}
	h.clock.Advance(time.Second)
	got := h.atApp(b.authorize(cfg, "s", amyHint, oauth2.SetAuthURLParam("prompt", "none")))
	if got.Get("error") != "login_required" || got.Get("state") != "s" || got.Get("iss") != h.base || got.Get("code") != "" {
		t.Fatalf("prompt=none, hint for amy, bob signed in: %v, want login_required with state s and iss %s", got, h.base)
	}
	p := b.authorize(cfg, "s", amyHint)
	if p.url.Path != "/signin" {
		t.Fatalf("hint for amy, bob signed in: at %s (%d), want the sign-in page", p.url, p.status)
	}
	if sub := subject(h.atApp(b.signIn(p, "amy")).Get("code")); sub != amy.Subject {
		t.Fatalf("signed in as amy: sub %q, want amy's %q", sub, amy.Subject)
	}
	if sub := subject(h.atApp(b.authorize(cfg, "s", amyHint, oauth2.SetAuthURLParam("prompt", "none"))).Get("code")); sub != amy.Subject {
		t.Fatalf("prompt=none, hint for amy, amy signed in: sub %q", sub)
	}

	// A person who, asked again, signs in as bob all the same gets bob's code: no loop.
	b = h.browser()
	h.codeFor(b, cfg, "bob")
	h.clock.Advance(time.Second)
	if p = b.authorize(cfg, "s", amyHint); p.url.Path != "/signin" {
		t.Fatalf("hint for amy, bob signed in: at %s, want the sign-in page", p.url)
	}
	if sub := subject(h.atApp(b.signIn(p, "bob")).Get("code")); sub != bob.Subject {
		t.Fatalf("signed in as bob again: sub %q, want bob's", sub)
	}
}
