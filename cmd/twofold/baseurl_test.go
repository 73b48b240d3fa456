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
