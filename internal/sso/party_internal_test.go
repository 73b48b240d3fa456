package sso

import (
	"errors"
	"testing"
)

// TestCheckParty: an ID token without a subject, one whose azp is another client, and one for
// several audiences that does not name us in azp are refused as unverifiable; a token for us
// alone, with or without azp, passes.
func TestCheckParty(t *testing.T) {
	c := &Client{cfg: Config{ClientID: "twofold"}}
	for _, tc := range []struct {
		name     string
		sub      string
		aud      []string
		claims   map[string]any
		accepted bool
	}{
		{"ours", "u-1", []string{"twofold"}, map[string]any{}, true},
		{"ours with azp", "u-1", []string{"twofold"}, map[string]any{"azp": "twofold"}, true},
		{"several audiences, azp ours", "u-1", []string{"twofold", "other"}, map[string]any{"azp": "twofold"}, true},
		{"no subject", "", []string{"twofold"}, map[string]any{}, false},
		{"azp another client", "u-1", []string{"twofold"}, map[string]any{"azp": "evil-client"}, false},
		{"several audiences, no azp", "u-1", []string{"twofold", "evil-client"}, map[string]any{}, false},
		{"several audiences, azp another", "u-1", []string{"twofold", "evil-client"}, map[string]any{"azp": "evil-client"}, false},
	} {
		err := c.checkParty(tc.sub, tc.aud, tc.claims)
		var se *Error
		if tc.accepted != (err == nil) || err != nil && !errors.As(err, &se) {
			t.Errorf("%s: %v, want accepted %v (refused as an *Error)", tc.name, err, tc.accepted)
		}
	}
}
