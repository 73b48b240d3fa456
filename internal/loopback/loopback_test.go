package loopback_test

import (
	"testing"

	"github.com/twofold-auth/twofold/internal/loopback"
)

func TestHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LocalHost": true, "127.0.0.1": true, "127.8.9.10": true, "::1": true,
		"": false, "localhost.example.org": false, "10.0.0.1": false, "::": false, "db.internal": false,
		"[::1]": false, // a URL's bracketed form: give Hostname()'s
	} {
		if got := loopback.Host(host); got != want {
			t.Errorf("Host(%q) = %v, want %v", host, got, want)
		}
	}
}
