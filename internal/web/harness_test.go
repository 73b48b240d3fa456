package web_test

// The harness runs Twofold as `twofold serve` does (package app: a SQLite file, a server key, the
// outbox, the argon2id hasher, the options cache, the JSON API and the pages on one mux behind
// the API's cross-origin protection) on a free port of 127.0.0.1. Every test uses a fake clock
// that it moves; tests without a browser use cheap hashing, the browser test the default cost.

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/app/apptest"
	"github.com/twofold-auth/twofold/internal/clock"
	"github.com/twofold-auth/twofold/internal/otp"
	"github.com/twofold-auth/twofold/internal/password"
	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/web"
)

// chosenPassword is what people choose at their first sign-in in these tests.
const chosenPassword = "violet tangerine orbit 1987"

type testApp struct {
	t      *testing.T
	store  store.Store
	svc    *account.Service
	clock  *clock.Fake
	outbox string
	url    string
}

type appConfig struct {
	params password.Params
	ssoURL string
	// keys, when set, is the pages' SecurityKeys (the app's own otherwise).
	keys web.SecurityKeys
}

func newApp(t *testing.T, c appConfig) *testApp {
	t.Helper()
	// A whole minute, so that a time a page shows to the minute does not depend on when the
	// test started.
	a := &testApp{t: t, clock: clock.NewFake(time.Now().Truncate(time.Minute))}
	tf := apptest.Serve(t, app.Config{Clock: a.clock, Hashing: c.params})
	a.store, a.svc, a.outbox, a.url = tf.Store, tf.Service, tf.Outbox, tf.URL()
	if c.ssoURL != "" || c.keys != nil {
		// Where the link leads is the pages' own setting: these pages are made with it.
		pages, err := web.New(web.Config{Service: a.svc, SSOURL: c.ssoURL, SecurityKeys: c.keys})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(pages)
		t.Cleanup(srv.Close)
		a.url = srv.URL
	}
	return a
}

// addUser makes an account as the command line does and answers its emailed temporary password.
func (a *testApp) addUser(name string, admin bool) string {
	a.t.Helper()
	n := account.NewUser{Username: name, Email: name + "@example.org", Name: strings.ToUpper(name[:1]) + name[1:] + " Doe"}
	if admin {
		n.Role = store.RoleAdmin
	}
	if _, _, err := a.svc.CreateUser(context.Background(), account.CLI, n); err != nil {
		a.t.Fatal(err)
	}
	return a.tempPassword(name + "@example.org")
}

var tempPasswordRE = regexp.MustCompile(`(?m)^Temporary password: (\S+)\r?$`)

// tempPassword reads the newest "New Password" email to addr in the outbox.
func (a *testApp) tempPassword(addr string) string {
	a.t.Helper()
	for _, m := range a.mails(addr, account.SubjectNewPassword) {
		if found := tempPasswordRE.FindStringSubmatch(m); found != nil {
			return found[1]
		}
	}
	a.t.Fatalf("no %q email to %s in the outbox", account.SubjectNewPassword, addr)
	return ""
}

// mails answers the bodies of the emails to addr with subject, newest first.
func (a *testApp) mails(addr, subject string) []string {
	a.t.Helper()
	entries, err := os.ReadDir(a.outbox)
	if err != nil {
		a.t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".eml") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(a.outbox, e.Name()))
		if err != nil {
			a.t.Fatal(err)
		}
		m := string(b)
		if strings.Contains(m, "\r\nTo: <"+addr+">\r\n") && strings.Contains(m, "\r\nSubject: "+subject+"\r\n") {
			out = append(out, m)
		}
	}
	slices.Reverse(out) // file names start with the time
	return out
}

func (a *testApp) option(key string) string {
	a.t.Helper()
	list, err := a.svc.Options(context.Background(), account.CLI, key)
	if err != nil {
		a.t.Fatal(err)
	}
	for _, o := range list {
		if o.Key == key {
			return o.Value
		}
	}
	a.t.Fatalf("no option %s", key)
	return ""
}

func (a *testApp) setOption(key, value string) {
	a.t.Helper()
	if _, err := a.svc.SetOption(context.Background(), account.CLI, key, value); err != nil {
		a.t.Fatal(err)
	}
}

// totp answers the code an authenticator app shows now for a secret, with the service's clock.
func (a *testApp) totp(secret string) string {
	a.t.Helper()
	key, err := otp.DecodeKey(secret)
	if err != nil {
		a.t.Fatal(err)
	}
	return otp.TOTP(key, a.clock.Now(), otp.Default)
}

// wrongCode answers a well-formed code that the service refuses: none of the steps it accepts.
func (a *testApp) wrongCode(secret string) string {
	a.t.Helper()
	key, err := otp.DecodeKey(secret)
	if err != nil {
		a.t.Fatal(err)
	}
	now := a.clock.Now()
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if c != otp.TOTP(key, now.Add(-30*time.Second), otp.Default) && c != otp.TOTP(key, now, otp.Default) &&
			c != otp.TOTP(key, now.Add(30*time.Second), otp.Default) {
			return c
		}
	}
	panic("unreachable")
}

// client is a browser without JavaScript: a cookie jar, same-origin form posts, and redirects
// left to the test.
type client struct {
	t    *testing.T
	app  *testApp
	http *http.Client
}

func (a *testApp) client() *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		a.t.Fatal(err)
	}
	return &client{t: a.t, app: a, http: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is an answer: status, headers and the parsed document.
type page struct {
	t      *testing.T
	status int
	header http.Header
	body   string
	doc    *node
}

func (p *page) location() string { return p.header.Get("Location") }

func (c *client) do(req *http.Request) *page {
	c.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	p := &page{t: c.t, status: resp.StatusCode, header: resp.Header, body: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		p.doc = parseHTML(c.t, p.body)
	}
	return p
}

func (c *client) get(path string) *page {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.app.url+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return c.do(req)
}

// post sends a form as a browser does from one of our pages.
func (c *client) post(path string, form url.Values) *page {
	c.t.Helper()
	return c.postWith(path, form, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": c.app.url})
}

func (c *client) postWith(path string, form url.Values, header map[string]string) *page {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.app.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return c.do(req)
}

// expect checks the status and, for a redirect, the start of its target.
func (p *page) expect(status int, location string) *page {
	p.t.Helper()
	if p.status != status {
		p.t.Fatalf("status %d, want %d; location %q; body:\n%s", p.status, status, p.location(), p.body)
	}
	if location != "" && !strings.HasPrefix(p.location(), location) {
		p.t.Fatalf("redirect to %q, want %q", p.location(), location)
	}
	return p
}

// byID answers the element with id, failing the test when there is none.
func (p *page) byID(id string) *node {
	p.t.Helper()
	n := p.doc.find(func(n *node) bool { return n.attr("id") == id })
	if n == nil {
		p.t.Fatalf("no element #%s in:\n%s", id, p.body)
	}
	return n
}

func (p *page) has(id string) bool {
	return p.doc.find(func(n *node) bool { return n.attr("id") == id }) != nil
}

// node is an element of a parsed page.
type node struct {
	tag      string
	attrs    map[string]string
	children []*node
	text     strings.Builder
	parent   *node
}

func (n *node) attr(name string) string { return n.attrs[name] }

func (n *node) hasAttr(name string) bool { _, ok := n.attrs[name]; return ok }

// find answers the first element, in document order, for which match is true.
func (n *node) find(match func(*node) bool) *node {
	for _, c := range n.children {
		if match(c) {
			return c
		}
		if f := c.find(match); f != nil {
			return f
		}
	}
	return nil
}

// all answers every element for which match is true, in document order.
func (n *node) all(match func(*node) bool) []*node {
	var out []*node
	for _, c := range n.children {
		if match(c) {
			out = append(out, c)
		}
		out = append(out, c.all(match)...)
	}
	return out
}

func tag(name string) func(*node) bool { return func(n *node) bool { return n.tag == name } }

// content answers the text of n and its descendants, with white space collapsed.
func (n *node) content() string {
	var b strings.Builder
	var walk func(*node)
	walk = func(n *node) {
		b.WriteString(n.text.String())
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// parseHTML reads our own pages with encoding/xml in its lenient HTML mode; they are regular
// enough for that, and a page it cannot read fails the test.
func parseHTML(t *testing.T, s string) *node {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	root := &node{tag: "#root", attrs: map[string]string{}}
	cur := root
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return root
		}
		if err != nil {
			t.Fatalf("page is not well formed: %v\n%s", err, s)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			n := &node{tag: strings.ToLower(tk.Name.Local), attrs: map[string]string{}, parent: cur}
			for _, at := range tk.Attr {
				name := at.Name.Local
				if at.Name.Space != "" {
					name = at.Name.Space + ":" + name
				}
				n.attrs[strings.ToLower(name)] = at.Value
			}
			cur.children = append(cur.children, n)
			cur = n
		case xml.EndElement:
			if cur.parent != nil {
				cur = cur.parent
			}
		case xml.CharData:
			cur.text.Write(tk)
		}
	}
}

// signInFully takes a new account through its first sign-in with the pages: temporary
// password, enrolment, backup codes, new password. It answers the TOTP secret and the codes.
func (c *client) signInFully(username, temp string) (secret string, codes []string) {
	c.t.Helper()
	c.post("/signin", url.Values{"username": {username}, "password": {temp}}).expect(303, "/signin/enroll")
	enroll := c.get("/signin/enroll").expect(200, "")
	secret = strings.ReplaceAll(enroll.byID("key").content(), " ", "")
	c.get("/signin/enroll/verify").expect(200, "")
	shown := c.post("/signin/enroll/verify", url.Values{"code": {c.app.totp(secret)}}).expect(200, "")
	for _, li := range shown.byID("codes").all(tag("code")) {
		codes = append(codes, li.content())
	}
	next := doneTarget(c.t, shown)
	if next != "/signin/password" {
		c.t.Fatalf("Done leads to %q, want /signin/password", next)
	}
	c.post("/signin/password", url.Values{"new_password": {chosenPassword}, "confirm_password": {chosenPassword}}).
		expect(303, "/profile")
	c.app.clock.Advance(30 * time.Second) // the next code is of a later step
	return secret, codes
}
