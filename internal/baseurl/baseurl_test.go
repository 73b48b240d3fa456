package baseurl_test

import (
	"testing"

	"github.com/twofold-auth/twofold/internal/baseurl"
)

// TestCheck: the links in mail are built on --base-url, so it is an absolute http(s) URL with
// nothing after its path; anything else is refused at start.
func TestCheck(t *testing.T) {
	for _, ok := range []string{"https://signin.example.org", "https://signin.example.org/", "http://127.0.0.1:8080",
		"https://example.org/twofold", "http://[::1]:8080"} {
		if err := baseurl.Check(ok); err != nil {
			t.Errorf("Check(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "signin.example.org", "javascript:alert(1)//", "ftp://example.org",
		"http://x/?a=1", "https://example.org/#top", "https://user:pw@example.org", "https://example.org/?", "//example.org",
		"https:///path", "mailto:a@example.org"} {
		if err := baseurl.Check(bad); err == nil {
			t.Errorf("Check(%q) = nil, want an error", bad)
		}
	}
}

// TestCanonical: the scheme and host in lower case, the rest as given.
func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"HTTPS://Signin.Example.ORG":          "https://signin.example.org",
		"Https://signin.example.org:8443/Tf/": "https://signin.example.org:8443/Tf/",
		"http://127.0.0.1:8080":               "http://127.0.0.1:8080",
		"https://signin.example.org/":         "https://signin.example.org/",
	} {
		if got := baseurl.Canonical(in); got != want {
			t.Errorf("Canonical(%q) = %q, want %q", in, got, want)
		}
	}
}
