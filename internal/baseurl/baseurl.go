// Package baseurl holds the rule for Twofold's base URL (--base-url): the links in mail, the
// cookies' Secure flag, the provider's issuer and security keys' relying party all come from
// it (SPEC §4, §5, §7, §9).
package baseurl

import (
	"fmt"
	"net/url"
	"strings"
)

// Check reports whether s can be the base URL: an absolute http or https URL with a host, and
// nothing a link could not be built on: no user info, query or fragment. A trailing slash is
// allowed.
func Check(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil, u.Scheme != "http" && u.Scheme != "https", u.Host == "", u.Opaque != "":
		return fmt.Errorf("--base-url %q is not an absolute http or https URL such as https://signin.example.org", s)
	case u.User != nil, u.RawQuery != "", u.ForceQuery, u.Fragment != "", u.RawFragment != "":
		return fmt.Errorf("--base-url %q has user info, a query or a fragment: give the scheme, host and path alone", s)
	}
	return nil
}

// Canonical answers s, which Check accepted, with its scheme and host in lower case: every use
// of the base URL reads them so ("https://" for the cookies' Secure flag, the issuer, security
// keys' relying party), and "HTTPS://" must mean https to all of them.
func Canonical(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	return u.String()
}
