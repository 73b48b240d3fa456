package sso_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/app/apptest"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/httpapi"
	"github.com/twofold-auth/twofold/internal/keys"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/sso"
	"github.com/twofold-auth/twofold/internal/store"
)

const testKeyHex = "5c1f0e9a7b3d2c4e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6"

// hang bounds every request of the tests (the browser's, and Twofold's to the provider): long
// enough that only a hang reaches it, never a busy machine.
const hang = time.Minute

// env is Twofold (as `twofold serve` runs it, with SSO) wired to a provider, and a browser.
type env struct {
	t       *testing.T
	store   store.Store
	svc     *account.Service
	url     string // where Twofold answers
	idp     *idp
	client  *sso.Client
	rewrite *hostRewriter
	skew    *atomic.Int64 // how far Twofold's clock is ahead
	outbox  string
	logs    *apptest.Logs
	browser *http.Client
	// authorizeAs, when set, is the client_id the browser's authorization request carries
	// instead of Twofold's.
	authorizeAs string
	// startQuery is added to the start address ("?rd=...").
	startQuery string
	// authURL is where the last start sent the browser: the provider's authorization request.
	authURL string
}

var people = []idpUser{
	{id: "u-alice", username: "Alice", email: "alice@example.org", emailVerified: true}, // an SSO account here
	{id: "u-bob", username: "bob", email: "bob@example.org", emailVerified: true},       // a local account here
	{id: "u-carol", username: "carol", email: "carol@example.org", emailVerified: true}, // no account here
	{id: "u-dan", username: "", email: "dan@example.org", emailVerified: true},          // no preferred_username
	{id: "u-eve", username: "", email: "eve@example.org", emailVerified: false},         // an unverified email only
	{id: "u-fay", username: "fay smith", email: "fay@example.org", emailVerified: true}, // not a valid username
	// The test provider's name claim is "Test " and the id: here with a terminal escape and a
	// right-to-left override.
	{id: "u-mal\x1b]0;pwned\x07\u202eory", username: "mallory", email: "mallory@example.org", emailVerified: true},
}

// envOption changes how newEnv starts.
type envOption int

const (
	// providerDown makes the provider unreachable before Twofold starts.
	providerDown envOption = iota + 1
	// underCookieDomain serves Twofold as http://signin.example.test:PORT with the cookie
	// domain example.test, so that a sign-in may return to another host of that domain.
	underCookieDomain
)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	// The provider is told Twofold's callback before Twofold starts, so Twofold's port is taken
	// first.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	var baseURL, cookieDomain string
	if slices.Contains(opts, underCookieDomain) {
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		base = "http://signin.example.test:" + port
		baseURL, cookieDomain = base, "example.test"
	}
	p := newIdP(t, base+"/api/v1/sso/callback", people...)
	if slices.Contains(opts, providerDown) {
		p.close()
	}
	rw := &hostRewriter{base: http.DefaultTransport}
	skew := new(atomic.Int64)
	logs := &apptest.Logs{}
	a := apptest.Serve(t, app.Config{Listener: ln, SecretKey: testKeyHex, MailFrom: "Twofold <twofold@example.org>",
		BaseURL: baseURL, CookieDomain: cookieDomain, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		SSO: app.SSO{Issuer: p.issuer, ClientID: idpClientID, ClientSecret: idpClientSecret,
			HTTPClient: &http.Client{Transport: rw, Timeout: hang},
			Now:        func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }}})
	e := &env{t: t, store: a.Store, svc: a.Service, url: base, idp: p, client: a.SSO, rewrite: rw,
		skew: skew, outbox: a.Outbox, logs: logs}
	e.newBrowser()
	e.add(account.NewUser{Username: "alice", Email: "alice@example.org", Source: store.SourceSSO})
	e.add(account.NewUser{Username: "dan@example.org", Email: "dan@example.org", Source: store.SourceSSO})
	e.add(account.NewUser{Username: "eve@example.org", Email: "eve@example.org", Source: store.SourceSSO})
	e.add(account.NewUser{Username: "bob", Email: "bob@example.org"})
	return e
}

func (e *env) add(n account.NewUser) {
	e.t.Helper()
	if _, _, err := e.svc.CreateUser(context.Background(), account.CLI, n); err != nil {
		e.t.Fatalf("create %s: %v", n.Username, err)
	}
}

// newBrowser starts a fresh browser: its own cookie jar, redirects followed by hand, every
// host name reached on 127.0.0.1 at the address's port.
func (e *env) newBrowser() {
	jar, _ := cookiejar.New(nil)
	e.browser = &http.Client{Jar: jar, Timeout: hang, Transport: apptest.Loopback(&net.Dialer{}),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (e *env) get(url, accept string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Accept", accept)
	resp, err := e.browser.Do(req)
	if err != nil {
		e.t.Fatalf("GET %s: %v", url, err)
	}
	return resp
}

// toProvider starts a sign-in at Twofold and follows the browser through the provider,
// answering the URL of Twofold's callback the provider redirected to.
func (e *env) toProvider() string {
	e.t.Helper()
	resp := e.get(e.url+httpapi.SSOStartPath+e.startQuery, "text/html")
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("start: %d", resp.StatusCode)
	}
	next := resp.Header.Get("Location")
	e.authURL = next
	if e.authorizeAs != "" {
		u := mustURL(next)
		q := u.Query()
		q.Set("client_id", e.authorizeAs)
		u.RawQuery = q.Encode()
		next = u.String()
	}
	for range 10 {
		if strings.HasPrefix(next, e.url+"/api/v1/sso/callback") {
			return next
		}
		resp := e.get(next, "text/html")
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
			e.t.Fatalf("at the provider, GET %s: %d %s", next, resp.StatusCode, body)
		}
		loc, err := resp.Location()
		if err != nil {
			e.t.Fatal(err)
		}
		next = loc.String()
	}
	e.t.Fatalf("too many redirects")
	return ""
}

// result is Twofold's answer at the callback.
type result struct {
	status  int
	code    string
	message string
	session string // the twofold_session cookie set, if any
	cleared bool   // the twofold_sso cookie was cleared
	header  http.Header
	body    string
}

func (e *env) callback(url string) result {
	e.t.Helper()
	resp := e.get(url, "application/json")
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := result{status: resp.StatusCode, header: resp.Header, body: string(body)}
	for _, c := range resp.Cookies() {
		switch {
		case c.Name == httpapi.CookieName && c.Value != "":
			r.session = c.Value
		case c.Name == sso.CookieName && c.MaxAge < 0:
			r.cleared = true
		}
	}
	var out struct {
		Error struct{ Code, Message string }
	}
	if json.Unmarshal(body, &out) == nil {
		r.code, r.message = out.Error.Code, out.Error.Message
	}
	return r
}

// signIn is a whole sign-in through the provider as username.
func (e *env) signIn(username string) result {
	e.t.Helper()
	e.idp.as(username)
	return e.callback(e.toProvider())
}

// sessions counts (and removes) every sign-in and session in the store.
func (e *env) sessions() int {
	e.t.Helper()
	far := time.Now().Add(100 * 24 * time.Hour)
	n, err := e.store.DeleteExpiredSessions(context.Background(), far, far, far)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) events(action string) []*store.Event {
	e.t.Helper()
	ev, err := e.store.Events(context.Background(), store.EventFilter{Action: action, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return ev
}

func (e *env) me(session string) map[string]any {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.url+"/api/v1/me", nil)
	req.AddCookie(&http.Cookie{Name: httpapi.CookieName, Value: session})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("/me: %d %v", resp.StatusCode, m)
	}
	return m
}

// refused checks that a sign-in ended with the error code and no session at all.
func (e *env) refused(r result, status int, code, says string) {
	e.t.Helper()
	if r.status != status || r.code != code {
		e.t.Fatalf("answer %d %q (%s), want %d %q", r.status, r.code, r.body, status, code)
	}
	if says != "" && !strings.Contains(r.message, says) {
		e.t.Errorf("message %q does not say %q", r.message, says)
	}
	if r.session != "" {
		e.t.Errorf("a session cookie was set")
	}
	if n := e.sessions(); n != 0 {
		e.t.Errorf("%d sessions in the store, want none", n)
	}
}

func TestSignInOfAnSSOAccount(t *testing.T) {
	e := newEnv(t)
	r := e.signIn("Alice") // the provider says "Alice": the username rule keeps it in lower case
	if r.status != http.StatusFound || r.header.Get("Location") != e.url+"/" {
		t.Fatalf("answer %d %s, want 302 to /", r.status, r.body)
	}
	if r.session == "" || !r.cleared {
		t.Fatalf("session cookie %q, sso cookie cleared %v", r.session, r.cleared)
	}
	me := e.me(r.session)
	if me["username"] != "alice" || me["source"] != "sso" {
		t.Errorf("/me = %v", me)
	}
	if mfa, _ := me["mfa"].(map[string]any); mfa["policy"] != "off" {
		t.Errorf("an SSO account shows MFA %v", mfa)
	}
	ev := e.events(account.ActionSignInSSO)
	if len(ev) != 1 || ev[0].User != "alice" || !strings.Contains(ev[0].Detail, "subject u-alice") {
		t.Errorf("audit: %+v", ev)
	}
	if e.idp.tokenRequests() != 1 {
		t.Errorf("%d token requests", e.idp.tokenRequests())
	}

	// The password step still refuses the SSO account, whatever the password.
	resp, err := http.Post(e.url+"/api/v1/signin", "application/json",
		strings.NewReader(`{"username":"alice","password":"anything at all 123"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("password sign-in of an SSO account: %d", resp.StatusCode)
	}
}

// TestReturnToAndAMR: a sign-in started on the way to an application returns there, only to an
// address on Twofold, and the session keeps the amr the provider reported (SPEC §7).
func TestReturnToAndAMR(t *testing.T) {
	e := newEnv(t)
	e.startQuery = "?rd=" + url.QueryEscape("/oidc/continue?id=abc")
	r := e.signIn("Alice")
	if r.status != http.StatusFound || r.header.Get("Location") != e.url+"/oidc/continue?id=abc" {
		t.Fatalf("answer %d to %q, want the return address", r.status, r.header.Get("Location"))
	}
	si, err := e.svc.SignedIn(context.Background(), r.session)
	if err != nil {
		t.Fatal(err)
	}
	if len(si.AMR) != 1 || si.AMR[0] != "pwd" || si.SecondFactor() {
		t.Errorf("session amr %q, want the provider's [pwd] and no second factor", si.AMR)
	}
	for _, rd := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example"} {
		e.startQuery = "?rd=" + url.QueryEscape(rd)
		if r := e.signIn("Alice"); r.header.Get("Location") != e.url+"/" {
			t.Errorf("rd %q led to %q", rd, r.header.Get("Location"))
		}
	}
}

// TestReturnToAnotherHost: with a cookie domain, a sign-in started on the way to an
// application on another host of that domain (forward auth's rd) returns to that whole
// address, and to Twofold's home for a host outside the domain.
func TestReturnToAnotherHost(t *testing.T) {
	e := newEnv(t, underCookieDomain)
	for rd, want := range map[string]string{
		"http://app.example.test/notes?page=2": "http://app.example.test/notes?page=2",
		"/oidc/continue?id=abc":                e.url + "/oidc/continue?id=abc",
		"http://app.example.org/notes":         e.url + "/",
	} {
		e.newBrowser()
		e.startQuery = "?rd=" + url.QueryEscape(rd)
		if r := e.signIn("Alice"); r.status != http.StatusFound || r.header.Get("Location") != want {
			t.Errorf("rd %q: answer %d to %q, want %q", rd, r.status, r.header.Get("Location"), want)
		}
	}
}

func TestClaimsFromTheIDToken(t *testing.T) {
	e := newEnv(t)
	e.idp.set(switches{claimsInIDToken: true}) // no UserInfo call needed
	if r := e.signIn("Alice"); r.status != http.StatusFound || r.session == "" {
		t.Fatalf("answer %d %s", r.status, r.body)
	}
}

// TestUsernameFromUserInfoBeforeEmail: an ID token with a verified email but no
// preferred_username is completed from UserInfo, which holds the username, before the email is
// taken as the username: the account is the provider's username's (SSO.md).
func TestUsernameFromUserInfoBeforeEmail(t *testing.T) {
	e := newEnv(t)
	e.idp.set(switches{claimsInIDToken: true, usernameInUserInfo: true})
	r := e.signIn("Alice")
	if r.status != http.StatusFound || r.session == "" {
		t.Fatalf("answer %d %s", r.status, r.body)
	}
	if got := e.me(r.session)["username"]; got != "alice" {
		t.Errorf("signed in as %v, want alice (the UserInfo username, not the email)", got)
	}
}

func TestVerifiedEmailWhenNoPreferredUsername(t *testing.T) {
	e := newEnv(t)
	if r := e.signIn("dan@example.org"); r.status != http.StatusFound || r.session == "" {
		t.Fatalf("answer %d %s", r.status, r.body)
	}
	e.sessions()
	// An email the provider did not verify never names an account.
	e.newBrowser()
	e.refused(e.signIn("eve@example.org"), http.StatusForbidden, "forbidden", "did not send your username")
}

func TestLocalAccountRefused(t *testing.T) {
	e := newEnv(t)
	e.refused(e.signIn("bob"), http.StatusForbidden, "forbidden", "signs in with a password")
	if ev := e.events(account.ActionSignInSSORefused); len(ev) != 1 || ev[0].User != "bob" {
		t.Errorf("audit: %+v", ev)
	}

	// Once an admin links it, the account signs in through the provider and no longer with its
	// password; its second factors, a security key too, are gone.
	bob, err := e.store.UserByName(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.AddWebAuthnCredential(context.Background(), &store.WebAuthnCredential{UserID: bob.ID,
		CredentialID: []byte("bob's key"), PublicKey: []byte("cose"), Name: "YubiKey", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.LinkSSO(context.Background(), account.CLI, "bob"); err != nil {
		t.Fatal(err)
	}
	if keys, err := e.store.WebAuthnCredentials(context.Background(), bob.ID); err != nil || len(keys) != 0 {
		t.Errorf("security keys after linking: %d, %v; want none", len(keys), err)
	}
	e.newBrowser()
	r := e.signIn("bob")
	if r.status != http.StatusFound || r.session == "" {
		t.Fatalf("linked account: %d %s", r.status, r.body)
	}
	if me := e.me(r.session); me["source"] != "sso" {
		t.Errorf("/me = %v", me)
	}
	if _, err := e.svc.LinkSSO(context.Background(), account.CLI, "bob"); err == nil {
		t.Errorf("linking twice succeeded")
	}
}

func TestUnknownAccount(t *testing.T) {
	e := newEnv(t)
	e.refused(e.signIn("carol"), http.StatusForbidden, "forbidden", "no account \"carol\"")

	if _, err := e.svc.SetOption(context.Background(), account.CLI, options.SSOCreateAccounts, "yes"); err != nil {
		t.Fatal(err)
	}
	e.newBrowser()
	r := e.signIn("carol")
	if r.status != http.StatusFound || r.session == "" {
		t.Fatalf("with ssoCreateAccounts=yes: %d %s", r.status, r.body)
	}
	u, err := e.store.UserByName(context.Background(), "carol")
	if err != nil {
		t.Fatal(err)
	}
	if u.Source != store.SourceSSO || u.Kind != store.KindInternal || u.Role != store.RoleUser ||
		u.Email != "carol@example.org" || u.PasswordHash != "" {
		t.Errorf("made %+v", u)
	}
	if ev := e.events("user.created"); len(ev) == 0 || ev[0].User != "carol" || ev[0].Actor != "sso" {
		t.Errorf("audit: %+v", ev)
	}
	if !mailTo(t, e.outbox, "carol@example.org", "Username: carol") {
		t.Errorf("no \"Password Generated\" mail for carol")
	}
	// The next sign-in finds the account made the first time.
	e.newBrowser()
	if r := e.signIn("carol"); r.status != http.StatusFound {
		t.Fatalf("second sign-in: %d %s", r.status, r.body)
	}
}

// TestNameClaimWithControlCharacters: a name claim is text from people; one with control
// characters or bidirectional overrides is refused with a message saying why (SPEC §5), and no
// account is made.
func TestNameClaimWithControlCharacters(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.SetOption(context.Background(), account.CLI, options.SSOCreateAccounts, "yes"); err != nil {
		t.Fatal(err)
	}
	e.refused(e.signIn("mallory"), http.StatusForbidden, "forbidden", "control characters")
	if _, err := e.store.UserByName(context.Background(), "mallory"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an account was made from a name claim with control characters: %v", err)
	}
}

// TestInvalidUsernameRefused: a username claim that breaks the username rule is refused, and,
// as every other refusal of a new sign-in, ends the session the browser held.
func TestInvalidUsernameRefused(t *testing.T) {
	e := newEnv(t)
	held := e.signIn("Alice")
	if held.session == "" {
		t.Fatalf("no session for Alice: %d %s", held.status, held.body)
	}
	e.refused(e.signIn("fay smith"), http.StatusForbidden, "forbidden", "not a valid username")
	if _, err := e.svc.SignedIn(context.Background(), held.session); errs.Code(err) != errs.NotSignedIn {
		t.Errorf("the session the browser held survived a refused sign-in: %v", err)
	}
}

func TestDisabledAccount(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.SetDisabled(context.Background(), account.CLI, "alice", true); err != nil {
		t.Fatal(err)
	}
	e.refused(e.signIn("Alice"), http.StatusForbidden, "account_disabled", "disabled")
}

// TestProviderErrors: every way the provider's answer can fail ends with a clear message and no
// session.
func TestProviderErrors(t *testing.T) {
	cases := []struct {
		name       string
		run        func(e *env) result
		status     int
		code, says string
	}{
		{"denied consent", func(e *env) result {
			e.idp.refuseConsent()
			return e.callback(e.toProvider())
		}, http.StatusForbidden, "forbidden", "access_denied"},
		{"bad state", func(e *env) result {
			e.idp.as("Alice")
			cb := e.toProvider()
			return e.callback(strings.Replace(cb, "state=", "state=x", 1))
		}, http.StatusBadRequest, "invalid_request", "does not belong to a sign-in started in this browser"},
		{"callback in another browser", func(e *env) result {
			e.idp.as("Alice")
			cb := e.toProvider()
			e.newBrowser() // the sign-in cookie stays behind: a login CSRF looks like this
			return e.callback(cb)
		}, http.StatusBadRequest, "invalid_request", "does not belong"},
		{"sign-in too slow", func(e *env) result {
			e.idp.as("Alice")
			cb := e.toProvider()
			e.skew.Store(int64(sso.LoginLifetime + time.Minute))
			return e.callback(cb)
		}, http.StatusBadRequest, "invalid_request", "10 minutes"},
		{"expired code", func(e *env) result {
			e.idp.as("Alice")
			cb := e.toProvider()
			e.idp.set(switches{expiredCodes: true})
			return e.callback(cb)
		}, http.StatusUnauthorized, "invalid_credentials", "expired or was used already"},
		{"replayed code", func(e *env) result {
			e.idp.as("Alice")
			cb := e.toProvider()
			saved := e.browser.Jar.Cookies(mustURL(e.url + "/api/v1/sso/callback"))
			if r := e.callback(cb); r.status != http.StatusFound {
				e.t.Fatalf("first use: %d %s", r.status, r.body)
			}
			if n := e.sessions(); n != 1 {
				e.t.Fatalf("%d sessions after the first use", n)
			}
			e.newBrowser() // the attacker holds the callback URL and the sign-in cookie
			e.browser.Jar.SetCookies(mustURL(e.url+"/api/v1/sso/callback"), saved)
			return e.callback(cb)
		}, http.StatusUnauthorized, "invalid_credentials", "expired or was used already"},
		{"wrong issuer", func(e *env) result {
			e.idp.as("Alice")
			cb := e.toProvider()
			e.rewrite.set("issuer.evil.test")
			return e.callback(cb)
		}, http.StatusUnauthorized, "invalid_credentials", "wrong issuer"},
		{"wrong audience", func(e *env) result {
			// The code and ID token are issued to another application at the same provider
			// (token substitution): signed by the right provider, for the wrong audience.
			e.idp.as("Alice")
			e.authorizeAs = otherClientID
			e.rewrite.asClient(otherClientID, otherClientSecret)
			return e.callback(e.toProvider())
		}, http.StatusUnauthorized, "invalid_credentials", "wrong audience"},
		{"expired ID token", func(e *env) result {
			e.idp.as("Alice")
			e.idp.set(switches{idTokenLifetime: -time.Hour})
			return e.callback(e.toProvider())
		}, http.StatusUnauthorized, "invalid_credentials", "expired"},
		{"provider unreachable at the callback", func(e *env) result {
			e.idp.as("Alice")
			cb := e.toProvider()
			e.idp.close()
			return e.callback(cb)
		}, http.StatusServiceUnavailable, "unavailable", "cannot be reached"},
		{"provider unreachable at the start", func(e *env) result {
			// Twofold discovers the provider as it starts, so this one never reached it.
			*e = *newEnv(e.t, providerDown)
			return e.callback(e.url + httpapi.SSOStartPath)
		}, http.StatusServiceUnavailable, "unavailable", "cannot be reached"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			r := c.run(e)
			e.refused(r, c.status, c.code, c.says)
			if c.status == http.StatusServiceUnavailable && r.header.Get("Retry-After") == "" {
				t.Errorf("no Retry-After")
			}
		})
	}
}

func TestSessionCookieKeptWhenCallbackIsForged(t *testing.T) {
	e := newEnv(t)
	r := e.signIn("Alice")
	if r.session == "" {
		t.Fatalf("no session: %d %s", r.status, r.body)
	}
	// A forged callback (no sign-in of this browser) is refused and signs nobody out.
	forged := e.callback(e.url + "/api/v1/sso/callback?code=abc&state=def")
	if forged.status != http.StatusBadRequest || forged.session != "" {
		t.Fatalf("forged callback: %d %s", forged.status, forged.body)
	}
	if me := e.me(r.session); me["username"] != "alice" {
		t.Errorf("session lost: %v", me)
	}
}

func TestErrorPageForBrowsers(t *testing.T) {
	e := newEnv(t)
	e.idp.refuseConsent()
	cb := e.toProvider()
	resp := e.get(cb, "text/html,application/xhtml+xml")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"access_denied", `href="` + e.url + `/signin"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
}

func TestNotConfigured(t *testing.T) {
	mux := http.NewServeMux()
	api := httpapi.New(httpapi.Config{Logger: slog.New(slog.DiscardHandler)}, mux)
	api.RegisterSSO(httpapi.SSOConfig{}, mux)
	for _, path := range []string{httpapi.SSOStartPath, "/api/v1/sso/callback?code=a&state=b"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `"not_found"`) {
			t.Errorf("%s: %d %s", path, rec.Code, rec.Body)
		}
	}
}

func TestConfigChecked(t *testing.T) {
	k, _ := keys.Parse(testKeyHex)
	good := sso.Config{Issuer: "https://idp.example.org", ClientID: "c", RedirectURL: "https://t.example.org/api/v1/sso/callback", Keys: k}
	if _, err := sso.New(good); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for name, mod := range map[string]func(*sso.Config){
		"no issuer":         func(c *sso.Config) { c.Issuer = "" },
		"plain http issuer": func(c *sso.Config) { c.Issuer = "http://idp.example.org" },
		"relative redirect": func(c *sso.Config) { c.RedirectURL = "/api/v1/sso/callback" },
		"no client id":      func(c *sso.Config) { c.ClientID = "" },
		"issuer with query": func(c *sso.Config) { c.Issuer = "https://idp.example.org/?x=1" },
		"no server key":     func(c *sso.Config) { c.Keys = nil },
	} {
		c := good
		mod(&c)
		if _, err := sso.New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c, _ := sso.New(good)
	ck := c.Cookie("v")
	if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/api/v1/sso/" || ck.MaxAge != 600 {
		t.Errorf("cookie %+v", ck)
	}
}

// A provider that cannot be reached fails fast and says so, and the Client tries discovery
// again at the next sign-in.
func TestDiscoveryRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	k, _ := keys.Parse(testKeyHex)
	c, err := sso.New(sso.Config{Issuer: "http://" + addr, ClientID: "c", RedirectURL: "http://127.0.0.1/cb", Keys: k})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Start(context.Background(), "", false); errs.Code(err) != errs.Unavailable {
		t.Fatalf("start: %v", err)
	}
	if err := c.Discover(context.Background()); err == nil {
		t.Fatalf("discovery succeeded against nothing")
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// mailTo reports whether a message to addr containing text is in the outbox.
func mailTo(t *testing.T, dir, addr, text string) bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(b), "To: <"+addr+">") && strings.Contains(string(b), text) {
			return true
		}
	}
	return false
}

// TestFreshSignIn: a sign-in started with prompt=login (an application's prompt=login, or its
// max_age passed, SPEC §7) asks the provider to sign the person in again (prompt=login,
// max_age=0) and takes its answer only when the provider's auth_time is not from before the
// start; a sign-in started without it asks nothing of the kind and takes an older auth_time.
func TestFreshSignIn(t *testing.T) {
	e := newEnv(t)
	e.startQuery = "?prompt=login&rd=" + url.QueryEscape("/oidc/continue?id=abc")
	r := e.signIn("Alice")
	q := mustURL(e.authURL).Query()
	if q.Get("prompt") != "login" || q.Get("max_age") != "0" {
		t.Errorf("the provider was asked %q: want prompt=login and max_age=0", e.authURL)
	}
	if r.status != http.StatusFound || r.session == "" || r.header.Get("Location") != e.url+"/oidc/continue?id=abc" {
		t.Fatalf("a fresh sign-in: %d to %q (session %v)", r.status, r.header.Get("Location"), r.session != "")
	}

	// The provider signed the person in 10 minutes before Twofold's clock says the sign-in
	// started: an old sign-in of its own, as far as Twofold can tell.
	e.sessions() // the first sign-in's
	e.skew.Store(int64(10 * time.Minute))
	e.newBrowser()
	r = e.signIn("Alice")
	e.refused(r, http.StatusUnauthorized, errs.InvalidCredentials, "did not sign you in again")
	if !strings.Contains(e.logs.String(), "stale") {
		t.Errorf("the refusal's kind is not in the log:\n%s", e.logs)
	}

	e.startQuery = ""
	e.newBrowser()
	r = e.signIn("Alice")
	if q := mustURL(e.authURL).Query(); q.Has("prompt") || q.Has("max_age") {
		t.Errorf("a sign-in without prompt=login asked the provider %q", e.authURL)
	}
	if r.status != http.StatusFound || r.session == "" {
		t.Fatalf("a sign-in that asks for no new one, with the same auth_time: %d, session %v", r.status, r.session != "")
	}
}
