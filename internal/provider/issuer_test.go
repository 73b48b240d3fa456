package provider_test

import (
	"testing"

	"github.com/twofold-auth/twofold/internal/provider"
)

// TestCheckIssuer: the issuer is the base URL, so it has the base URL's shape, and it is https
// unless it stays on this machine (SPEC §7).
func TestCheckIssuer(t *testing.T) {
	for issuer, ok := range map[string]bool{
		"https://signin.example.org":          true,
		"https://signin.example.org/twofold":  true,
		"http://127.0.0.1:8080":               true,
		"http://localhost:8080":               true,
		"http://[::1]:8080":                   true,
		"http://signin.example.org":           false,
		"http://10.0.0.1:8080":                false,
		"https://user:pw@signin.example.org":  false,
		"https://signin.example.org/?tenant=": false,
		"https://signin.example.org/#top":     false,
		"signin.example.org":                  false,
		"ftp://signin.example.org":            false,
	} {
		if err := provider.CheckIssuer(issuer); (err == nil) != ok {
			t.Errorf("CheckIssuer(%q) = %v, want accepted %v", issuer, err, ok)
		}
	}
}
