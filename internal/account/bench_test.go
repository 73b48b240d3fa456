package account_test

// Benchmarks of SPEC §6, through the service on a real SQLite file. The HTTP layer and the
// load generator measure the rest; docs/PERFORMANCE.md has the figures.

import (
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/password"
)

// BenchmarkSignInFull is a whole sign-in, password (default argon2id cost) and TOTP code.
// The clock moves one TOTP step per iteration, so no code is a replay.
func BenchmarkSignInFull(b *testing.B) {
	h := newHarness(b, withParams(password.DefaultParams))
	u := h.enrolledUser("bench")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.clock.Advance(30 * time.Second)
		st, err := h.svc.SignIn(h.ctx, account.SignInRequest{Username: "bench", Password: goodPassword, Addr: "192.0.2.1"})
		if err != nil || st.Next != account.StepVerify {
			b.Fatalf("SignIn: %v %q", err, st.Next)
		}
		st, err = h.svc.Verify(h.ctx, st.Token, h.codeAt(u.Key, 0), "")
		if err != nil || st.Next != account.StepDone {
			b.Fatalf("Verify: %v %q", err, st.Next)
		}
	}
}

// BenchmarkVerifyStep is the second-factor step alone, on sign-ins prepared outside the timer.
func BenchmarkVerifyStep(b *testing.B) {
	h := newHarness(b)
	u := h.enrolledUser("bench")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h.clock.Advance(30 * time.Second)
		st, err := h.svc.SignIn(h.ctx, account.SignInRequest{Username: "bench", Password: goodPassword, Addr: "192.0.2.1"})
		if err != nil {
			b.Fatal(err)
		}
		code := h.codeAt(u.Key, 0)
		b.StartTimer()
		st, err = h.svc.Verify(h.ctx, st.Token, code, "")
		if err != nil || st.Next != account.StepDone {
			b.Fatalf("Verify: %v %q", err, st.Next)
		}
	}
}
