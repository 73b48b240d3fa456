package clientaddr_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/twofold-auth/twofold/internal/clientaddr"
)

func TestOf(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name, peer, xff, want string
	}{
		{"untrusted peer: the header is ignored", "203.0.113.7:5000", "198.51.100.1", "203.0.113.7"},
		{"trusted peer: the client it saw", "10.0.0.2:5000", "198.51.100.1", "198.51.100.1"},
		{"forged left part is skipped", "10.0.0.2:5000", "1.2.3.4, 198.51.100.1", "198.51.100.1"},
		{"chain of trusted proxies", "10.0.0.2:5000", "198.51.100.1, 10.0.0.9", "198.51.100.1"},
		{"trusted peer without the header", "10.0.0.2:5000", "", "10.0.0.2"},
		{"junk in the header", "10.0.0.2:5000", "not-an-address", "10.0.0.2"},
		{"IPv6 peer", "[::1]:5000", "2001:db8::5", "2001:db8::5"},
		{"IPv4-mapped peer", "[::ffff:203.0.113.7]:5000", "", "203.0.113.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/api/v1/signin", nil)
			r.RemoteAddr = tt.peer
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := clientaddr.Of(r, trusted); got != tt.want {
				t.Fatalf("Of = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestLimitKey: IPv4 addresses count alone; IPv6 addresses count by their /64, so that one
// host cannot spread its guesses over the addresses of its network.
func TestLimitKey(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.1":                 "192.0.2.1",
		"2001:db8:1:2::1":           "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ee:dd:c": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":           "2001:db8:1:3::/64",
		"fe80::1%eth0":              "fe80::/64",
		"::ffff:192.0.2.1":          "::ffff:192.0.2.1", // an IPv4 address, as Of answers it unmapped
		"not an address":            "not an address",
		"":                          "",
	} {
		if got := clientaddr.LimitKey(addr); got != want {
			t.Errorf("LimitKey(%q) = %q, want %q", addr, got, want)
		}
	}
}
