package provider_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
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
	"github.com/twofold-auth/twofold/internal/keys"
	"github.com/twofold-auth/twofold/internal/mail"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/otp"
	"github.com/twofold-auth/twofold/internal/store"
)

// The tests drive Twofold as an application does, through coreos/go-oidc and x/oauth2 (real
// relying-party libraries), and as a person does, through the pages with a cookie jar.

const testPassword = "correct horse battery staple"

type harness struct {
	t     *testing.T
	app   *app.App
	clock *clock.Fake
	base  string
	rp    *relyingParty
	mails *mailbox
}

// mailbox keeps what the service mails.
type mailbox struct {
	mu   sync.Mutex
	sent []mail.Message
}

func (m *mailbox) Send(_ context.Context, msg mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, msg)
	return nil
}

var tempPasswordRE = regexp.MustCompile(`Temporary password: (\S+)`)

// temporaryPassword answers the last temporary password mailed to address.
func (h *harness) temporaryPassword(address string) string {
	h.t.Helper()
	h.mails.mu.Lock()
	defer h.mails.mu.Unlock()
	for i := len(h.mails.sent) - 1; i >= 0; i-- {
		m := h.mails.sent[i]
		if m.To != address || m.Subject != account.SubjectNewPassword {
			continue
		}
		if sm := tempPasswordRE.FindStringSubmatch(m.Body); sm != nil {
			return sm[1]
		}
	}
	h.t.Fatalf("no temporary password mailed to %s", address)
	return ""
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	fc := clock.NewFake(time.Now().Truncate(time.Second))
	box := &mailbox{}
	a := apptest.Serve(t, app.Config{Clock: fc, WrapMail: func(mail.Mailer) mail.Mailer { return box }})
	if a.Provider == nil {
		t.Fatal("the provider is off")
	}
	h := &harness{t: t, app: a, clock: fc, base: a.BaseURL, mails: box}
	h.rp = newRelyingParty(t)
	h.setOption(options.InternalMFA, options.PolicyOff)
	return h
}

func (h *harness) setOption(key, value string) {
	h.t.Helper()
	if err := h.app.Store.SetOption(context.Background(), key, value); err != nil {
		h.t.Fatal(err)
	}
	h.app.Options.Invalidate()
}

// addUser makes an account with testPassword, enrolled with a TOTP key when totp is set.
func (h *harness) addUser(name string, totp bool, groups ...string) *store.User {
	h.t.Helper()
	ctx := context.Background()
	hash, err := h.app.Hasher.Hash(ctx, testPassword)
	if err != nil {
		h.t.Fatal(err)
	}
	u := &store.User{Username: name, Email: name + "@example.org", Name: "Person " + name, Kind: store.KindInternal,
		Source: store.SourceLocal, Role: store.RoleUser, PasswordHash: hash, BackupSalt: []byte("0123456789abcdef"),
		Groups: groups, CreatedAt: h.clock.Now()}
	if err := h.app.Store.CreateUser(ctx, u); err != nil {
		h.t.Fatal(err)
	}
	if totp {
		key := []byte("12345678901234567890")
		if u.TOTPKey, err = h.app.Keys.SealTOTP(u.ID, keys.Version, key, nil); err != nil {
			h.t.Fatal(err)
		}
		u.TOTPKeyVersion = keys.Version
		if err := h.app.Store.UpdateUser(ctx, u); err != nil {
			h.t.Fatal(err)
		}
	}
	return u
}

// code is the TOTP code of the test key a whole step ahead of the last one used.
func (h *harness) code() string {
	h.clock.Advance(30 * time.Second)
	return otp.TOTP([]byte("12345678901234567890"), h.clock.Now(), otp.Default)
}

// addClient registers an application with the relying party's redirect URI.
func (h *harness) addClient(c store.Client) (id, secret string) {
	h.t.Helper()
	id = fmt.Sprintf("app-%d", time.Now().UnixNano())
	secret = "secret-" + id
	c.ID = id
	if c.Name == "" {
		c.Name = "Test App"
	}
	if !c.Public {
		sum := sha256.Sum256([]byte(secret))
		c.SecretHash = sum[:]
	}
	if c.RedirectURIs == nil {
		c.RedirectURIs = []string{h.rp.redirectURI}
	}
	c.CreatedAt = h.clock.Now()
	if err := h.app.Store.CreateClient(context.Background(), &c); err != nil {
		h.t.Fatal(err)
	}
	return id, secret
}

func (h *harness) events(action string) []*store.Event {
	h.t.Helper()
	ev, err := h.app.Store.Events(context.Background(), store.EventFilter{Action: action})
	if err != nil {
		h.t.Fatal(err)
	}
	return ev
}

// oauth answers the relying party's view of the client: discovery through go-oidc.
func (h *harness) oauth(id, secret string, scopes ...string) (*oauth2.Config, *gooidc.IDTokenVerifier) {
	h.t.Helper()
	p, err := gooidc.NewProvider(context.Background(), h.base)
	if err != nil {
		h.t.Fatalf("discovery: %v", err)
	}
	if len(scopes) == 0 {
		scopes = []string{gooidc.ScopeOpenID, "profile", "email"}
	}
	cfg := &oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: h.rp.redirectURI, Scopes: scopes}
	return cfg, p.Verifier(&gooidc.Config{ClientID: id})
}

// relyingParty is the application's redirect URI: it records what comes back.
type relyingParty struct {
	srv         *httptest.Server
	redirectURI string
	mu          sync.Mutex
	last        url.Values
}

func newRelyingParty(t *testing.T) *relyingParty {
	rp := &relyingParty{}
	rp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rp.mu.Lock()
		rp.last = r.URL.Query()
		rp.mu.Unlock()
		io.WriteString(w, "application page")
	}))
	t.Cleanup(rp.srv.Close)
	rp.redirectURI = rp.srv.URL + "/callback"
	return rp
}

// browser is a person's browser: a cookie jar, following redirects, and the pages' own move
// onward (a meta refresh) as a browser does.
type browser struct {
	t      *testing.T
	h      *harness
	client *http.Client
}

// atConsent makes the account name, in groups, and the application c, which asks for consent,
// and signs name in through an authorization request of it: the browser ends at the consent
// page.
func (h *harness) atConsent(name string, c store.Client, groups ...string) (*browser, *page, *oauth2.Config) {
	h.t.Helper()
	h.addUser(name, false, groups...)
	id, secret := h.addClient(c)
	cfg, _ := h.oauth(id, secret)
	b := h.browser()
	return b, b.signIn(b.authorize(cfg, "s"), name), cfg
}

func (h *harness) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: h.t, h: h, client: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

// page is an answer: where it ended and what it said.
type page struct {
	status int
	url    *url.URL
	body   string
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

var refreshRE = regexp.MustCompile(`<meta http-equiv="refresh" content="0;url=([^"]+)">`)

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	for range 5 {
		resp, err := b.client.Do(req)
		if err != nil {
			b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		p := &page{status: resp.StatusCode, url: resp.Request.URL, body: string(body)}
		m := refreshRE.FindStringSubmatch(p.body)
		if m == nil {
			return p
		}
		next, err := p.url.Parse(html.UnescapeString(m[1]))
		if err != nil {
			b.t.Fatal(err)
		}
		req, _ = http.NewRequest(http.MethodGet, next.String(), nil)
	}
	b.t.Fatal("too many pages moving on")
	return nil
}

func (b *browser) get(u string) *page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

// post submits a form of the page at from, as the browser would: with its Origin.
func (b *browser) post(path string, form url.Values) *page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.h.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.h.base)
	return b.do(req)
}

// hidden answers the value of a hidden field of the page.
func (p *page) hidden(t *testing.T, name string) string {
	t.Helper()
	m := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no field %s on %s:\n%s", name, p.url, p.body)
	}
	return html.UnescapeString(m[1])
}

// signIn fills the sign-in page the browser is on.
func (b *browser) signIn(p *page, username string) *page {
	b.t.Helper()
	if p.url.Path != "/signin" {
		b.t.Fatalf("expected the sign-in page, at %s (%d):\n%s", p.url, p.status, p.body)
	}
	form := url.Values{"username": {username}, "password": {testPassword}}
	for _, m := range hiddenRE.FindAllStringSubmatch(p.body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	return b.post("/signin", form)
}

// allow answers the consent page with Allow.
func (b *browser) allow(p *page) *page {
	b.t.Helper()
	if !strings.Contains(p.body, `value="allow"`) {
		b.t.Fatalf("expected the consent page, at %s:\n%s", p.url, p.body)
	}
	return b.post("/oidc/consent", url.Values{"id": {p.hidden(b.t, "id")}, "answer": {"allow"}})
}

// atApp checks that the browser is back at the application and answers what it received.
func (h *harness) atApp(p *page) url.Values {
	h.t.Helper()
	if p.url.Host != strings.TrimPrefix(h.rp.srv.URL, "http://") {
		h.t.Fatalf("expected to be back at the application, at %s (%d):\n%s", p.url, p.status, p.body)
	}
	return p.url.Query()
}

// authorize starts an authorization at the application's request.
func (b *browser) authorize(cfg *oauth2.Config, state string, opts ...oauth2.AuthCodeOption) *page {
	b.t.Helper()
	return b.get(cfg.AuthCodeURL(state, opts...))
}

// userinfo asks the userinfo endpoint with an access token.
func (h *harness) userinfo(token string) (int, map[string]any) {
	h.t.Helper()
	resp, m := h.protocol(http.MethodGet, "/oidc/userinfo", nil, bearer(token))
	return resp.StatusCode, m
}

// bearer authenticates a request with an access token.
func bearer(token string) func(r *http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

// claims answers an ID token's claims.
func claims(t *testing.T, tok *gooidc.IDToken) map[string]any {
	t.Helper()
	var m map[string]any
	if err := tok.Claims(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// protocol sends a request to one of the protocol's endpoints, a form when form is set, with
// auth's credentials, and answers the response (its body read) and the JSON object it holds.
func (h *harness) protocol(method, path string, form url.Values, auth func(r *http.Request)) (*http.Response, map[string]any) {
	h.t.Helper()
	body := ""
	if form != nil {
		body = form.Encode()
	}
	req, err := http.NewRequest(method, h.base+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if auth != nil {
		auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp, m
}
