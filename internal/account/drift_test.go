package account_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/store"
)

// Clock drift (SPEC §10): two consecutive wrong codes of one offset tell the person that the
// phone's clock is off; nothing else does, and every one of them is refused and counted.

// driftedCode sends, at the Verification Required step of tok, the code that u's app shows on
// a phone whose clock is steps 30-second steps ahead (negative: behind), and answers the
// refusal. The clock then moves on one step, as a person waiting for the next code.
func (h *harness) driftedCode(u *testUser, tok string, steps int) *errs.Error {
	h.t.Helper()
	_, err := h.svc.Verify(h.ctx, tok, h.codeAt(u.Key, steps), "")
	h.clock.Advance(30 * time.Second)
	return wantCode(h.t, err, errs.InvalidCode)
}

func hinted(e *errs.Error) bool { return strings.Contains(e.Message, "clock") }

func TestClockDriftHint(t *testing.T) {
	for _, c := range []struct {
		name  string
		steps int
		words string
	}{
		{"3 minutes fast", 6, "about 3 minutes fast"},
		{"7 minutes slow", -14, "about 7 minutes slow"},
		{"10 minutes fast", 20, "about 10 minutes fast"},
		{"1 minute slow", -2, "about 1 minute slow"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			u := h.enrolledUser("dora")
			tok := h.mustSignIn(u, account.StepVerify)
			if e := h.driftedCode(u, tok, c.steps); hinted(e) {
				t.Fatalf("a single drifted code was told about the clock: %q", e.Message)
			}
			if n := len(h.events(u.Name, "mfa.clock_drift")); n != 0 {
				t.Fatalf("%d mfa.clock_drift events after one code, want 0", n)
			}
			e := h.driftedCode(u, tok, c.steps)
			if !strings.Contains(e.Message, "seems "+c.words) || !strings.Contains(e.Message, "automatic date and time") {
				t.Fatalf("second drifted code: %q; want the clock %s and how to fix it", e.Message, c.words)
			}
			ev := h.events(u.Name, "mfa.clock_drift")
			if len(ev) != 1 || !strings.Contains(ev[0].Detail, c.words) || !strings.Contains(ev[0].Detail, fmt.Sprintf("%+d steps", c.steps)) {
				t.Fatalf("mfa.clock_drift events %+v; want one naming %s", ev, c.words)
			}
			// Each was refused and counted as any wrong code.
			if got := h.storeUser(u.Name).MFAFailures; got != 2 {
				t.Errorf("MFAFailures = %d, want 2", got)
			}
			if got := len(h.events(u.Name, "mfa.code_failed")); got != 2 {
				t.Errorf("%d mfa.code_failed events, want 2", got)
			}
			// A right code still works, and its success forgets the offset.
			st, err := h.svc.Verify(h.ctx, tok, h.codeAt(u.Key, 0), "")
			if err != nil || st.Next != account.StepDone {
				t.Fatalf("right code after the hint: %+v, %v", st, err)
			}
			if _, err := h.db.CodeDrift(h.ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("CodeDrift after a success = %v, want ErrNotFound", err)
			}
		})
	}
}

// A drift of one step either way is the same drift (the phone's clock sits near a step's
// boundary); the hint names the latest. More than one step either way is another offset. One
// step back with another code needs two steps between them: one step later, the offset one
// less is the same code again (TestClockDriftSameCodeTwice).
func TestClockDriftWithinOneStep(t *testing.T) {
	h := newHarness(t)
	u := h.enrolledUser("dora")
	tok := h.mustSignIn(u, account.StepVerify)
	h.driftedCode(u, tok, 6)
	if e := h.driftedCode(u, tok, 7); !strings.Contains(e.Message, "about 4 minutes fast") {
		t.Fatalf("offsets 6 then 7: %q, want the hint", e.Message)
	}
	if e := h.driftedCode(u, tok, 4); hinted(e) {
		t.Fatalf("offsets 7 then 4: %q, want no hint", e.Message)
	}
	if e := h.driftedCode(u, tok, 10); hinted(e) {
		t.Fatalf("offsets 4 then 10: %q, want no hint", e.Message)
	}
	// A success starts over (the fifth failure would lock); one step back is the same drift.
	if _, err := h.svc.Verify(h.ctx, tok, h.codeAt(u.Key, 0), ""); err != nil {
		t.Fatalf("right code: %v", err)
	}
	h.clock.Advance(30 * time.Second)
	tok = h.mustSignIn(u, account.StepVerify)
	h.driftedCode(u, tok, -9)
	h.clock.Advance(30 * time.Second)
	if e := h.driftedCode(u, tok, -10); !strings.Contains(e.Message, "about 5 minutes slow") {
		t.Fatalf("offsets -9 then -10: %q, want the hint", e.Message)
	}
	h.driftedCode(u, tok, 9)
	h.clock.Advance(30 * time.Second)
	if e := h.driftedCode(u, tok, 8); !strings.Contains(e.Message, "about 4 minutes fast") {
		t.Fatalf("offsets 9 then 8: %q, want the hint", e.Message)
	}
}

func TestClockDriftNoHint(t *testing.T) {
	cases := []struct {
		name string
		send func(h *harness, u *testUser, tok string) *errs.Error // answers the last refusal
	}{
		{"11 minutes fast", func(h *harness, u *testUser, tok string) *errs.Error {
			h.driftedCode(u, tok, 22)
			return h.driftedCode(u, tok, 22)
		}},
		{"11 minutes slow", func(h *harness, u *testUser, tok string) *errs.Error {
			h.driftedCode(u, tok, -22)
			return h.driftedCode(u, tok, -22)
		}},
		{"drifted then random", func(h *harness, u *testUser, tok string) *errs.Error {
			h.driftedCode(u, tok, 6)
			_, err := h.svc.Verify(h.ctx, tok, h.wrongCode(u.Key), "")
			if e := wantCode(h.t, err, errs.InvalidCode); hinted(e) {
				h.t.Fatalf("random code after a drifted one: %q", e.Message)
			}
			return h.driftedCode(u, tok, 6) // the failure before it had no offset
		}},
		{"drifted, wrong backup code, drifted", func(h *harness, u *testUser, tok string) *errs.Error {
			h.driftedCode(u, tok, -14)
			_, err := h.svc.Verify(h.ctx, tok, "", "AAAA-AAAA-AAAA-AAAA")
			if e := wantCode(h.t, err, errs.InvalidCode); hinted(e) {
				h.t.Fatalf("wrong backup code: %q", e.Message)
			}
			return h.driftedCode(u, tok, -14)
		}},
		{"drifted, success, drifted", func(h *harness, u *testUser, tok string) *errs.Error {
			h.driftedCode(u, tok, 6)
			if _, err := h.svc.Verify(h.ctx, tok, h.codeAt(u.Key, 0), ""); err != nil {
				h.t.Fatalf("right code: %v", err)
			}
			h.clock.Advance(30 * time.Second)
			return h.driftedCode(u, h.mustSignIn(u, account.StepVerify), 6)
		}},
		{"drifted, unlock, drifted", func(h *harness, u *testUser, tok string) *errs.Error {
			h.driftedCode(u, tok, 6)
			if _, err := h.svc.Unlock(h.ctx, account.CLI, u.Name); err != nil {
				h.t.Fatalf("Unlock: %v", err)
			}
			return h.driftedCode(u, tok, 6) // the first failure since the unlock
		}},
		{"drifted, kept without its step, drifted", func(h *harness, u *testUser, tok string) *errs.Error {
			h.driftedCode(u, tok, 6)
			d, err := h.db.CodeDrift(h.ctx, u.ID)
			if err != nil || d.Step == 0 {
				h.t.Fatalf("CodeDrift after a drifted code = %+v, %v; want its step", d, err)
			}
			d.Step = 0 // as a row kept before steps were
			if err := h.db.SetCodeDrift(h.ctx, u.ID, d); err != nil {
				h.t.Fatal(err)
			}
			return h.driftedCode(u, tok, 6)
		}},
		{"drifted, unlock, wrong backup code, drifted", func(h *harness, u *testUser, tok string) *errs.Error {
			h.driftedCode(u, tok, 6)
			if _, err := h.svc.Unlock(h.ctx, account.CLI, u.Name); err != nil {
				h.t.Fatalf("Unlock: %v", err)
			}
			_, err := h.svc.Verify(h.ctx, tok, "", "AAAA-AAAA-AAAA-AAAA")
			wantCode(h.t, err, errs.InvalidCode)
			return h.driftedCode(u, tok, 6) // the second failure since the unlock, after a backup code
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			u := h.enrolledUser("dora")
			tok := h.mustSignIn(u, account.StepVerify)
			if e := c.send(h, u, tok); hinted(e) {
				t.Fatalf("told about the clock: %q", e.Message)
			}
			if ev := h.events(u.Name, "mfa.clock_drift"); len(ev) != 0 {
				t.Fatalf("mfa.clock_drift events %+v, want none", ev)
			}
		})
	}
}

// The lock counts every drifted code as any wrong code: the fifth locks, hint or not.
func TestClockDriftStillLocks(t *testing.T) {
	h := newHarness(t)
	u := h.enrolledUser("dora")
	tok := h.mustSignIn(u, account.StepVerify)
	for i := 1; i <= 4; i++ {
		if e := h.driftedCode(u, tok, 6); hinted(e) != (i > 1) {
			t.Fatalf("drifted code %d: %q", i, e.Message)
		}
		if got := h.storeUser(u.Name).MFAFailures; got != i {
			t.Fatalf("after drifted code %d: MFAFailures = %d", i, got)
		}
	}
	_, err := h.svc.Verify(h.ctx, tok, h.codeAt(u.Key, 6), "")
	wantCode(t, err, errs.Locked)
	if got := h.storeUser(u.Name); got.MFAFailures != 5 || got.MFALockedUntil.IsZero() {
		t.Fatalf("after the fifth: failures %d, locked until %v; want 5 and a lock", got.MFAFailures, got.MFALockedUntil)
	}
	if n := len(h.events(u.Name, "mfa.locked")); n != 1 {
		t.Errorf("%d mfa.locked events, want 1", n)
	}
}

// Random codes over several accounts: none is ever told about the clock or accepted, and
// neither is a real code of any step 2 to 20 steps away. Every one is counted; an unlock
// after every fourth keeps the accounts short of a lock.
func TestClockDriftRandomGuesses(t *testing.T) {
	h := newHarness(t)
	rng := rand.New(rand.NewPCG(13, 10))
	for a := 0; a < 6; a++ {
		u := h.enrolledUser(fmt.Sprintf("target%d", a))
		tok := h.mustSignIn(u, account.StepVerify)
		window := map[string]bool{}
		for i := -1; i <= 1; i++ {
			window[h.codeAt(u.Key, i)] = true
		}
		send := func(code string) {
			t.Helper()
			_, err := h.svc.Verify(h.ctx, tok, code, "")
			if e := wantCode(t, err, errs.InvalidCode); hinted(e) {
				t.Fatalf("%s: code %s told about the clock: %q", u.Name, code, e.Message)
			}
		}
		sent := 0
		for n := 0; n < 60; n++ {
			code := fmt.Sprintf("%06d", rng.IntN(1_000_000))
			if window[code] { // a right code, about once in 333,000
				continue
			}
			send(code)
			if sent++; sent%4 == 0 {
				if _, err := h.svc.Unlock(h.ctx, account.CLI, u.Name); err != nil {
					t.Fatal(err)
				}
			}
		}
		// The codes of far steps are wrong codes too, whatever the order they come in.
		for _, off := range []int{2, -2, 20, -20, 10, -10, 3, -3} {
			send(h.codeAt(u.Key, off))
			if _, err := h.svc.Unlock(h.ctx, account.CLI, u.Name); err != nil {
				t.Fatal(err)
			}
		}
		if got := len(h.events(u.Name, "mfa.code_failed")); got != sent+8 {
			t.Errorf("%s: %d mfa.code_failed events, want %d", u.Name, got, sent+8)
		}
		if ev := h.events(u.Name, "mfa.clock_drift"); len(ev) != 0 {
			t.Errorf("%s: mfa.clock_drift events %+v, want none", u.Name, ev)
		}
		if h.state(tok) != account.StepVerify {
			t.Errorf("%s: the sign-in moved on to %s", u.Name, h.state(tok))
		}
	}
}

// The hint needs two different codes, of two different steps: one code sent twice matches the
// same step both times, whether the clock moved on between them (the offset then one step
// less) or not, and tells nothing, however far that step is. Otherwise a guesser who hit the
// code of a far step would learn, from sending it again, when it will be accepted.
func TestClockDriftSameCodeTwice(t *testing.T) {
	for _, c := range []struct {
		name  string
		steps int
		wait  time.Duration // between the two
	}{
		{"3 minutes fast, same step", 6, 0},
		{"3 minutes fast, next step", 6, 30 * time.Second},
		{"7 minutes slow, same step", -14, 0},
		{"7 minutes slow, next step", -14, 30 * time.Second},
		{"10 minutes fast, next step", 20, 30 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			u := h.enrolledUser("dora")
			tok := h.mustSignIn(u, account.StepVerify)
			code := h.codeAt(u.Key, c.steps)
			for i := 1; i <= 2; i++ {
				_, err := h.svc.Verify(h.ctx, tok, code, "")
				if e := wantCode(t, err, errs.InvalidCode); hinted(e) {
					t.Fatalf("code of step now%+d sent %d times: told about the clock: %q", c.steps, i, e.Message)
				}
				h.clock.Advance(c.wait)
			}
			if ev := h.events(u.Name, "mfa.clock_drift"); len(ev) != 0 {
				t.Fatalf("mfa.clock_drift events %+v, want none", ev)
			}
			if got := h.storeUser(u.Name).MFAFailures; got != 2 {
				t.Errorf("MFAFailures = %d, want 2", got)
			}
			// A third code, of the next step and so another code, pairs with the one before it.
			h.clock.Advance(30*time.Second - c.wait)
			e := h.driftedCode(u, tok, c.steps)
			if !hinted(e) {
				t.Fatalf("another code of the same offset after the repeated one: %q, want the hint", e.Message)
			}
		})
	}
}

// A phone 3 minutes fast, its current code at two real steps one after the other: two codes,
// two steps, one offset, and the hint.
func TestClockDriftTwoCodesOfOneOffset(t *testing.T) {
	h := newHarness(t)
	u := h.enrolledUser("dora")
	tok := h.mustSignIn(u, account.StepVerify)
	first := h.codeAt(u.Key, 6)
	if e := h.driftedCode(u, tok, 6); hinted(e) {
		t.Fatalf("first code: %q", e.Message)
	}
	if h.codeAt(u.Key, 6) == first {
		t.Fatal("the phone shows the same code a step later")
	}
	if e := h.driftedCode(u, tok, 6); !strings.Contains(e.Message, "seems about 3 minutes fast") {
		t.Fatalf("second code: %q, want the hint", e.Message)
	}
	if ev := h.events(u.Name, "mfa.clock_drift"); len(ev) != 1 || !strings.Contains(ev[0].Detail, "+6 steps") {
		t.Fatalf("mfa.clock_drift events %+v, want one of +6 steps", ev)
	}
}
