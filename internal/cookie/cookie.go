// Package cookie reads and writes the session cookie, twofold_session, and a remembered
// device's, twofold_device, with the same attributes for the JSON API and the pages, so a
// sign-in begun on one can go on in the other.
package cookie

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Name is the session cookie.
const Name = "twofold_session"

// Attrs are the cookie's attributes that depend on how the server is reached.
type Attrs struct {
	// Secure is set when the base URL is https.
	Secure bool
	// Domain, when set (--cookie-domain), makes the session cookie cover that domain and every
	// host below it, so that one sign-in serves every application behind forward auth (SPEC §8);
	// without it the cookie is the base URL's host's alone. The device cookie is never the
	// domain's (SetDevice).
	Domain string
}

// Token answers the session token the request carries, "" when none.
func Token(r *http.Request) string {
	c, err := r.Cookie(Name)
	if err != nil {
		return ""
	}
	return c.Value
}

// Set gives the client the session token: HttpOnly, SameSite=Lax, Secure and Domain as a
// says. An empty token removes the cookie, and with a Domain also a cookie of the host alone
// that an earlier setting left, so that none outlives a sign-out.
func Set(w http.ResponseWriter, token string, a Attrs) {
	c := &http.Cookie{Name: Name, Value: token, Path: "/", HttpOnly: true, Secure: a.Secure,
		SameSite: http.SameSiteLaxMode, Domain: a.Domain}
	if token == "" {
		c.MaxAge = -1
		if a.Domain != "" {
			expire(w, *c, "")
		}
	}
	http.SetCookie(w, c)
}

// expire removes c's name and path at domain ("" the host alone): a browser keeps a cookie of
// the host alone apart from one of the same name for a domain, so the one that c replaces or
// removes leaves the other in place.
func expire(w http.ResponseWriter, c http.Cookie, domain string) {
	c.Value, c.MaxAge, c.Domain = "", -1, domain
	http.SetCookie(w, &c)
}

// DeviceName is the cookie of a remembered device (SPEC §10).
const DeviceName = "twofold_device"

// DeviceToken answers the remembered-device token the request carries, "" when none. A
// browser may send two: the host's and a domain-wide one that an earlier version set (or
// that another host under the cookie domain planted). The first is enough: the password step
// honours a token only when it is a live device of the account whose password was just
// proved, so a wrong pick costs a second factor and never skips one.
func DeviceToken(r *http.Request) string {
	c, err := r.Cookie(DeviceName)
	if err != nil {
		return ""
	}
	return c.Value
}

// SetDevice gives the client a remembered device's token for maxAge: HttpOnly, SameSite=Lax,
// Path=/ and Secure as a says, but never a's Domain. Only Twofold reads it, at the password
// step; a cookie of the domain would hand a token that skips the second factor to every
// application behind forward auth, and proxies pass it on to their backends. With a Domain it
// also removes the domain's device cookie that an earlier version set, so the browser keeps
// one. An empty token removes the cookie, the domain's one too.
func SetDevice(w http.ResponseWriter, token string, maxAge time.Duration, a Attrs) {
	c := &http.Cookie{Name: DeviceName, Value: token, Path: "/", HttpOnly: true, Secure: a.Secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(maxAge / time.Second)}
	if token == "" {
		c.MaxAge = -1
	}
	if a.Domain != "" {
		expire(w, *c, a.Domain)
	}
	http.SetCookie(w, c)
}

// CheckDomain checks a --cookie-domain value against the base URL: a host name (no port,
// scheme or IP address) that is the base URL's host or a domain above it, so that the pages
// can set the cookie at all. It answers the domain in lower case.
func CheckDomain(domain, baseURL string) (string, error) {
	d := strings.ToLower(strings.TrimPrefix(domain, "."))
	if d == "" || strings.ContainsAny(d, ":/@ ") || net.ParseIP(d) != nil || !strings.Contains(d, ".") && d != "localhost" {
		return "", fmt.Errorf("--cookie-domain: %q is not a domain such as example.com", domain)
	}
	u, err := url.Parse(baseURL)
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("--cookie-domain: the base URL %q has no host", baseURL)
	}
	if !Under(strings.ToLower(u.Hostname()), d) {
		return "", fmt.Errorf("--cookie-domain: the host of --base-url, %s, is not %s or below it", u.Hostname(), d)
	}
	return d, nil
}

// Under reports whether host is domain or a host below it (both in lower case): a.example.com
// is under example.com, example.com.evil.org and badexample.com are not.
func Under(host, domain string) bool {
	return domain != "" && (host == domain || strings.HasSuffix(host, "."+domain))
}
