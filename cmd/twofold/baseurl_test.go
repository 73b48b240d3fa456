package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadBaseURLRefused: links in mail are built on --base-url (SPEC §4), so a value that is
// not an absolute http(s) URL, or carries a query or fragment, stops serve (a usage error,
// exit 2) and every other command (exit 1) with the reason, before anything is made.
func TestBadBaseURLRefused(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"signin.example.org", "javascript:alert(1)//", "http://x/?a=1", "https://signin.example.org/#top"} {
		for code, args := range map[int][]string{2: {"serve", "--addr", "127.0.0.1:0"}, 1: {"user", "list"}} {
			data := filepath.Join(t.TempDir(), "data")
			r := runCLI(t, "", append(args, "--data", data, "--base-url", bad)...)
			if r.code != code || !strings.Contains(r.stderr, "--base-url") {
				t.Errorf("%s --base-url %q: exit %d, stderr %q; want %d and the reason", args[0], bad, r.code, r.stderr, code)
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Errorf("%s --base-url %q made the data folder (%v)", args[0], bad, err)
			}
		}
	}
}

// TestSSORedirectOnAnotherOrigin: the SSO sign-in's cookie is set by the pages' host and must
// come back with the callback, so an --sso-redirect-url on another origin than --base-url
// stops serve with the reason (exit 2); one on the same origin starts.
func TestSSORedirectOnAnotherOrigin(t *testing.T) {
	t.Parallel()
	for _, redirect := range []string{"https://other.example.org/api/v1/sso/callback", "http://signin.example.org/api/v1/sso/callback",
		"https://signin.example.org:8443/api/v1/sso/callback"} {
		r := runCLI(t, "", "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--base-url", "https://signin.example.org",
			"--sso-issuer", "https://idp.example.org", "--sso-client-id", "twofold", "--sso-redirect-url", redirect)
		if r.code != 2 || !strings.Contains(r.stderr, "--sso-redirect-url") {
			t.Errorf("--sso-redirect-url %s: exit %d, stderr %q; want 2 and the reason", redirect, r.code, r.stderr)
		}
	}
}
