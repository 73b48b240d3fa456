package account_test

import (
	"strings"
	"testing"

	"github.com/twofold-auth/twofold/internal/account"
)

// TestReturnTarget checks the one rule of where a finished sign-in may go (SPEC §8): a path
// on Twofold, or with a cookie domain an address of the base URL's scheme on that domain or
// below it; anything else is dropped.
func TestReturnTarget(t *testing.T) {
	withDomain := account.New(account.Config{BaseURL: "https://signin.example.com", CookieDomain: "example.com"})
	plainHTTP := account.New(account.Config{BaseURL: "http://signin.example.test:8080", CookieDomain: "example.test"})
	noDomain := account.New(account.Config{BaseURL: "https://signin.example.com"})
	for _, c := range []struct {
		name   string
		svc    *account.Service
		target string
		keep   bool
	}{
		{"path", withDomain, "/profile", true},
		{"provider's continue", withDomain, "/oidc/continue?id=abc_DEF-123", true},
		{"path without a domain", noDomain, "/oidc/continue?id=abc", true},
		{"application", withDomain, "https://app.example.com/notes?id=3&x=%20y", true},
		{"the domain itself", withDomain, "https://example.com/", true},
		{"deep below", withDomain, "https://a.b.example.com:8443/x", true},
		{"upper case host", withDomain, "https://APP.Example.COM/", true},
		{"http base: http", plainHTTP, "http://app.example.test:8081/", true},
		{"empty", withDomain, "", false},
		{"scheme-relative", withDomain, "//evil.example/x", false},
		{"scheme-relative to the domain", withDomain, "//app.example.com/", false},
		{"another site", withDomain, "https://evil.example/", false},
		{"look-alike suffix", withDomain, "https://example.com.evil.org/", false},
		{"look-alike prefix", withDomain, "https://badexample.com/", false},
		{"userinfo", withDomain, "https://example.com@evil.org/", false},
		{"userinfo below", withDomain, "https://app.example.com:pw@evil.org/", false},
		{"fragment trick", withDomain, "https://evil.org#@app.example.com", false},
		{"backslash", withDomain, "https://evil.org\\@app.example.com/", false},
		{"backslash path", withDomain, "/\\evil.org", false},
		{"escaped scheme-relative", withDomain, "/%2F%2Fevil.example/phish", false},
		{"escaped scheme-relative, lower case", withDomain, "/%2f%2fevil.example/", false},
		{"half-escaped scheme-relative", withDomain, "/%2Fevil.example/", false},
		{"escaped backslash path", withDomain, "/%5Cevil.example", false},
		{"escaped slash inside a path", withDomain, "/oidc/continue%2Fx", true},
		{"javascript", withDomain, "javascript:alert(1)//app.example.com", false},
		{"data", withDomain, "data:text/html,hi", false},
		{"http on an https base", withDomain, "http://app.example.com/", false},
		{"https on an http base", plainHTTP, "https://app.example.test/", false},
		{"no cookie domain", noDomain, "https://signin.example.com/", false},
		{"escaped host", withDomain, "https://evil.org%2eapp.example.com/", false},
		{"IP literal", withDomain, "https://[::1]/", false},
		{"newline", withDomain, "/x\nLocation: https://evil.org", false},
		{"tab", withDomain, "https://app.example.com/\t", false},
		{"control", withDomain, "/x\x00", false},
		{"leading space", withDomain, " https://app.example.com/", false},
		{"upper-case scheme", withDomain, "HTTPS://app.example.com/", false},
		{"no slashes", withDomain, "https:app.example.com", false},
		{"too long", withDomain, "https://app.example.com/" + strings.Repeat("a", 2048), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := ""
			if c.keep {
				want = c.target
			}
			if got := c.svc.ReturnTarget(c.target); got != want {
				t.Errorf("ReturnTarget(%q) = %q, want %q", c.target, got, want)
			}
		})
	}
}
