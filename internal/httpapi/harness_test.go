package httpapi_test

// The harness runs Twofold as `twofold serve` does (package app: SQLite file, server key, outbox,
// argon2id hasher, options cache, the API and the pages behind API.Protect) on a free port, with
// cheap hashing and a fake clock, and drives it with real HTTP clients.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/access"
	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/app/apptest"
	"github.com/twofold-auth/twofold/internal/clock"
	"github.com/twofold-auth/twofold/internal/httpapi"
	"github.com/twofold-auth/twofold/internal/mail"
	"github.com/twofold-auth/twofold/internal/otp"
	"github.com/twofold-auth/twofold/internal/password"
	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/sqlite"
)

// testKeyHex is the fixed server key of the tests.
const testKeyHex = "7f3a9c1e5b2d4f6081a3c5e7092b4d6f8a1c3e5f7092b4d6e8f0a2c4e6081a3c"

// newPassword is what users choose at their first sign-in in these tests.
const newPassword = "violet tangerine orbit 1987"

type harness struct {
	t      *testing.T
	clock  *clock.Fake
	store  *sqlite.DB
	svc    *account.Service
	hasher *password.Hasher
	url    string
	logs   *apptest.Logs
	outbox string
	mails  *recorder
}

type harnessConfig struct {
	trusted []netip.Prefix
	secure  bool
	// hashWorkers, noHashWait and salts set the hasher (the default: a worker per core, callers
	// waiting up to 2 seconds, salts from crypto/rand).
	hashWorkers int
	noHashWait  bool
	salts       io.Reader
	// baseURL replaces http://twofold.test (https://twofold.test when secure).
	baseURL string
	// access is forward auth's rules (none: its endpoints answer 404); cookieDomain the
	// session cookie's domain.
	access       access.Source
	cookieDomain string
}

func newHarness(t *testing.T, cfgs ...harnessConfig) *harness {
	t.Helper()
	var cfg harnessConfig
	if len(cfgs) > 0 {
		cfg = cfgs[0]
	}
	// The clock starts at the real time, so that Retry-After stays meaningful.
	h := &harness{t: t, clock: clock.NewFake(time.Now().UTC().Truncate(time.Second)), logs: &apptest.Logs{}}
	baseURL := "http://twofold.test"
	if cfg.secure {
		baseURL = "https://twofold.test"
	}
	if cfg.baseURL != "" {
		baseURL = cfg.baseURL
	}
	var wait time.Duration
	if cfg.noHashWait {
		wait = -1
	}
	a := apptest.Serve(t, app.Config{SecretKey: testKeyHex, BaseURL: baseURL, Clock: h.clock,
		HashWorkers: cfg.hashWorkers, HashWait: wait, Salts: cfg.salts, TrustedProxies: cfg.trusted,
		Access: cfg.access, CookieDomain: cfg.cookieDomain,
		Logger:   slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		WrapMail: func(outbox mail.Mailer) mail.Mailer { h.mails = &recorder{Mailer: outbox}; return h.mails }})
	h.store, h.svc, h.hasher, h.url, h.outbox = a.Store.(*sqlite.DB), a.Service, a.Hasher, a.URL(), a.Outbox
	return h
}

// bootstrap makes the first admin and answers its temporary password.
func (h *harness) bootstrap() string {
	h.t.Helper()
	pw, err := h.svc.Bootstrap(context.Background(), "admin@example.com")
	if err != nil || pw == "" {
		h.t.Fatalf("bootstrap: %q, %v", pw, err)
	}
	return pw
}

// createUser makes an account from the command line and answers its temporary password.
func (h *harness) createUser(n account.NewUser) string {
	h.t.Helper()
	if n.Email == "" {
		n.Email = n.Username + "@example.com"
	}
	_, pw, err := h.svc.CreateUser(context.Background(), account.CLI, n)
	if err != nil {
		h.t.Fatalf("create %s: %v", n.Username, err)
	}
	return pw
}

func (h *harness) setOption(key, value string) {
	h.t.Helper()
	if _, err := h.svc.SetOption(context.Background(), account.CLI, key, value); err != nil {
		h.t.Fatalf("set %s: %v", key, err)
	}
}

func (h *harness) user(name string) *store.User {
	h.t.Helper()
	u, err := h.store.UserByName(context.Background(), name)
	if err != nil {
		h.t.Fatalf("user %s: %v", name, err)
	}
	return u
}

func (h *harness) events() []*store.Event {
	h.t.Helper()
	es, err := h.store.Events(context.Background(), store.EventFilter{Limit: 1000})
	if err != nil {
		h.t.Fatalf("events: %v", err)
	}
	return es
}

// code moves the clock to the next TOTP step and answers the code of key then, so that every
// code a test sends is of a step later than the last one accepted.
func (h *harness) code(key []byte) string {
	h.clock.Advance(30 * time.Second)
	return otp.TOTP(key, h.clock.Now(), otp.Default)
}

// outboxFiles answers the mail files in the outbox.
func (h *harness) outboxFiles() []string {
	h.t.Helper()
	files, err := filepath.Glob(filepath.Join(h.outbox, "*.eml"))
	if err != nil {
		h.t.Fatal(err)
	}
	return files
}

// recorder keeps, in order, the messages it passes on to the outbox.
type recorder struct {
	mail.Mailer
	mu   sync.Mutex
	sent []mail.Message
}

func (r *recorder) Send(ctx context.Context, m mail.Message) error {
	if err := r.Mailer.Send(ctx, m); err != nil {
		return err
	}
	r.mu.Lock()
	r.sent = append(r.sent, m)
	r.mu.Unlock()
	return nil
}

var tempPasswordRE = regexp.MustCompile(`Temporary password: (\S+)`)

// lastTemporaryPassword answers the temporary password of the newest "New Password" mail to
// address.
func (h *harness) lastTemporaryPassword(address string) string {
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

// client is one browser: a cookie jar and the harness.
type client struct {
	h   *harness
	hc  *http.Client
	url *url.URL
}

func (h *harness) client() *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	u, _ := url.Parse(h.url)
	return &client{h: h, hc: &http.Client{Jar: jar, Timeout: 20 * time.Second}, url: u}
}

// answer is one HTTP answer, its body read and, when JSON, decoded with numbers kept as
// json.Number so that tests can tell numbers from strings.
type answer struct {
	status int
	header http.Header
	raw    []byte
	json   map[string]any
	set    []*http.Cookie
}

// request describes a request beyond method, path and JSON value.
type request struct {
	method, path string
	body         io.Reader // raw body; nil for none
	contentType  string    // "" for none
	header       http.Header
	noCacheCheck bool // the answer may come from before the API
}

func (c *client) send(r request) *answer {
	c.h.t.Helper()
	req, err := http.NewRequest(r.method, c.h.url+r.path, r.body)
	if err != nil {
		c.h.t.Fatal(err)
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	for k, vs := range r.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.h.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		c.h.t.Fatalf("%s %s: read: %v", r.method, r.path, err)
	}
	a := &answer{status: res.StatusCode, header: res.Header, raw: raw, set: res.Cookies()}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&a.json); err != nil {
			c.h.t.Fatalf("%s %s: answer is not a JSON object: %v: %s", r.method, r.path, err, raw)
		}
	}
	if strings.HasPrefix(r.path, "/api/") && !r.noCacheCheck && res.Header.Get("Cache-Control") != "no-store" {
		c.h.t.Errorf("%s %s: Cache-Control %q, want no-store", r.method, r.path, res.Header.Get("Cache-Control"))
	}
	if strings.HasPrefix(r.path, "/api/") && (res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("X-Frame-Options") != "DENY") {
		c.h.t.Errorf("%s %s: X-Content-Type-Options %q, X-Frame-Options %q; want nosniff and DENY", r.method, r.path,
			res.Header.Get("X-Content-Type-Options"), res.Header.Get("X-Frame-Options"))
	}
	return a
}

// call sends v as JSON (nil: no body) and answers the answer.
func (c *client) call(method, path string, v any) *answer {
	c.h.t.Helper()
	r := request{method: method, path: path}
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			c.h.t.Fatal(err)
		}
		r.body, r.contentType = bytes.NewReader(b), "application/json"
	}
	return c.send(r)
}

// raw sends body as given with Content-Type application/json.
func (c *client) raw(method, path, body string) *answer {
	c.h.t.Helper()
	return c.send(request{method: method, path: path, body: strings.NewReader(body), contentType: "application/json"})
}

func (c *client) get(path string) *answer { c.h.t.Helper(); return c.call("GET", path, nil) }

func (c *client) post(path string, v any) *answer { c.h.t.Helper(); return c.call("POST", path, v) }

// cookie answers the session cookie the client holds ("" for none).
func (c *client) cookie() string {
	for _, ck := range c.hc.Jar.Cookies(c.url) {
		if ck.Name == httpapi.CookieName {
			return ck.Value
		}
	}
	return ""
}

// setCookie replaces the session cookie the client holds.
func (c *client) setCookie(v string) {
	c.hc.Jar.SetCookies(c.url, []*http.Cookie{{Name: httpapi.CookieName, Value: v, Path: "/"}})
}

// ok checks a success status and answers a.
func (a *answer) ok(t *testing.T, status int) *answer {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.raw)
	}
	return a
}

// str answers the string field key of the answer, failing when it is absent or not a string.
func (a *answer) str(t *testing.T, key string) string {
	t.Helper()
	return asString(t, a.json, key)
}

func asString(t *testing.T, m map[string]any, key string) string {
	t.Helper()
	v, ok := m[key]
	if !ok {
		t.Fatalf("field %q missing in %v", key, m)
	}
	s, ok := v.(string)
	if !ok {
		t.Fatalf("field %q is %T (%v), want a string", key, v, v)
	}
	return s
}

func asNumber(t *testing.T, m map[string]any, key string) int64 {
	t.Helper()
	v, ok := m[key]
	if !ok {
		t.Fatalf("field %q missing in %v", key, m)
	}
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("field %q is %T (%v), want a JSON number", key, v, v)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatalf("field %q = %v is not an integer", key, n)
	}
	return i
}

func asBool(t *testing.T, m map[string]any, key string) bool {
	t.Helper()
	v, ok := m[key]
	if !ok {
		t.Fatalf("field %q missing in %v", key, m)
	}
	b, ok := v.(bool)
	if !ok {
		t.Fatalf("field %q is %T (%v), want a boolean", key, v, v)
	}
	return b
}

func asObject(t *testing.T, m map[string]any, key string) map[string]any {
	t.Helper()
	v, ok := m[key]
	if !ok {
		t.Fatalf("field %q missing in %v", key, m)
	}
	o, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("field %q is %T (%v), want an object", key, v, v)
	}
	return o
}

func asList(t *testing.T, m map[string]any, key string) []any {
	t.Helper()
	v, ok := m[key]
	if !ok {
		t.Fatalf("field %q missing in %v", key, m)
	}
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("field %q is %T (%v), want a list", key, v, v)
	}
	return l
}

func asStrings(t *testing.T, m map[string]any, key string) []string {
	t.Helper()
	var out []string
	for i, v := range asList(t, m, key) {
		s, ok := v.(string)
		if !ok {
			t.Fatalf("%s[%d] is %T, want a string", key, i, v)
		}
		out = append(out, s)
	}
	return out
}

func asNull(t *testing.T, m map[string]any, key string) {
	t.Helper()
	v, ok := m[key]
	if !ok {
		t.Fatalf("field %q missing in %v (want null)", key, m)
	}
	if v != nil {
		t.Fatalf("field %q = %v, want null", key, v)
	}
}

// asTime answers the RFC 3339 time of field key.
func asTime(t *testing.T, m map[string]any, key string) time.Time {
	t.Helper()
	s := asString(t, m, key)
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("field %q = %q is not RFC 3339: %v", key, s, err)
	}
	return tm
}

// wantError checks the error shape {"error": {"code", "message"}} with status and code, and
// answers the error object.
func (a *answer) wantError(t *testing.T, status int, code string) map[string]any {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d (%s): %s", a.status, status, code, a.raw)
	}
	if a.json == nil {
		t.Fatalf("error answer is not JSON (Content-Type %q): %s", a.header.Get("Content-Type"), a.raw)
	}
	e := asObject(t, a.json, "error")
	if got := asString(t, e, "code"); got != code {
		t.Fatalf("error code %q, want %q: %s", got, code, a.raw)
	}
	if asString(t, e, "message") == "" {
		t.Fatalf("error without a message: %s", a.raw)
	}
	return e
}

// person is a signed-in (or signing-in) account with what it learnt on the way.
type person struct {
	c      *client
	name   string
	pw     string
	key    []byte
	backup []string
}

// signIn takes name through every step to "done", enrolling and choosing a new password as
// asked, and answers the person.
func (h *harness) signIn(name, pw string) *person {
	h.t.Helper()
	p := &person{c: h.client(), name: name, pw: pw}
	p.finish(p.c.post("/api/v1/signin", map[string]string{"username": name, "password": pw}).ok(h.t, 200).str(h.t, "next"))
	return p
}

// signInAgain signs the person in afresh with its client, its key and its password.
func (p *person) signInAgain() {
	t := p.c.h.t
	t.Helper()
	p.finish(p.c.post("/api/v1/signin", map[string]string{"username": p.name, "password": p.pw}).ok(t, 200).str(t, "next"))
}

func (p *person) finish(next string) {
	h := p.c.h
	t := h.t
	t.Helper()
	for i := 0; next != "done"; i++ {
		if i > 5 {
			t.Fatalf("sign-in of %s does not finish: at %s", p.name, next)
		}
		switch next {
		case "mfa_enroll", "mfa_enroll_optional":
			e := p.c.post("/api/v1/signin/mfa/enroll", nil).ok(t, 200)
			key, err := otp.DecodeKey(e.str(t, "secret"))
			if err != nil {
				t.Fatal(err)
			}
			p.key = key
			a := p.c.post("/api/v1/signin/mfa/enroll/verify", map[string]string{"code": h.code(key)}).ok(t, 200)
			p.backup = asStrings(t, a.json, "backup_codes")
			next = a.str(t, "next")
		case "mfa_verify":
			next = p.c.post("/api/v1/signin/mfa/verify", map[string]string{"code": h.code(p.key)}).ok(t, 200).str(t, "next")
		case "change_password":
			p.pw = newPassword
			next = p.c.post("/api/v1/signin/password", map[string]string{"new_password": p.pw}).ok(t, 200).str(t, "next")
		default:
			t.Fatalf("unknown step %q", next)
		}
	}
}

// codeValidNear reports whether code is accepted for key at the clock's time (one step either
// side), so that tests can pick a code that is surely wrong.
func codeValidNear(h *harness, key []byte, code string) bool {
	_, ok := otp.Verify(key, code, h.clock.Now(), otp.Default, 1, -1)
	return ok
}
