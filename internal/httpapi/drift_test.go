package httpapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/otp"
)

// Clock drift (SPEC §10): the second of two codes from a phone 3 minutes fast answers
// invalid_code with a message that names the clock and how to fix it.
func TestClockDriftMessage(t *testing.T) {
	h := newHarness(t)
	pw := h.createUser(account.NewUser{Username: "pat"})
	pat := h.signIn("pat", pw)
	c := h.client()
	checkStep(t, c.post("/api/v1/signin", map[string]string{"username": "pat", "password": pat.pw}), "mfa_verify")
	fast := func() string {
		h.clock.Advance(30 * time.Second)
		return otp.TOTP(pat.key, h.clock.Now().Add(3*time.Minute), otp.Default)
	}
	e := c.post("/api/v1/signin/mfa/verify", map[string]string{"code": fast()}).wantError(t, 401, "invalid_code")
	if msg := asString(t, e, "message"); strings.Contains(msg, "clock") {
		t.Fatalf("first drifted code: %q", msg)
	}
	e = c.post("/api/v1/signin/mfa/verify", map[string]string{"code": fast()}).wantError(t, 401, "invalid_code")
	if msg := asString(t, e, "message"); !strings.Contains(msg, "clock seems about 3 minutes fast") ||
		!strings.Contains(msg, "automatic date and time") {
		t.Fatalf("second drifted code: %q", msg)
	}
	checkStep(t, c.post("/api/v1/signin/mfa/verify", map[string]string{"code": h.code(pat.key)}), "done")
}
