package apps

import (
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twofold-auth/twofold/internal/app/apptest"
	"github.com/twofold-auth/twofold/internal/browsertest"
)

// oauth2-proxy is the application: a reverse proxy that signs people in with any OpenID
// Connect provider and tells the upstream behind it who they are.
const (
	oauth2ProxyModule  = "github.com/oauth2-proxy/oauth2-proxy/v7"
	oauth2ProxyVersion = "v7.15.6"
)

// chosenPassword is what the person chooses at the first sign-in.
const chosenPassword = "violet tangerine orbit 1987"

// TestOAuth2Proxy signs a person in to an upstream behind oauth2-proxy through Twofold, in a
// real browser: the proxy sends the browser to Twofold, the person meets Twofold's sign-in
// with enrolment (the internal policy is "required" and the account has no authenticator),
// backup codes, a new password and consent, and the proxy then lets the browser through with
// the identity Twofold vouched for. A second visit goes straight through: Twofold keeps both
// the session and the consent.
func TestOAuth2Proxy(t *testing.T) {
	long(t)
	chromium := apptest.Need(t, "chromium", "chromium-browser")
	apptest.Need(t, "oathtool")
	proxyBin := goInstall(t, oauth2ProxyModule, oauth2ProxyVersion, "oauth2-proxy")
	start := time.Now()

	tf := startTwofold(t)
	const (
		username = "alice"
		email    = "alice@example.org"
		fullName = "Alice Liddell"
	)
	temporary := tf.addUser(t, username, email, fullName)
	groups := []string{"staff", "wonderland"}
	tf.cli(t, "user", "groups", username, "--add", strings.Join(groups, ","))

	wiki := &upstream{}
	up := httptest.NewServer(wiki)
	t.Cleanup(up.Close)

	proxyAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(apptest.FreePort(t)))
	proxyURL := "http://" + proxyAddr
	clientID, clientSecret := tf.addClient(t, "Wonderland Wiki", proxyURL+"/oauth2/callback")
	cookieSecret := randomText(t, 32) // 32 bytes, base64url: an AES-256 key
	proxy := startProcess(t, "oauth2-proxy", proxyBin,
		"--provider=oidc",
		"--provider-display-name=Twofold",
		"--oidc-issuer-url="+tf.url,
		"--client-id="+clientID,
		"--client-secret="+clientSecret,
		"--code-challenge-method=S256",
		"--scope=openid profile email groups",
		"--redirect-url="+proxyURL+"/oauth2/callback",
		"--http-address="+proxyAddr,
		"--upstream="+up.URL+"/",
		"--cookie-secret="+cookieSecret,
		"--cookie-secure=false",
		// A CSRF cookie (with the PKCE verifier) per sign-in: otherwise the browser's request
		// for /favicon.ico, which starts a sign-in of its own beside the page's, replaces the
		// page's verifier, and Twofold rightly refuses the page's code.
		"--cookie-csrf-per-request=true",
		"--email-domain=*",
		"--pass-user-headers=true",
		"--pass-authorization-header=true",
		"--skip-provider-button=true",
	)
	// The proxy reads Twofold's discovery document as it starts: a wrong issuer, a discovery
	// it cannot use, would end it here.
	waitHTTP(t, proxy, proxyURL+"/ping")
	t.Logf("Twofold, oauth2-proxy and the upstream answer after %s", time.Since(start).Round(time.Millisecond))

	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Twofold logged:\n%s", strings.Join(tf.Lines(), "\n"))
		}
	})
	b := newTab(t, browsertest.Start(t, chromium))
	var sub string

	t.Run("first visit: sign-in, enrolment, consent", func(t *testing.T) {
		b.T = t
		b.Open(proxyURL + "/wiki/Rabbit_Hole?page=1")
		// The proxy sent the browser to Twofold, which asks for the password first.
		b.ExpectAt(tf.url, "/signin")
		if !slices.ContainsFunc(b.documents(), func(u string) bool { return strings.HasPrefix(u, tf.url+"/oidc/authorize?") }) {
			t.Errorf("the proxy did not go through Twofold's authorization endpoint")
		}
		b.shot("oauth2-proxy-01-signin")
		b.TypeIn("#username", username)
		b.TypeIn("#password", temporary)
		b.Press(`form[action="/signin"] button`)

		// Enrolment: the key from "Set up manually", Continue, oathtool's code, Verify.
		b.ExpectAt(tf.url, "/signin/enroll")
		b.Do(chromedp.Click(chromedp.CSS("#manual summary")))
		secret := strings.ReplaceAll(b.Text("#key"), " ", "")
		if secret == "" || b.Text("#key-type") != "Time based" || b.Text("#account-name") != username {
			t.Fatalf("Set up manually shows key %q, type %q, account %q", secret, b.Text("#key-type"), b.Text("#account-name"))
		}
		b.shot("oauth2-proxy-02-enroll")
		b.Press("#continue")
		if h := b.Text("h1"); h != "Verification Required" {
			t.Fatalf("after Continue: %s", b.Text("main"))
		}
		b.TypeIn("#code", totp(t, secret))
		if status := b.Press(`main form button[type="submit"]`); status != http.StatusOK {
			t.Fatalf("Verify answered %d: %s", status, b.Text("main"))
		}

		// The backup codes, shown once; "Done" moves on once they are saved.
		if codes := b.Texts("#codes code"); len(codes) == 0 {
			t.Fatalf("no backup codes after enrolment: %s", b.Text("main"))
		}
		b.shot("oauth2-proxy-03-backup-codes")
		if browsertest.Eval[bool](b.Tab, `!document.getElementById("saved").checked`) {
			b.Do(chromedp.Click(chromedp.CSS("#saved")))
		}
		b.Press("#done")

		// The temporary password is replaced.
		b.ExpectAt(tf.url, "/signin/password")
		b.TypeIn("#new_password", chosenPassword)
		b.TypeIn("#confirm_password", chosenPassword)
		b.Press(`form[action="/signin/password"] button`)
		b.Settle() // the finished sign-in goes on to the authorization it was for

		// Consent names the application and what it asks for.
		if h := b.Text("h1"); h != "Allow Wonderland Wiki?" {
			t.Fatalf("on %s, want the consent page; page says: %s", b.Location(), b.Text("main"))
		}
		scopes := b.Texts("#consent-scopes li")
		if len(scopes) == 0 {
			t.Errorf("the consent page lists nothing the application asks for")
		}
		if !strings.Contains(b.Text("main"), username) {
			t.Errorf("the consent page does not say who signs in: %s", b.Text("main"))
		}
		b.shot("oauth2-proxy-04-consent")
		b.documents()
		b.Press(`form[action="/oidc/consent"] button[value="allow"]`)

		// Allow leads back to the proxy's callback, which redeems the code and lets the
		// browser through to the page first asked for.
		b.Settle()
		b.ExpectAt(proxyURL, "/wiki/Rabbit_Hole")
		b.shot("oauth2-proxy-05-upstream")
		docs := b.documents()
		if !slices.ContainsFunc(docs, func(u string) bool { return strings.HasPrefix(u, proxyURL+"/oauth2/callback?") }) {
			t.Errorf("Allow did not lead through the proxy's callback: %q", docs)
		}
		got, ok := wiki.last("/wiki/Rabbit_Hole?page=1")
		if !ok {
			t.Fatalf("the upstream saw no request for the page first asked for; it saw %+v", wiki.all())
		}
		sub = got.User
		checkIdentity(t, tf.url, clientID, got, username, email, groups)
	})

	t.Run("second visit goes straight through", func(t *testing.T) {
		b.T = t
		if sub == "" {
			t.Skip("the first visit did not sign in")
		}
		// With the proxy's own cookie, the proxy alone lets the browser through.
		b.documents()
		b.Open(proxyURL + "/wiki/Cheshire_Cat")
		b.ExpectAt(proxyURL, "/wiki/Cheshire_Cat")
		if docs := b.documents(); slices.ContainsFunc(docs, func(u string) bool { return strings.HasPrefix(u, tf.url) }) {
			t.Errorf("with the proxy's session the browser still went to Twofold: %q", docs)
		}
		got, ok := wiki.last("/wiki/Cheshire_Cat")
		if !ok {
			t.Fatalf("the upstream saw no request for the page asked for; it saw %+v", wiki.all())
		}
		checkIdentity(t, tf.url, clientID, got, username, email, groups)

		// Without it (the proxy's sign-out ends only its own session), the proxy asks Twofold
		// again, and Twofold answers at once: its session and the consent are remembered, so
		// no page of Twofold is shown.
		b.Open(proxyURL + "/oauth2/sign_out?rd=/wiki/Queen_of_Hearts")
		b.ExpectAt(proxyURL, "/wiki/Queen_of_Hearts")
		docs := b.documents()
		for _, want := range []string{tf.url + "/oidc/authorize?", proxyURL + "/oauth2/callback?"} {
			if !slices.ContainsFunc(docs, func(u string) bool { return strings.HasPrefix(u, want) }) {
				t.Errorf("the second sign-in did not go through %s: %q", want, docs)
			}
		}
		if slices.ContainsFunc(docs, func(u string) bool { return strings.HasPrefix(u, tf.url+"/signin") }) {
			t.Errorf("Twofold asked for the password again: %q", docs)
		}
		got, ok = wiki.last("/wiki/Queen_of_Hearts")
		if !ok {
			t.Fatalf("the upstream saw no request for the page asked for; it saw %+v", wiki.all())
		}
		checkIdentity(t, tf.url, clientID, got, username, email, groups)
		if got.User != sub {
			t.Errorf("X-Forwarded-User (the subject) changed between sign-ins: %q, then %q", sub, got.User)
		}
	})
	t.Logf("oauth2-proxy test: %s after the binaries were built", time.Since(start).Round(time.Millisecond))
}

// checkIdentity fails t unless the upstream was told who signed in: the proxy passes the
// subject as X-Forwarded-User (a stable id, never the username: SPEC §7), the email, the
// preferred username, the groups when the account has any, and the ID token Twofold issued to
// the proxy for a sign-in that proved a second factor.
func checkIdentity(t *testing.T, issuer, clientID string, got seen, username, email string, groups []string) {
	t.Helper()
	if got.PreferredUsername != username {
		t.Errorf("X-Forwarded-Preferred-Username %q, want %q", got.PreferredUsername, username)
	}
	if got.Email != email {
		t.Errorf("X-Forwarded-Email %q, want %q", got.Email, email)
	}
	if got.User == "" || got.User == username || got.User == email {
		t.Errorf("X-Forwarded-User %q, want the account's subject (neither its username nor its email)", got.User)
	}
	var gotGroups []string
	if got.Groups != "" {
		gotGroups = strings.Split(got.Groups, ",")
	}
	slices.Sort(gotGroups)
	if !slices.Equal(gotGroups, groups) {
		t.Errorf("X-Forwarded-Groups %q, want %q", got.Groups, strings.Join(groups, ","))
	}
	id := got.IDToken
	if id == nil {
		t.Errorf("the upstream got no ID token in Authorization")
		return
	}
	if id.Issuer != issuer || !slices.Equal(id.Audience, []string{clientID}) || id.Subject != got.User {
		t.Errorf("ID token iss %q aud %q sub %q; want %q, [%s], %q", id.Issuer, id.Audience, id.Subject, issuer, clientID, got.User)
	}
	if id.PreferredUsername != username || id.Email != email || !id.EmailVerified {
		t.Errorf("ID token preferred_username %q email %q email_verified %v", id.PreferredUsername, id.Email, id.EmailVerified)
	}
	if !slices.Equal(id.AMR, []string{"pwd", "otp", "mfa"}) || id.ACR != "mfa" {
		t.Errorf("ID token amr %q acr %q; want [pwd otp mfa] and mfa after a password and a TOTP code", id.AMR, id.ACR)
	}
}
