package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/twofold-auth/twofold/internal/access"
	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/app/apptest"
	"github.com/twofold-auth/twofold/internal/authz"
	"github.com/twofold-auth/twofold/internal/httpapi"
)

// fwdRules are the rules of the forward-auth tests: one host per policy, app.example.test/admin
// for the group admins alone (its subjects rule keeps everyone else out, with no deny rule
// after it), and deny by default.
func fwdRules(t *testing.T) *access.Static {
	t.Helper()
	rules := []authz.Rule{
		{Hosts: []string{"public.example.test"}, Policy: authz.Bypass},
		{Hosts: []string{"app.example.test"}, Path: "^/admin", Subjects: []string{"group:admins"}, Policy: authz.OneFactor},
		{Hosts: []string{"app.example.test"}, Policy: authz.OneFactor},
		{Hosts: []string{"mfa.example.test"}, Policy: authz.TwoFactor},
		{Hosts: []string{"deny.example.test"}, Policy: authz.Deny},
	}
	for i := range rules {
		if err := rules[i].Compile(); err != nil {
			t.Fatal(err)
		}
	}
	return &access.Static{Rules: rules, Default: authz.Deny}
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

// fwdAnswer is an endpoint's answer, redirects not followed.
type fwdAnswer struct {
	status int
	header http.Header
	body   map[string]any
}

// ask sends a proxy's question: path is one of the endpoints, header what the proxy sends,
// token the session cookie the browser sent ("" for none).
func ask(t *testing.T, h *harness, path string, header map[string]string, token string) fwdAnswer {
	t.Helper()
	req, err := http.NewRequest("GET", h.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if token != "" {
		req.AddCookie(&http.Cookie{Name: "twofold_session", Value: token})
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	a := fwdAnswer{status: res.StatusCode, header: res.Header}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("%s: %v: %s", path, err, raw)
		}
	}
	return a
}

func (a fwdAnswer) code() string {
	e, _ := a.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// forwarded is what Traefik or Caddy send about a request.
func forwarded(method, target string) map[string]string {
	u, err := url.Parse(target)
	if err != nil {
		panic(err)
	}
	return map[string]string{"X-Forwarded-Method": method, "X-Forwarded-Proto": u.Scheme,
		"X-Forwarded-Host": u.Host, "X-Forwarded-Uri": u.RequestURI()}
}

// original is what nginx sends about a request.
func original(method, target string) map[string]string {
	return map[string]string{"X-Original-Method": method, "X-Original-URL": target}
}

func with(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func signInURL(base, target string, mfa bool) string {
	u := base + "/signin?rd=" + url.QueryEscape(target)
	if mfa {
		u += "&mfa=required"
	}
	return u
}

// TestForwardAuthWithoutSession checks the answers to a request with no session: a browser
// is sent to sign in (302 for GET and HEAD, 303 otherwise), anything else gets 401 (with the
// sign-in in Location, for a client that can use it), nginx always 401 with it; a bypass host goes through without any Remote-* header; a
// deny rule and the default answer 403.
func TestForwardAuthWithoutSession(t *testing.T) {
	h := newHarness(t, harnessConfig{trusted: loopback, access: fwdRules(t), baseURL: "https://signin.example.test",
		cookieDomain: "example.test"})
	const fa, ar = "/api/v1/authz/forward-auth", "/api/v1/authz/auth-request"
	target := "https://app.example.test/notes?id=3&x=a b"
	html := "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	raw := "https://app.example.test/notes?id=3&x=a b" // as the proxy sends it
	cases := []struct {
		name, path string
		header     map[string]string
		status     int
		location   string
		code       string
	}{
		{"browser GET", fa, with(forwarded("GET", "https://app.example.test/notes?id=3"), "Accept", html), 302,
			signInURL("https://signin.example.test", "https://app.example.test/notes?id=3", false), ""},
		{"browser HEAD", fa, with(forwarded("HEAD", "https://app.example.test/"), "Accept", html), 302,
			signInURL("https://signin.example.test", "https://app.example.test/", false), ""},
		{"browser POST", fa, with(forwarded("POST", "https://app.example.test/notes"), "Accept", html), 303,
			signInURL("https://signin.example.test", "https://app.example.test/notes", false), ""},
		{"API client", fa, with(forwarded("GET", "https://app.example.test/notes"), "Accept", "application/json"), 401,
			signInURL("https://signin.example.test", "https://app.example.test/notes", false), "not_signed_in"},
		{"no Accept", fa, forwarded("GET", "https://app.example.test/notes"), 401,
			signInURL("https://signin.example.test", "https://app.example.test/notes", false), "not_signed_in"},
		{"nginx", ar, with(original("GET", raw), "Accept", html), 401, signInURL("https://signin.example.test", raw, false),
			"not_signed_in"},
		{"nginx POST", ar, original("POST", target), 401, signInURL("https://signin.example.test", target, false), "not_signed_in"},
		{"two_factor", fa, with(forwarded("GET", "https://mfa.example.test/"), "Accept", html), 302,
			signInURL("https://signin.example.test", "https://mfa.example.test/", true), ""},
		{"subjects", fa, with(forwarded("GET", "https://app.example.test/admin"), "Accept", html), 302,
			signInURL("https://signin.example.test", "https://app.example.test/admin", false), ""},
		{"bypass", fa, with(forwarded("GET", "https://public.example.test/x"), "Remote-User", "admin"), 200, "", ""},
		{"bypass nginx", ar, original("GET", "https://public.example.test/x"), 200, "", ""},
		{"deny", fa, with(forwarded("GET", "https://deny.example.test/"), "Accept", html), 403, "", "forbidden"},
		{"default deny", ar, original("GET", "https://other.example.test/"), 403, "", "forbidden"},
		{"junk cookie", ar, with(original("GET", "https://app.example.test/"), "Cookie", "twofold_session=junk"), 401,
			signInURL("https://signin.example.test", "https://app.example.test/", false), "not_signed_in"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := ask(t, h, c.path, c.header, "")
			if a.status != c.status || a.header.Get("Location") != c.location || a.code() != c.code {
				t.Fatalf("answer %d, Location %q, code %q; want %d, %q, %q", a.status, a.header.Get("Location"), a.code(),
					c.status, c.location, c.code)
			}
			for _, k := range []string{"Remote-User", "Remote-Name", "Remote-Email", "Remote-Groups"} {
				v, ok := a.header[k]
				switch {
				case c.status == 200 && (!ok || len(v) != 1 || v[0] != ""):
					// Empty, so that a proxy copying them overwrites what a client sent.
					t.Errorf("allowed without a session: %s is %q, want one empty value", k, v)
				case c.status != 200 && ok:
					t.Errorf("answer without a session carries %s: %q", k, v)
				}
			}
		})
	}
	// A denial is logged, without the cookie or the query.
	if !strings.Contains(h.logs.String(), "forward auth denied") || strings.Contains(h.logs.String(), "twofold_session") {
		t.Errorf("log of denials:\n%s", h.logs.String())
	}
}

// TestForwardAuthSignedIn checks the answers to a signed-in person: Remote-* headers when
// allowed (also on a bypass host), 403 outside a rule's group, and a password-only session is
// sent to prove a second factor for two_factor (mfa=required) but passes one_factor.
func TestForwardAuthSignedIn(t *testing.T) {
	// No cookie domain: the harness's clients reach the server as 127.0.0.1.
	h := newHarness(t, harnessConfig{trusted: loopback, access: fwdRules(t), baseURL: "http://signin.example.test"})
	ctx := context.Background()
	alicePW := h.createUser(account.NewUser{Username: "alice", Email: "alice@example.test", Name: "Alice Liddell"})
	if _, err := h.svc.ChangeGroups(ctx, account.CLI, "alice", account.GroupChange{Add: []string{"staff", "admins"}}); err != nil {
		t.Fatal(err)
	}
	bobPW := h.createUser(account.NewUser{Username: "bob", Email: "bob@example.test", Name: "Bob"})
	alice := h.signIn("alice", alicePW).c.cookie()
	bob := h.signIn("bob", bobPW).c.cookie()

	const fa, ar = "/api/v1/authz/forward-auth", "/api/v1/authz/auth-request"
	for _, path := range []string{fa, ar} {
		for _, target := range []string{"https://app.example.test/notes", "https://mfa.example.test/", "https://app.example.test/admin/x",
			"https://public.example.test/"} {
			hd := forwarded("GET", target)
			if path == ar {
				hd = original("GET", target)
			}
			a := ask(t, h, path, hd, alice)
			if a.status != 200 || a.header.Get("Remote-User") != "alice" || a.header.Get("Remote-Name") != "Alice Liddell" ||
				a.header.Get("Remote-Email") != "alice@example.test" || a.header.Get("Remote-Groups") != "admins,staff" {
				t.Errorf("%s %s for alice: %d %v", path, target, a.status, a.header)
			}
		}
	}
	if a := ask(t, h, ar, original("GET", "https://app.example.test/admin/x"), bob); a.status != 403 || a.code() != "forbidden" {
		t.Errorf("bob outside group admins: %d %v", a.status, a.body)
	}
	if a := ask(t, h, ar, original("GET", "https://app.example.test/notes"), bob); a.status != 200 || a.header.Get("Remote-Groups") != "" ||
		a.header.Get("Remote-User") != "bob" {
		t.Errorf("bob on one_factor: %d %v", a.status, a.header)
	}

	// A password-only session: internal accounts without MFA.
	h.setOption("internalMFA", "off")
	carol := h.signIn("carol", h.createUser(account.NewUser{Username: "carol", Email: "carol@example.test"})).c.cookie()
	if a := ask(t, h, ar, original("GET", "https://app.example.test/notes"), carol); a.status != 200 || a.header.Get("Remote-User") != "carol" {
		t.Errorf("password-only session on one_factor: %d %v", a.status, a.header)
	}
	want := signInURL("http://signin.example.test", "https://mfa.example.test/a?b=c", true)
	if a := ask(t, h, ar, original("GET", "https://mfa.example.test/a?b=c"), carol); a.status != 401 || a.header.Get("Location") != want {
		t.Errorf("password-only session on two_factor (nginx): %d %q", a.status, a.header.Get("Location"))
	}
	if a := ask(t, h, fa, with(forwarded("GET", "https://mfa.example.test/a?b=c"), "Accept", "text/html"), carol); a.status != 302 ||
		a.header.Get("Location") != want {
		t.Errorf("password-only session on two_factor (browser): %d %q", a.status, a.header.Get("Location"))
	}
	if a := ask(t, h, fa, forwarded("GET", "https://mfa.example.test/"), carol); a.status != 401 || a.code() != "not_signed_in" {
		t.Errorf("password-only session on two_factor (API): %d %v", a.status, a.body)
	}

	// Signed out: protected again.
	c := h.client()
	c.setCookie(alice)
	c.post("/api/v1/signout", nil)
	if a := ask(t, h, ar, original("GET", "https://app.example.test/notes"), alice); a.status != 401 {
		t.Errorf("after sign-out: %d", a.status)
	}

	// Every decision is counted by rule and outcome.
	m := h.client().get("/metrics")
	for _, line := range []string{`twofold_forward_auth_decisions_total{outcome="allow",rule="3"}`,
		`twofold_forward_auth_decisions_total{outcome="forbidden",rule="2"}`,
		`twofold_forward_auth_decisions_total{outcome="second_factor",rule="4"}`} {
		if !strings.Contains(string(m.raw), line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}

// TestForwardAuthTrailingDot: a host written with the trailing dot of a fully qualified name,
// which proxies route to the same site, gets the same answer as without it, through both
// endpoints, when the default (one_factor here) would let a password-only session through.
func TestForwardAuthTrailingDot(t *testing.T) {
	rules := fwdRules(t)
	rules.Default = authz.OneFactor
	h := newHarness(t, harnessConfig{trusted: loopback, access: rules, baseURL: "http://signin.example.test"})
	h.setOption("internalMFA", "off")
	carol := h.signIn("carol", h.createUser(account.NewUser{Username: "carol", Email: "carol@example.test"})).c.cookie()

	const fa, ar = "/api/v1/authz/forward-auth", "/api/v1/authz/auth-request"
	for _, c := range []struct {
		host, uri string
		status    int
		code      string
	}{
		{"app.example.test", "/admin/x", 403, "forbidden"},      // outside the subjects
		{"deny.example.test", "/", 403, "forbidden"},            // a deny rule
		{"mfa.example.test", "/", 401, "not_signed_in"},         // two_factor: prove a second factor
		{"APP.example.test:8443", "/admin/x", 403, "forbidden"}, // with a port and upper case
	} {
		for _, path := range []string{fa, ar} {
			for _, host := range []string{c.host, strings.Replace(c.host, "test", "test.", 1)} {
				target := "https://" + host + c.uri
				hd := forwarded("GET", target)
				if path == ar {
					hd = original("GET", target)
				}
				if a := ask(t, h, path, hd, carol); a.status != c.status || a.code() != c.code {
					t.Errorf("%s %s, password only: %d %q, want %d %q", path, target, a.status, a.code(), c.status, c.code)
				}
			}
		}
	}
}

// TestForwardAuthPathReadings: through both endpoints, a path whose escaped dots or slashes
// lead the decoded reading to a bypass rule while the application, which does not decode them,
// serves /admin is refused with 403; the plain paths are answered as their rules say.
func TestForwardAuthPathReadings(t *testing.T) {
	rules := []authz.Rule{
		{Hosts: []string{"app.example.test"}, Path: "^/static/", Policy: authz.Bypass},
		{Hosts: []string{"app.example.test"}, Path: "^/admin", Policy: authz.TwoFactor},
	}
	for i := range rules {
		if err := rules[i].Compile(); err != nil {
			t.Fatal(err)
		}
	}
	h := newHarness(t, harnessConfig{trusted: loopback, access: &access.Static{Rules: rules, Default: authz.Deny},
		baseURL: "https://signin.example.test", cookieDomain: "example.test"})
	const fa, ar = "/api/v1/authz/forward-auth", "/api/v1/authz/auth-request"
	for _, c := range []struct {
		uri    string
		status int
		code   string
	}{
		{"/admin/users/%2e%2e/%2e%2e/static/", 403, "forbidden"},
		{"/admin/users%2F..%2F..%2Fstatic/x", 403, "forbidden"},
		{"/static/app.js", 200, ""},
		{"/admin/users/../../static/", 200, ""}, // literal dots: every server reads /static/
		{"/admin/users", 401, "not_signed_in"},
	} {
		for _, path := range []string{fa, ar} {
			hd := map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https",
				"X-Forwarded-Host": "app.example.test", "X-Forwarded-Uri": c.uri}
			if path == ar {
				hd = original("GET", "https://app.example.test"+c.uri)
			}
			if a := ask(t, h, path, hd, ""); a.status != c.status || a.code() != c.code {
				t.Errorf("%s %s without a session: %d %q, want %d %q", path, c.uri, a.status, a.code(), c.status, c.code)
			}
		}
	}
}

// TestForwardAuthRefusals checks who may ask and what: a peer outside --trusted-proxies gets
// 403 whatever it sends, a server without rules denies by default, and a question without its
// headers, with a relative URL or with junk gets 400 and writes nothing.
func TestForwardAuthRefusals(t *testing.T) {
	const fa, ar = "/api/v1/authz/forward-auth", "/api/v1/authz/auth-request"
	untrusted := newHarness(t, harnessConfig{access: fwdRules(t), trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	for _, p := range []string{fa, ar} {
		if a := ask(t, untrusted, p, original("GET", "https://public.example.test/"), ""); a.status != 403 || a.code() != "forbidden" {
			t.Errorf("%s from an untrusted peer: %d %v", p, a.status, a.body)
		}
	}
	// The server's own rules: none yet, so accessDefaultPolicy (deny) decides.
	none := newHarness(t, harnessConfig{trusted: loopback})
	if a := ask(t, none, ar, original("GET", "https://public.example.test/"), ""); a.status != 403 || a.code() != "forbidden" {
		t.Errorf("without rules: %d %v", a.status, a.body)
	}

	h := newHarness(t, harnessConfig{trusted: loopback, access: fwdRules(t)})
	before := len(h.events())
	for _, c := range []struct {
		name, path string
		header     map[string]string
	}{
		{"no headers", fa, nil},
		{"no headers nginx", ar, nil},
		{"no host", fa, map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Uri": "/"}},
		{"no method", fa, map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.test", "X-Forwarded-Uri": "/"}},
		{"no method nginx", ar, map[string]string{"X-Original-URL": "https://app.example.test/"}},
		{"relative URL", ar, original("GET", "/notes")},
		{"scheme-relative URL", ar, original("GET", "//app.example.test/")},
		{"ftp", ar, original("GET", "ftp://app.example.test/")},
		{"proto ftp", fa, forwarded("GET", "ftp://app.example.test/")},
		{"garbage URL", ar, original("GET", "https://app.example.test:notaport/%zz")},
		{"garbage host", fa, map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.test/evil", "X-Forwarded-Uri": "/"}},
		{"leading dot", fa, map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": ".admin.example.test", "X-Forwarded-Uri": "/"}},
		{"empty label", fa, map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "admin..example.test", "X-Forwarded-Uri": "/"}},
		{"two trailing dots", fa, map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "admin.example.test..", "X-Forwarded-Uri": "/"}},
		{"a dot alone", fa, map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": ".:443", "X-Forwarded-Uri": "/"}},
		{"leading dot nginx", ar, original("GET", "https://.admin.example.test/")},
		{"empty label nginx", ar, original("GET", "https://admin..example.test/")},
		{"userinfo", ar, original("GET", "https://user@app.example.test/")},
		{"uri not a path", fa, map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.test", "X-Forwarded-Uri": "notes"}},
		{"bad method", ar, original("FROB", "https://app.example.test/")},
		{"fragment", fa, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "public.example.test", "X-Forwarded-Uri": "/#/../../admin"}},
		{"fragment nginx", ar, original("GET", "https://public.example.test/#/../../admin")},
		{"backslash", fa, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "public.example.test", "X-Forwarded-Uri": `/x\..\admin`}},
		{"encoded backslash nginx", ar, original("GET", "https://public.example.test/x%5C..%5Cadmin")},
		{"dots and a semicolon", fa, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.test", "X-Forwarded-Uri": "/notes/..;/admin"}},
		{"dots and a semicolon nginx", ar, original("GET", "https://app.example.test/notes/..;/admin")},
	} {
		if a := ask(t, h, c.path, c.header, ""); a.status != 400 || a.code() != "invalid_request" {
			t.Errorf("%s: %d %v", c.name, a.status, a.body)
		}
	}
	if after := len(h.events()); after != before {
		t.Errorf("bad questions wrote %d events", after-before)
	}
}

// TestForwardAuthWithoutSource: an API made without access rules answers forward auth's
// endpoints 404, saying why.
func TestForwardAuthWithoutSource(t *testing.T) {
	a := apptest.Open(t, app.Config{SecretKey: testKeyHex})
	mux := http.NewServeMux()
	httpapi.New(httpapi.Config{Service: a.Service, TrustedProxies: loopback}, mux)
	for _, path := range []string{"/api/v1/authz/forward-auth", "/api/v1/authz/auth-request"} {
		req := httptest.NewRequest("GET", path, nil)
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("X-Original-URL", "https://app.example.test/")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		if w.Code != 404 || !strings.Contains(w.Body.String(), "not set up") {
			t.Errorf("%s without rules: %d %s", path, w.Code, w.Body)
		}
	}
}

// TestForwardAuthUnfinishedSignIn: a sign-in that has not finished is not signed in for
// forward auth, and asking about it writes nothing, even when an option change left it nothing
// to do (the sign-in page finishes it).
func TestForwardAuthUnfinishedSignIn(t *testing.T) {
	h := newHarness(t, harnessConfig{trusted: loopback, access: fwdRules(t)})
	p := h.signIn("dave", h.createUser(account.NewUser{Username: "dave", Email: "dave@example.test"}))
	c := p.c
	if next := c.post("/api/v1/signin", map[string]string{"username": "dave", "password": p.pw}).ok(t, 200).str(t, "next"); next != "mfa_verify" {
		t.Fatalf("next %q", next)
	}
	h.setOption("internalMFA", "off") // nothing left to do for the sign-in
	token := c.cookie()
	if a := ask(t, h, "/api/v1/authz/auth-request", original("GET", "https://app.example.test/"), token); a.status != 401 {
		t.Fatalf("unfinished sign-in: %d", a.status)
	}
	sum := sha256.Sum256([]byte(token))
	s, err := h.store.Session(context.Background(), sum[:])
	if err != nil || s.Done {
		t.Fatalf("the sign-in after forward auth's question: %+v, %v", s, err)
	}
}
