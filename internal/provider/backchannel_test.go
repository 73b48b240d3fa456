package provider_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/app/apptest"
	"github.com/twofold-auth/twofold/internal/clock"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/provider"
	"github.com/twofold-auth/twofold/internal/store"
)

// Back-channel logout (SPEC §7 "Logout"): each application's back-channel logout URI is a
// receiver that verifies every logout token as a relying party must, with go-oidc against the
// keys Twofold publishes at its jwks_uri.

const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// logoutReceiver is one application's back-channel logout URI.
type logoutReceiver struct {
	t        *testing.T
	srv      *httptest.Server
	verifier func() *gooidc.IDTokenVerifier

	mu       sync.Mutex
	status   int      // the answer to a delivery; 0 accepts it
	raw      []string // every logout token sent, accepted or not
	accepted []logoutToken
}

// logoutToken is what a receiver accepted.
type logoutToken struct{ sid, sub, jti string }

// receiver starts a back-channel logout URI; register its client with uri, then set its id.
func (h *harness) receiver() (r *logoutReceiver, uri string, setClient func(id string)) {
	h.t.Helper()
	ctx := context.Background()
	p, err := gooidc.NewProvider(ctx, h.base)
	if err != nil {
		h.t.Fatalf("discovery: %v", err)
	}
	var disc struct {
		JWKS string `json:"jwks_uri"`
	}
	if err := p.Claims(&disc); err != nil || disc.JWKS == "" {
		h.t.Fatalf("discovery names no jwks_uri: %v", err)
	}
	keys := gooidc.NewRemoteKeySet(ctx, disc.JWKS)
	var clientID string
	r = &logoutReceiver{t: h.t}
	r.verifier = func() *gooidc.IDTokenVerifier {
		r.mu.Lock()
		defer r.mu.Unlock()
		return gooidc.NewVerifier(h.base, keys, &gooidc.Config{ClientID: clientID, Now: h.clock.Now})
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	h.t.Cleanup(r.srv.Close)
	return r, r.srv.URL + "/backchannel-logout", func(id string) { r.mu.Lock(); clientID = id; r.mu.Unlock() }
}

func (r *logoutReceiver) serve(w http.ResponseWriter, req *http.Request) {
	raw := req.PostFormValue("logout_token")
	r.mu.Lock()
	r.raw = append(r.raw, raw)
	status := r.status
	r.mu.Unlock()
	if status != 0 {
		http.Error(w, "not now", status)
		return
	}
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		r.t.Errorf("a logout delivery by %s with %q", req.Method, req.Header.Get("Content-Type"))
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	tok, err := r.verifier().Verify(req.Context(), raw)
	if err != nil {
		r.t.Errorf("logout token refused by go-oidc: %v", err)
		http.Error(w, "bad token", http.StatusBadRequest)
		return
	}
	var c struct {
		Events map[string]json.RawMessage `json:"events"`
		SID    string                     `json:"sid"`
		JTI    string                     `json:"jti"`
		IAT    int64                      `json:"iat"`
		Nonce  *string                    `json:"nonce"`
	}
	if err := tok.Claims(&c); err != nil {
		r.t.Errorf("logout token claims: %v", err)
	}
	if _, ok := c.Events[backchannelEvent]; !ok || len(c.Events) != 1 {
		r.t.Errorf("logout token events %v, want only %s", c.Events, backchannelEvent)
	}
	if c.SID == "" || c.JTI == "" || c.IAT == 0 || c.Nonce != nil || tok.Subject == "" {
		r.t.Errorf("logout token sid %q jti %q iat %d sub %q nonce %v: want sid, jti, iat, sub and no nonce",
			c.SID, c.JTI, c.IAT, tok.Subject, c.Nonce)
	}
	r.mu.Lock()
	r.accepted = append(r.accepted, logoutToken{sid: c.SID, sub: tok.Subject, jti: c.JTI})
	r.mu.Unlock()
}

func (r *logoutReceiver) answer(status int) {
	r.mu.Lock()
	r.status = status
	r.mu.Unlock()
}

func (r *logoutReceiver) got() []logoutToken {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]logoutToken(nil), r.accepted...)
}

func (r *logoutReceiver) sent() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.raw...)
}

// waitFor waits until cond holds; the bound only ends a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitLogouts waits for r to have accepted n logout tokens.
func waitLogouts(t *testing.T, r *logoutReceiver, n int) []logoutToken {
	t.Helper()
	waitFor(t, "logout tokens delivered", func() bool { return len(r.got()) >= n })
	return r.got()
}

// triedOnce waits until the queue holds n notices and the serving instance has tried each
// once and recorded its failure. From then no delivery is in flight, and none starts before the
// clock moves: a test may then let the receiver take tokens and move the clock past the lease
// without a delivery begun under the old answer landing beside the new one.
func (h *harness) triedOnce(n int) {
	h.t.Helper()
	ctx := context.Background()
	waitFor(h.t, "every notice queued and tried", func() bool {
		ns, err := h.app.Store.DueLogoutNotices(ctx, h.clock.Now().Add(time.Hour), 100)
		if err != nil || len(ns) != n {
			return false
		}
		for _, n := range ns {
			if n.Attempts == 0 {
				return false
			}
		}
		return true
	})
}

// settled checks that nothing waits in the queue and that another pass sends nothing more.
func (h *harness) settled(receivers ...*logoutReceiver) {
	h.t.Helper()
	ctx := context.Background()
	waitFor(h.t, "the queue emptied", func() bool {
		n, err := h.app.Store.CountLogoutNotices(ctx)
		return err == nil && n == 0
	})
	before := make([]int, len(receivers))
	for i, r := range receivers {
		before[i] = len(r.got())
	}
	h.clock.Advance(time.Hour)
	if n := h.app.Provider.Logouts().DeliverDue(ctx); n != 0 {
		h.t.Errorf("a pass over an empty queue sent %d", n)
	}
	for i, r := range receivers {
		if got := len(r.got()); got != before[i] {
			h.t.Errorf("receiver %d got %d logout tokens, then %d", i, before[i], got)
		}
	}
}

// logoutClient registers an application with a back-channel logout URI and no consent page.
func (h *harness) logoutClient(name string) (id, secret string, r *logoutReceiver) {
	h.t.Helper()
	r, uri, setClient := h.receiver()
	id, secret = h.addClient(store.Client{Name: name, SkipConsent: true, BackchannelLogoutURI: uri})
	setClient(id)
	return id, secret, r
}

// signedInTo runs an authorization of the client in the browser's session and answers the ID
// token and its sid.
func (h *harness) signedInTo(b *browser, id, secret, username string) (idToken, sid string) {
	h.t.Helper()
	ctx := context.Background()
	cfg, verifier := h.oauth(id, secret)
	tok, err := cfg.Exchange(ctx, h.codeFor(b, cfg, username))
	if err != nil {
		h.t.Fatalf("exchange: %v", err)
	}
	idToken, _ = tok.Extra("id_token").(string)
	idt, err := verifier.Verify(ctx, idToken)
	if err != nil {
		h.t.Fatalf("ID token: %v", err)
	}
	sid, _ = claims(h.t, idt)["sid"].(string)
	if sid == "" {
		h.t.Fatalf("the ID token has no sid")
	}
	return idToken, sid
}

// oneLogout checks that r received exactly one logout token, of the session sid of u.
func oneLogout(t *testing.T, r *logoutReceiver, sid string, u *store.User) {
	t.Helper()
	got := waitLogouts(t, r, 1)
	if len(got) != 1 || got[0].sid != sid || got[0].sub != u.Subject {
		t.Fatalf("logout tokens %+v, want one with sid %s and sub %s", got, sid, u.Subject)
	}
}

// TestBackchannelLogoutWhenSessionsEnd: every way a session ends sends each application that
// received tokens in it one logout token, verified by go-oidc, with the session's sid and the
// account's subject.
func TestBackchannelLogoutWhenSessionsEnd(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		end  func(h *harness, b *browser, idToken string)
	}{
		{"sign-out on the pages", func(h *harness, b *browser, _ string) {
			if p := b.post("/signout", url.Values{}); p.status >= 400 {
				t.Fatalf("sign-out: %d", p.status)
			}
		}},
		{"RP-initiated logout", func(h *harness, b *browser, idToken string) {
			b.get(h.base + "/oidc/end_session?" + url.Values{"id_token_hint": {idToken}}.Encode())
		}},
		{"password reset by an admin", func(h *harness, _ *browser, _ string) {
			if _, err := h.app.Service.ResetPassword(ctx, account.CLI, "kim"); err != nil {
				t.Fatal(err)
			}
		}},
		{"MFA reset", func(h *harness, _ *browser, _ string) {
			if _, err := h.app.Service.ResetMFA(ctx, account.CLI, "kim", false); err != nil {
				t.Fatal(err)
			}
		}},
		{"disabling", func(h *harness, _ *browser, _ string) {
			if _, err := h.app.Service.SetDisabled(ctx, account.CLI, "kim", true); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			u := h.addUser("kim", false)
			id, secret, r := h.logoutClient("Wiki")
			b := h.browser()
			idToken, sid := h.signedInTo(b, id, secret, "kim")
			tc.end(h, b, idToken)
			oneLogout(t, r, sid, u)
			h.settled(r)
			waitFor(t, "the logout audited", func() bool { return len(h.events(provider.ActionLogout)) > 0 })
			ev := h.events(provider.ActionLogout)
			if len(ev) != 1 || !strings.Contains(ev[0].Detail, id) || !strings.Contains(ev[0].Detail, sid) || ev[0].User != "kim" {
				t.Errorf("audit of the logout: %+v, want one naming the client and sid", ev)
			}
		})
	}
}

// TestBackchannelLogoutClients: of the applications that received tokens in a session, each
// with a back-channel logout URI gets one token, and one without gets nothing; another
// session's applications are not told.
func TestBackchannelLogoutClients(t *testing.T) {
	h := newHarness(t)
	u := h.addUser("lou", false)
	h.addUser("max", false)
	wiki, wikiSecret, wikiR := h.logoutClient("Wiki")
	chat, chatSecret, chatR := h.logoutClient("Chat")
	plain, plainSecret := h.addClient(store.Client{Name: "Plain", SkipConsent: true})
	b := h.browser()
	_, sid := h.signedInTo(b, wiki, wikiSecret, "lou")
	if _, sid2 := h.signedInTo(b, chat, chatSecret, "lou"); sid2 != sid {
		t.Fatalf("one session, two sids: %s %s", sid, sid2)
	}
	h.signedInTo(b, plain, plainSecret, "lou")
	other := h.browser()
	h.signedInTo(other, wiki, wikiSecret, "max")

	b.post("/signout", url.Values{})
	oneLogout(t, wikiR, sid, u)
	oneLogout(t, chatR, sid, u)
	cfg, _ := h.oauth(wiki, wikiSecret)
	if p := other.authorize(cfg, "s"); p.url.Path == "/signin" {
		t.Fatalf("the other person's session ended too")
	}
	h.settled(wikiR, chatR)
	waitFor(t, "the logouts audited", func() bool { return len(h.events(provider.ActionLogout)) >= 2 })
	if n := len(h.events(provider.ActionLogout)); n != 2 {
		t.Errorf("%d logouts audited, want 2", n)
	}
}

// TestBackchannelLogoutPasswordChange: a new password chosen on the profile ends the other
// sessions, whose applications are told; the session that chose it goes on, untold.
func TestBackchannelLogoutPasswordChange(t *testing.T) {
	h := newHarness(t)
	u := h.addUser("ray", false)
	id, secret, r := h.logoutClient("Wiki")
	here, there := h.browser(), h.browser()
	_, hereSID := h.signedInTo(here, id, secret, "ray")
	_, thereSID := h.signedInTo(there, id, secret, "ray")
	body := `{"current_password": "` + testPassword + `", "new_password": "a brand new passphrase 42"}`
	req, _ := http.NewRequest(http.MethodPost, h.base+"/api/v1/me/password", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", h.base)
	resp, err := here.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		t.Fatalf("password change: %d", resp.StatusCode)
	}
	oneLogout(t, r, thereSID, u)
	h.settled(r)
	if got := r.got(); got[0].sid == hereSID {
		t.Errorf("the session that changed the password was logged out")
	}
}

// TestBackchannelLogoutRetries: an application that is down is tried again with backoff, by
// the injected clock, and once it is up it gets the token exactly once; one that never comes
// back is given up after a day, audited.
func TestBackchannelLogoutRetries(t *testing.T) {
	logs := &apptest.Logs{}
	fc := clock.NewFake(time.Now().Truncate(time.Second))
	a := apptest.Serve(t, app.Config{Clock: fc, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	h := &harness{t: t, app: a, clock: fc, base: a.BaseURL, rp: newRelyingParty(t)}
	h.setOption(options.InternalMFA, options.PolicyOff)
	ctx := context.Background()
	u := h.addUser("sam", false)
	id, secret, r := h.logoutClient("Wiki")
	r.answer(http.StatusServiceUnavailable)
	b := h.browser()
	_, sid := h.signedInTo(b, id, secret, "sam")
	b.post("/signout", url.Values{})

	// The first attempt fails and is recorded for later.
	notice := func() *store.LogoutNotice {
		ns, err := h.app.Store.DueLogoutNotices(ctx, h.clock.Now().Add(24*time.Hour), 10)
		if err != nil || len(ns) > 1 {
			t.Fatalf("DueLogoutNotices = %d, %v", len(ns), err)
		}
		if len(ns) == 0 {
			return nil
		}
		return ns[0]
	}
	waitFor(t, "a failed attempt recorded", func() bool { n := notice(); return n != nil && n.Attempts >= 1 && n.LastError != "" })
	if n := notice(); !strings.Contains(n.LastError, "503") || n.NextAt.After(h.clock.Now().Add(time.Second)) {
		t.Errorf("after one failure: %+v, want the 503 and a retry within a second", n)
	}
	if got := r.got(); len(got) != 0 {
		t.Fatalf("a refused delivery counted as received: %+v", got)
	}

	// Up again: once the backoff has passed, it is delivered exactly once.
	r.answer(0)
	h.clock.Advance(2 * time.Second)
	h.app.Provider.Logouts().DeliverDue(ctx)
	oneLogout(t, r, sid, u)
	h.settled(r)

	// Down for good: tried with growing delays, then given up after a day.
	id2, secret2, r2 := h.logoutClient("Chat")
	r2.answer(http.StatusBadGateway)
	b2 := h.browser()
	h.signedInTo(b2, id2, secret2, "sam")
	b2.post("/signout", url.Values{})
	waitFor(t, "a failed attempt recorded", func() bool { n := notice(); return n != nil && n.Attempts >= 1 })
	last := notice().NextAt
	for range 3 {
		h.clock.Set(last)
		h.app.Provider.Logouts().DeliverDue(ctx)
		n := notice()
		if n == nil || !n.NextAt.After(last) {
			t.Fatalf("after a failure the notice is %+v, want it due later than %s", n, last)
		}
		if gap := n.NextAt.Sub(h.clock.Now()); gap > 5*time.Minute {
			t.Errorf("a retry %s later, more than the 5 minute cap", gap)
		}
		last = n.NextAt
	}
	h.clock.Advance(25 * time.Hour)
	h.app.Provider.Logouts().DeliverDue(ctx)
	waitFor(t, "the notice given up", func() bool { return len(h.events(provider.ActionLogoutFailed)) > 0 })
	if n := notice(); n != nil {
		t.Errorf("a notice given up stays: %+v", n)
	}
	if ev := h.events(provider.ActionLogoutFailed); len(ev) != 1 || !strings.Contains(ev[0].Detail, id2) {
		t.Errorf("audit of the notice given up: %+v", ev)
	}
	if len(r2.got()) != 0 {
		t.Errorf("a receiver answering 502 counted a delivery")
	}
	// The failures were logged, never with a token.
	if !strings.Contains(logs.String(), "back-channel logout") {
		t.Errorf("the failed deliveries were not logged:\n%s", logs)
	}
	for _, raw := range append(r.sent(), r2.sent()...) {
		if raw == "" || strings.Contains(logs.String(), raw) || strings.Contains(logs.String(), strings.Split(raw, ".")[2]) {
			t.Fatalf("a logout token is in the log (or none was sent)")
		}
	}
	metrics := h.metrics()
	for _, want := range []string{`twofold_oidc_backchannel_logout_total{outcome="delivered"} 1`,
		`twofold_oidc_backchannel_logout_total{outcome="gave_up"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestBackchannelLogoutFromCommandLine: a command (a second opening of the data folder, as
// `twofold user disable` is) only queues the notice; the serving instance sends it at its next
// poll, within the 5 seconds SPEC §7 allows.
func TestBackchannelLogoutFromCommandLine(t *testing.T) {
	h := newHarness(t)
	u := h.addUser("tao", false)
	id, secret, r := h.logoutClient("Wiki")
	_, sid := h.signedInTo(h.browser(), id, secret, "tao")
	cli := apptest.Open(t, app.Config{Data: h.app.Data, Clock: h.clock})
	start := time.Now()
	if _, err := cli.Service.SetDisabled(context.Background(), account.CLI, "tao", true); err != nil {
		t.Fatal(err)
	}
	oneLogout(t, r, sid, u)
	if took := time.Since(start); took > 5*time.Second {
		t.Logf("delivered %s after the command (the machine is busy?)", took)
	}
	h.settled(r)
}

// TestBackchannelLogoutDeliverersRace: deliverers of several processes on one database, all
// passing at once, send each notice once.
func TestBackchannelLogoutDeliverersRace(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id, secret, r := h.logoutClient("Wiki")
	r.answer(http.StatusServiceUnavailable) // held back until every deliverer is ready
	const sessions = 12
	u := h.addUser("uma", false)
	sids := map[string]bool{}
	for range sessions {
		_, sid := h.signedInTo(h.browser(), id, secret, "uma")
		sids[sid] = true
	}
	// Instances are configured alike: the same base URL, so the same issuer.
	others := []*app.App{apptest.Open(t, app.Config{Data: h.app.Data, Clock: h.clock, BaseURL: h.base}),
		apptest.Open(t, app.Config{Data: h.app.Data, Clock: h.clock, BaseURL: h.base})}
	if _, err := others[0].Service.SetDisabled(ctx, account.CLI, "uma", true); err != nil {
		t.Fatal(err)
	}
	h.triedOnce(sessions)
	r.answer(0)
	h.clock.Advance(time.Minute)
	var wg sync.WaitGroup
	for _, a := range append(others, h.app) {
		for range 2 {
			wg.Add(1)
			go func() { defer wg.Done(); a.Provider.Logouts().DeliverDue(ctx) }()
		}
	}
	wg.Wait()
	got := waitLogouts(t, r, sessions)
	h.settled(r)
	seen := map[string]bool{}
	for _, tok := range r.got() {
		if seen[tok.sid] || !sids[tok.sid] || tok.sub != u.Subject {
			t.Errorf("logout token %+v sent twice or for no session", tok)
		}
		seen[tok.sid] = true
	}
	if len(got) != sessions {
		t.Errorf("%d logout tokens for %d sessions", len(got), sessions)
	}
}

// metrics answers what /metrics shows.
func (h *harness) metrics() string {
	h.t.Helper()
	resp, err := http.Get(h.base + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestBackchannelLogoutRefusesOtherURIs: a logout URI that registration would refuse (http to
// a host that is not a loopback address), however it came into the database, is never sent to:
// the notice is dropped, audited and counted.
func TestBackchannelLogoutRefusesOtherURIs(t *testing.T) {
	h := newHarness(t)
	h.addUser("vic", false)
	id, secret := h.addClient(store.Client{Name: "Plain http", SkipConsent: true, BackchannelLogoutURI: "http://app.example.com/logout"})
	b := h.browser()
	h.signedInTo(b, id, secret, "vic")
	b.post("/signout", url.Values{})
	waitFor(t, "the notice dropped", func() bool { return len(h.events(provider.ActionLogoutFailed)) > 0 })
	if ev := h.events(provider.ActionLogoutFailed); len(ev) != 1 || !strings.Contains(ev[0].Detail, "not https") {
		t.Errorf("audit: %+v", ev)
	}
	if n, err := h.app.Store.CountLogoutNotices(context.Background()); err != nil || n != 0 {
		t.Errorf("CountLogoutNotices = %d, %v; want 0", n, err)
	}
	if !strings.Contains(h.metrics(), `twofold_oidc_backchannel_logout_total{outcome="refused"} 1`) {
		t.Errorf("the refusal is not counted")
	}
}

// TestBackchannelLogoutWhenSessionExpires: a session that ends by expiry, removed by the
// minute sweep or by its next use, sends each application that received tokens in it one
// logout token from the next sweep; a sweep after it queues nothing more.
func TestBackchannelLogoutWhenSessionExpires(t *testing.T) {
	for _, tc := range []struct {
		name string
		// removed ends the expired session before the sweep, or leaves it to the sweep.
		removed func(h *harness, b *browser, cfg *oauth2.Config)
	}{
		{"removed by the sweep", func(*harness, *browser, *oauth2.Config) {}},
		{"removed at its next use", func(h *harness, b *browser, cfg *oauth2.Config) {
			if p := b.authorize(cfg, "s"); p.url.Path != "/signin" {
				t.Fatalf("an expired session was not asked to sign in: %s", p.url)
			}
			if n, err := h.app.Store.CountLogoutNotices(context.Background()); err != nil || n != 0 {
				t.Fatalf("CountLogoutNotices before the sweep = %d, %v; want 0", n, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			ctx := context.Background()
			u := h.addUser("wes", false)
			id, secret, r := h.logoutClient("Wiki")
			plain, plainSecret := h.addClient(store.Client{Name: "Plain", SkipConsent: true})
			b := h.browser()
			_, sid := h.signedInTo(b, id, secret, "wes")
			h.signedInTo(b, plain, plainSecret, "wes")

			h.clock.Advance(account.SessionIdle + time.Second)
			cfg, _ := h.oauth(id, secret)
			tc.removed(h, b, cfg)
			h.app.Sweep(ctx)
			h.app.Provider.Logouts().DeliverDue(ctx)
			oneLogout(t, r, sid, u)
			h.settled(r)
			h.app.Sweep(ctx)
			if n, err := h.app.Store.CountLogoutNotices(ctx); err != nil || n != 0 {
				t.Errorf("CountLogoutNotices after a second sweep = %d, %v; want 0", n, err)
			}
			h.settled(r)
			if p := b.authorize(cfg, "s"); p.url.Path != "/signin" {
				t.Errorf("the expired session still signs in: %s", p.url)
			}
		})
	}
}

// TestBackchannelLogoutSweepsRace: instances on one database sweeping at the same moment
// queue the notice of each expired session once.
func TestBackchannelLogoutSweepsRace(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id, secret, r := h.logoutClient("Wiki")
	r.answer(http.StatusServiceUnavailable) // the notices stay in the queue, to be counted
	u := h.addUser("xia", false)
	const sessions = 8
	sids := map[string]bool{}
	for range sessions {
		_, sid := h.signedInTo(h.browser(), id, secret, "xia")
		sids[sid] = true
	}
	others := []*app.App{apptest.Open(t, app.Config{Data: h.app.Data, Clock: h.clock, BaseURL: h.base}),
		apptest.Open(t, app.Config{Data: h.app.Data, Clock: h.clock, BaseURL: h.base})}
	h.clock.Advance(account.SessionLifetime + time.Minute)
	var wg sync.WaitGroup
	for _, a := range append(others, h.app) {
		for range 2 {
			wg.Add(1)
			go func() { defer wg.Done(); a.Sweep(ctx) }()
		}
	}
	wg.Wait()
	ns, err := h.app.Store.DueLogoutNotices(ctx, h.clock.Now().Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	queued := map[string]int{}
	for _, n := range ns {
		queued[n.SID]++
		if !sids[n.SID] || n.Subject != u.Subject || n.ClientID != id {
			t.Errorf("a notice of no session: %+v", n)
		}
	}
	if len(ns) != sessions || len(queued) != sessions {
		t.Fatalf("%d notices queued for %d sessions (%v), want one each", len(ns), sessions, queued)
	}
	h.triedOnce(sessions)
	r.answer(0)
	h.clock.Advance(time.Minute)
	h.app.Provider.Logouts().DeliverDue(ctx)
	if got := waitLogouts(t, r, sessions); len(got) != sessions {
		t.Errorf("%d logout tokens for %d sessions", len(got), sessions)
	}
	h.settled(r)
}
