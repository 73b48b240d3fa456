package proxies

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/browsertest"
	"github.com/twofold-auth/twofold/internal/options"
)

func TestNginx(t *testing.T) {
	need(t, "nginx")
	exercise(t, startNginx)
}

func TestCaddy(t *testing.T) {
	need(t, "caddy")
	exercise(t, startCaddy)
}

// exercise runs every case of forward auth through the proxy that start starts.
func exercise(t *testing.T, start func(t *testing.T, upstream, twofold string) *proxy) {
	chromium := need(t, "chromium", "chromium-browser")
	need(t, "oathtool")
	tf := startTwofold(t, staticRules(t))
	up, upAddr := startUpstream(t)
	px := start(t, upAddr, tf.addr)
	ctx := context.Background()

	alice := tf.addPerson(t, "alice", "internal", true, "admins", "staff")
	bob := tf.addPerson(t, "bob", "internal", true)
	erin := tf.addPerson(t, "erin", "external", false) // skipped the optional enrolment
	gina := tf.addPerson(t, "gina", "external", true)  // enrolled; signs in with a password alone below
	hc := client(t, "")

	t.Run("bypass needs no session, and a client's Remote-* headers never reach the application", func(t *testing.T) {
		res := get(t, hc, "GET", px.url("public", "/hello?x=1"), "", "Remote-User", "mallory", "Remote-Groups", "admins",
			"Remote-Email", "mallory@evil.example", "Remote-Name", "Mallory")
		s, ok := up.last("public."+domain, "/hello?x=1")
		// nginx drops the empty headers Twofold answers; Caddy passes them on empty.
		if res.StatusCode != 200 || !ok || s.User != "" || s.Name != "" || s.Email != "" || s.Groups != "" {
			t.Fatalf("bypass: %d, upstream saw %+v (%v)", res.StatusCode, s, ok)
		}
		token := tf.session(t, bob)
		res = get(t, hc, "GET", px.url("app", "/whoami"), token, "Remote-User", "mallory", "Remote-Groups", "admins")
		s, ok = up.last("app."+domain, "/whoami")
		if res.StatusCode != 200 || !ok || s.User != "bob" || s.Groups != "" || s.Email != bob.email {
			t.Fatalf("signed in as bob: %d, upstream saw %+v (%v)", res.StatusCode, s, ok)
		}
	})

	t.Run("deny, and a person outside the rule's group, get 403", func(t *testing.T) {
		token := tf.session(t, bob)
		n := up.count()
		for _, u := range []string{px.url("deny", "/"), px.url("app", "/admin/users"), px.url("other", "/")} {
			if res := get(t, hc, "GET", u, token, "Accept", "text/html"); res.StatusCode != 403 {
				t.Errorf("bob at %s: %d", u, res.StatusCode)
			}
		}
		if up.count() != n {
			t.Errorf("a denied request reached the application")
		}
	})

	t.Run("a path that climbs out of /admin only once decoded gets 403", func(t *testing.T) {
		// "%2e%2e" and "%2F" are no dot segment or slash to a server that routes on the path as
		// sent: it serves these from /admin, which bob may not see.
		token := tf.session(t, bob)
		n := up.count()
		for _, p := range []string{"/admin/users/%2e%2e/%2e%2e/notes", "/admin/users%2F..%2F..%2Fnotes"} {
			if res := get(t, hc, "GET", px.url("app", p), token); res.StatusCode != 403 {
				t.Errorf("bob at %s: %d, want 403", p, res.StatusCode)
			}
		}
		if up.count() != n {
			t.Errorf("a denied request reached the application")
		}
		if res := get(t, hc, "GET", px.url("app", "/notes"), token); res.StatusCode != 200 {
			t.Errorf("bob at /notes: %d, want 200", res.StatusCode)
		}
	})

	t.Run("a request without a session: a browser is redirected, other clients get 401, a POST 303", func(t *testing.T) {
		n := up.count()
		target := px.url("app", "/notes?id=3")
		signIn := tf.base + "/signin?rd=" + url.QueryEscape(target)
		res := get(t, hc, "GET", target, "", "Accept", "text/html,application/xhtml+xml")
		if res.StatusCode != http.StatusFound || res.Header.Get("Location") != signIn {
			t.Errorf("browser GET: %d to %q, want 302 to %q", res.StatusCode, res.Header.Get("Location"), signIn)
		}
		res = get(t, hc, "GET", target, "", "Accept", "application/json")
		if want := 401; px.redirectsAll {
			// nginx's error_page 401 redirects every client.
			if res.StatusCode != http.StatusFound || res.Header.Get("Location") != signIn {
				t.Errorf("API client through nginx: %d to %q", res.StatusCode, res.Header.Get("Location"))
			}
		} else if res.StatusCode != want {
			t.Errorf("API client: %d, want %d", res.StatusCode, want)
		}
		res = get(t, hc, "POST", target, "", "Accept", "text/html")
		want := http.StatusSeeOther
		if px.redirectsAll {
			want = http.StatusFound
		}
		if res.StatusCode != want || res.Header.Get("Location") != signIn {
			t.Errorf("browser POST: %d to %q, want %d to %q", res.StatusCode, res.Header.Get("Location"), want, signIn)
		}
		if up.count() != n {
			t.Errorf("a request without a session reached the application")
		}
	})

	t.Run("an untrusted peer calling the endpoints gets 403", func(t *testing.T) {
		other := client(t, "127.0.0.2") // Twofold trusts 127.0.0.1/32 alone
		for _, path := range []string{"/api/v1/authz/auth-request", "/api/v1/authz/forward-auth"} {
			res := get(t, other, "GET", "http://"+tf.addr+path, tf.session(t, alice),
				"X-Original-URL", px.url("app", "/"), "X-Forwarded-Proto", "http", "X-Forwarded-Host", "app."+domain,
				"X-Forwarded-Uri", "/")
			if res.StatusCode != 403 {
				t.Errorf("%s from 127.0.0.2: %d", path, res.StatusCode)
			}
		}
	})

	b := &browsertest.Tab{T: t, Ctx: startBrowser(t, chromium)}

	t.Run("browser: sign in with password and code, back at the application with the headers", func(t *testing.T) {
		b.T = t
		tf.signIn(b, px.url("app", "/notes?id=3"), alice)
		b.ExpectAt(tf.base, "/signin/verify")
		b.TypeIn("#code", tf.code(t, alice.secret))
		b.Press(`main form button[type="submit"]`)
		b.Settle()
		b.ExpectAt(px.url("app", ""), "/notes")
		s, ok := up.last("app."+domain, "/notes?id=3")
		if !ok || s.User != "alice" || s.Name != alice.fullName || s.Email != alice.email || s.Groups != "admins,staff" {
			t.Fatalf("the application saw %+v (%v)", s, ok)
		}
		var shown seen
		if err := json.Unmarshal([]byte(b.Text("#seen")), &shown); err != nil || shown.User != "alice" {
			t.Fatalf("the page shows %q (%v)", b.Text("#seen"), err)
		}
		// One sign-in serves every application under the cookie domain.
		b.Open(px.url("app", "/admin/users"))
		b.ExpectAt(px.url("app", ""), "/admin/users")
		if st := b.Status(px.url("deny", "/")); st != 403 {
			t.Errorf("deny host: %d", st)
		}
	})

	t.Run("browser: an rd to another site is not followed", func(t *testing.T) {
		b.T = t
		for _, rd := range []string{"https://evil.example/", "//evil.example/", "http://" + domain + ".evil.org/",
			"http://" + domain + "@evil.org/", "https://app." + domain + "/", "javascript:alert(1)"} {
			b.Open(tf.base + "/signin?rd=" + url.QueryEscape(rd))
			b.Settle()
			b.ExpectAt(tf.base, "/profile")
		}
		// The control: an application under the domain is followed.
		b.Open(tf.base + "/signin?rd=" + url.QueryEscape(px.url("public", "/back")))
		b.Settle()
		b.ExpectAt(px.url("public", ""), "/back")
	})

	t.Run("browser: sign-out at Twofold protects the application again", func(t *testing.T) {
		b.T = t
		b.Open(tf.base + "/profile")
		b.Press(`form[action="/signout"] button`)
		b.Open(px.url("app", "/notes?id=4"))
		b.ExpectAt(tf.base, "/signin")
	})

	t.Run("browser: two_factor takes an account that skipped enrolment through enrolment", func(t *testing.T) {
		b.T = t
		tf.signIn(b, px.url("app", "/erin"), erin)
		b.ExpectAt(tf.base, "/signin/enroll")
		b.Press("#skip")
		b.Settle()
		b.ExpectAt(px.url("app", ""), "/erin")
		if s, _ := up.last("app."+domain, "/erin"); s.User != "erin" {
			t.Fatalf("one_factor with a password-only session: the application saw %+v", s)
		}
		// two_factor: the password again, since enrolling needs it (not the session alone),
		// then enrolment, with no "Skip for now".
		tf.signIn(b, px.url("mfa", "/secret?a=1"), erin)
		b.ExpectAt(tf.base, "/signin/enroll")
		if browsertest.Eval[bool](b, `!!document.getElementById("skip")`) {
			t.Errorf("enrolment for a two_factor rule offers Skip for now")
		}
		b.Do(chromedp.Click(chromedp.CSS("#manual summary")))
		secret := strings.ReplaceAll(b.Text("#key"), " ", "")
		b.Press("#continue")
		b.TypeIn("#code", tf.code(t, secret))
		b.Press(`main form button[type="submit"]`)
		if codes := b.Texts("#codes code"); len(codes) == 0 {
			t.Fatalf("no backup codes after enrolment: %s", b.Text("main"))
		}
		if browsertest.Eval[bool](b, `!document.getElementById("saved").checked`) {
			b.Do(chromedp.Click(chromedp.CSS("#saved")))
		}
		b.Press("#done")
		b.Settle()
		b.ExpectAt(px.url("mfa", ""), "/secret")
		if s, _ := up.last("mfa."+domain, "/secret?a=1"); s.User != "erin" {
			t.Fatalf("two_factor after enrolment: the application saw %+v", s)
		}
		b.Open(tf.base + "/profile")
		b.Press(`form[action="/signout"] button`)
	})

	t.Run("browser: two_factor takes a password-only session through verification", func(t *testing.T) {
		b.T = t
		if _, err := tf.Service.SetOption(ctx, account.CLI, options.ExternalMFA, options.PolicyOff); err != nil {
			t.Fatal(err)
		}
		tf.signIn(b, px.url("app", "/gina"), gina)
		b.Settle()
		b.ExpectAt(px.url("app", ""), "/gina")
		b.Open(px.url("mfa", "/gina"))
		b.ExpectAt(tf.base, "/signin/verify")
		b.TypeIn("#code", tf.code(t, gina.secret))
		b.Press(`main form button[type="submit"]`)
		b.Settle()
		b.ExpectAt(px.url("mfa", ""), "/gina")
		if s, _ := up.last("mfa."+domain, "/gina"); s.User != "gina" {
			t.Fatalf("two_factor after verification: the application saw %+v", s)
		}
	})
}
