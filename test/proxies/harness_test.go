// Package proxies proves forward auth (SPEC §8) with real reverse proxies: Debian's nginx
// (auth_request) and Caddy (forward_auth), each run with the configuration docs/PROXIES.md
// gives, in front of an upstream that shows the headers it received, and Debian's chromium
// driven through them with oathtool as the authenticator app.
//
// Twofold runs in the test's process (package app, as `twofold serve` wires it) on a fake
// clock: the rules can then be given as access.Static, and every TOTP code is oathtool's at
// the fake clock's time, whose step the test moves on after each code, so that no test waits
// for a 30-second step or meets a code refused as used. Host names are mapped to 127.0.0.1:
// chromium by --host-resolver-rules, Go clients by their dialer. Without nginx, caddy,
// chromium or oathtool the tests skip, except in CI (env CI set), where that is a failure.
package proxies

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/access"
	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/app/apptest"
	"github.com/twofold-auth/twofold/internal/authz"
	"github.com/twofold-auth/twofold/internal/clock"
)

// hang bounds every wait on a process or a request: only a hang reaches it.
const hang = 2 * time.Minute

// domain is the cookie domain; every host of the tests is below it.
const domain = "example.test"

// need answers the path of a program the test talks to (apptest.Need); -short skips the tests
// that start proxies and a browser.
func need(t *testing.T, names ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts proxies and a browser")
	}
	return apptest.Need(t, names...)
}

// ---- Twofold

// twofold is Twofold serving on 127.0.0.1 with https://signin.example.test:PORT... as its base
// URL (http: the proxies' sites are http too), the cookie domain example.test and 127.0.0.1
// as its trusted proxy.
type twofold struct {
	*app.App
	clock *clock.Fake
	addr  string // 127.0.0.1:PORT
	base  string // http://signin.example.test:PORT
	logs  *apptest.Logs
}

// startTwofold serves Twofold with rules as forward auth's rules (nil: its own, from the
// database).
func startTwofold(t *testing.T, rules access.Source) *twofold {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	// 10 seconds into a step, so that a code is never read on a step's edge.
	start := time.Now().UTC().Truncate(30 * time.Second).Add(10 * time.Second)
	tf := &twofold{clock: clock.NewFake(start), addr: ln.Addr().String(),
		base: fmt.Sprintf("http://signin.%s:%d", domain, port), logs: &apptest.Logs{}}
	tf.App = apptest.Serve(t, app.Config{Listener: ln, BaseURL: tf.base, CookieDomain: domain, Clock: tf.clock,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Access: rules,
		Logger: slog.New(slog.NewTextHandler(tf.logs, nil))})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Twofold logged:\n%s", tf.logs.String())
		}
	})
	return tf
}

// staticRules are the rules of the tests: a bypass host, an application whose /admin is for
// the group admins only (anyone else is denied there), a two_factor host and a denied one;
// deny by default.
func staticRules(t *testing.T) *access.Static {
	t.Helper()
	rules := []authz.Rule{
		{Hosts: []string{"public." + domain}, Policy: authz.Bypass},
		{Hosts: []string{"app." + domain}, Path: "^/admin", Subjects: []string{"group:admins"}, Policy: authz.OneFactor},
		{Hosts: []string{"app." + domain}, Policy: authz.OneFactor},
		{Hosts: []string{"mfa." + domain}, Policy: authz.TwoFactor},
		{Hosts: []string{"deny." + domain}, Policy: authz.Deny},
	}
	for i := range rules {
		if err := rules[i].Compile(); err != nil {
			t.Fatal(err)
		}
	}
	return &access.Static{Rules: rules, Default: authz.Deny}
}

// code answers oathtool's TOTP code for secret at the fake clock's time, then moves the clock
// to the next step, so that the next code is a new one.
func (tf *twofold) code(t *testing.T, secret string) string {
	t.Helper()
	now := tf.clock.Now()
	out, err := exec.Command("oathtool", "--totp", "-b", "--now", now.UTC().Format("2006-01-02 15:04:05 UTC"), secret).Output()
	if err != nil {
		t.Fatalf("oathtool: %v", err)
	}
	tf.clock.Advance(30 * time.Second)
	return strings.TrimSpace(string(out))
}

// person is an account of the tests with its permanent password and TOTP key ("" when it
// did not enrol).
type person struct {
	name, email, fullName, password, secret string
	groups                                  []string
}

const chosenPassword = "marble kestrel window 2024"

// addPerson makes an account with the command line's actor, then takes it through a first
// sign-in through the service (enrolling when enrol, choosing chosenPassword), as its owner
// did once before the test: the test's sign-ins are then password and code.
func (tf *twofold) addPerson(t *testing.T, name, kind string, enrol bool, groups ...string) *person {
	t.Helper()
	ctx := context.Background()
	p := &person{name: name, email: name + "@" + domain, fullName: strings.ToUpper(name[:1]) + name[1:] + " Liddell",
		password: chosenPassword, groups: groups}
	_, temporary, err := tf.Service.CreateUser(ctx, account.CLI, account.NewUser{Username: name, Email: p.email,
		Name: p.fullName, Kind: kind})
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) > 0 {
		if _, err := tf.Service.ChangeGroups(ctx, account.CLI, name, account.GroupChange{Add: groups}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := tf.Service.SignIn(ctx, account.SignInRequest{Username: name, Password: temporary, Addr: "127.0.0.1"})
	for i := 0; err == nil && st.Next != account.StepDone; i++ {
		if i > 5 {
			t.Fatalf("first sign-in of %s does not finish: %s", name, st.Next)
		}
		switch {
		case (st.Next == account.StepEnroll || st.Next == account.StepEnrollOptional) && enrol:
			var e *account.Enrollment
			if e, err = tf.Service.Enroll(ctx, st.Token); err == nil {
				p.secret = e.Secret
				st, err = tf.Service.VerifyEnroll(ctx, st.Token, tf.code(t, e.Secret))
			}
		case st.Next == account.StepEnrollOptional:
			st, err = tf.Service.SkipEnroll(ctx, st.Token)
		case st.Next == account.StepChangePassword:
			st, err = tf.Service.ChangeTemporaryPassword(ctx, st.Token, chosenPassword)
		default:
			t.Fatalf("first sign-in of %s at %s", name, st.Next)
		}
	}
	if err != nil {
		t.Fatalf("first sign-in of %s: %v", name, err)
	}
	return p
}

// session signs p in through the service, password and code, and answers the session token
// (the cookie's value).
func (tf *twofold) session(t *testing.T, p *person) string {
	t.Helper()
	ctx := context.Background()
	st, err := tf.Service.SignIn(ctx, account.SignInRequest{Username: p.name, Password: p.password, Addr: "127.0.0.1"})
	if err == nil && st.Next == account.StepVerify {
		st, err = tf.Service.Verify(ctx, st.Token, tf.code(t, p.secret), "")
	}
	if err != nil || st.Next != account.StepDone {
		t.Fatalf("sign-in of %s: %v at %s", p.name, err, st.Next)
	}
	return st.Token
}

// ---- the upstream

// seen is what the upstream application received from the proxy.
type seen struct {
	Host   string `json:"host"`
	Path   string `json:"path"`
	Method string `json:"method"`
	User   string `json:"user"`
	Name   string `json:"name"`
	Email  string `json:"email"`
	Groups string `json:"groups"`
	// Remote lists every Remote-* header it got, by name.
	Remote []string `json:"remote"`
}

// upstream is an application behind a proxy: it shows, and keeps, the headers of each request.
type upstream struct {
	mu   sync.Mutex
	seen []seen
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := seen{Host: r.Host, Path: r.URL.RequestURI(), Method: r.Method, User: r.Header.Get("Remote-User"),
		Name: r.Header.Get("Remote-Name"), Email: r.Header.Get("Remote-Email"), Groups: r.Header.Get("Remote-Groups")}
	for k := range r.Header {
		if strings.HasPrefix(k, "Remote-") {
			s.Remote = append(s.Remote, k)
		}
	}
	slices.Sort(s.Remote)
	u.mu.Lock()
	u.seen = append(u.seen, s)
	u.mu.Unlock()
	b, _ := json.Marshal(s)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!doctype html><title>Upstream</title><pre id=\"seen\">%s</pre>\n", html.EscapeString(string(b)))
}

// last answers the newest request the upstream saw for host (without port) and path.
func (u *upstream) last(host, path string) (seen, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, s := range slices.Backward(u.seen) {
		h, _, _ := strings.Cut(s.Host, ":")
		if h == host && s.Path == path {
			return s, true
		}
	}
	return seen{}, false
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

func startUpstream(t *testing.T) (*upstream, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{}
	srv := &http.Server{Handler: u, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return u, ln.Addr().String()
}

// ---- the proxies, with docs/PROXIES.md's configurations

// docBlock answers the code block of docs/PROXIES.md after the line <!-- tested: name -->.
func docBlock(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "PROXIES.md"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- tested: " + regexp.QuoteMeta(name) + " -->\n```[a-z]*\n(.*?)```\n")
	m := re.FindStringSubmatch(string(raw))
	if m == nil {
		t.Fatalf("docs/PROXIES.md has no block marked <!-- tested: %s -->", name)
	}
	return m[1]
}

// replaceAll replaces each old of pairs by its new in s, failing when one is not there: the
// documentation changed under the test.
func replaceAll(t *testing.T, s string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("the documented configuration has no %q", pairs[i])
		}
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	return s
}

// proxy is a reverse proxy the test started, with the port every site is reached on.
type proxy struct {
	name string
	port int
	dir  string
	// redirectsAll: nginx answers every request without a session with a redirect (error_page
	// 401), where forward_auth tells browsers from other clients.
	redirectsAll bool
}

// url answers the address of path on host (a name below the domain, such as "app") through
// the proxy.
func (p *proxy) url(host, path string) string {
	return fmt.Sprintf("http://%s.%s:%d%s", host, domain, p.port, path)
}

// listening waits until the proxy's process accepts connections on its port.
func (p *proxy) listening(t *testing.T, proc *apptest.Process) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-proc.Done():
			log, _ := os.ReadFile(filepath.Join(p.dir, "error.log"))
			t.Fatalf("%s ended:\n%s", p.name, log)
		default:
		}
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.port), time.Second); err == nil {
			c.Close()
			return
		}
		if time.Since(start) > hang {
			t.Fatalf("%s does not listen on %d", p.name, p.port)
		}
	}
}

// nginxConfig is docs/PROXIES.md's nginx site with the test's port, upstream and Twofold.
func nginxConfig(t *testing.T, port int, upstream, twofold string) string {
	return replaceAll(t, docBlock(t, "nginx"),
		"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", port),
		"example.com", domain,
		"127.0.0.1:3000", upstream,
		"127.0.0.1:8080", twofold)
}

// startNginx runs Debian's nginx with the documented site, every file it writes inside the
// test's temporary folder.
func startNginx(t *testing.T, upstream, twofold string) *proxy {
	t.Helper()
	bin := need(t, "nginx")
	p := &proxy{name: "nginx", port: apptest.FreePort(t), dir: t.TempDir(), redirectsAll: true}
	p.listening(t, apptest.StartNginx(t, hang, bin, p.dir, nginxConfig(t, p.port, upstream, twofold)))
	return p
}

// caddyConfig is docs/PROXIES.md's Caddyfile with the test's port (any host), upstream and
// Twofold, without Caddy's admin endpoint and automatic HTTPS.
func caddyConfig(t *testing.T, port int, upstream, twofold string) string {
	site := replaceAll(t, docBlock(t, "caddy"),
		"app.example.com, public.example.com {", fmt.Sprintf("http://:%d {", port),
		"127.0.0.1:3000", upstream,
		"127.0.0.1:8080", twofold)
	return "{\n\tadmin off\n\tauto_https off\n}\n\n" + site
}

// startCaddy runs Debian's caddy with the documented site.
func startCaddy(t *testing.T, upstream, twofold string) *proxy {
	t.Helper()
	bin := need(t, "caddy")
	p := &proxy{name: "caddy", port: apptest.FreePort(t), dir: t.TempDir()}
	conf := filepath.Join(p.dir, "Caddyfile")
	if err := os.WriteFile(conf, []byte(caddyConfig(t, p.port, upstream, twofold)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "HOME="+p.dir, "XDG_DATA_HOME="+p.dir, "XDG_CONFIG_HOME="+p.dir)
	check := exec.Command(bin, "validate", "--config", conf, "--adapter", "caddyfile")
	check.Env = env
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("caddy validate: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = env
	p.listening(t, apptest.StartProcess(t, hang, "caddy", cmd))
	return p
}

// ---- Go clients

// client is an HTTP client that reaches every host through 127.0.0.1 (the names of the tests
// resolve nowhere else), keeps cookies, and does not follow redirects.
func client(t *testing.T, local string) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	return &http.Client{Jar: jar, Timeout: hang, Transport: apptest.Loopback(d),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// get sends method to url with header (pairs) and the session token ("" for none).
func get(t *testing.T, c *http.Client, method, url, token string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if token != "" {
		req.AddCookie(&http.Cookie{Name: "twofold_session", Value: token})
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}
