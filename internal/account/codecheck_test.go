package account_test

import (
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/store"
)

// TestReusedCodeMessage checks that the one answer to a refused code (wrong and reused alike,
// SPEC §3) tells a person that a code works once and to wait for the next.
func TestReusedCodeMessage(t *testing.T) {
	h := newHarness(t)
	u := h.enrolledUser("rita")
	code := h.codeAt(u.Key, 0)
	_, err := h.svc.Verify(h.ctx, h.mustSignIn(u, account.StepVerify), code, "")
	mustNo(t, err)
	_, err = h.svc.Verify(h.ctx, h.mustSignIn(u, account.StepVerify), code, "")
	e := wantCode(t, err, errs.InvalidCode)
	for _, want := range []string{"wrong or was already used", "works once", "next code"} {
		if !strings.Contains(e.Message, want) {
			t.Errorf("reused code: %q does not say %q", e.Message, want)
		}
	}
	_, err = h.svc.Verify(h.ctx, h.mustSignIn(u, account.StepVerify), h.wrongCode(u.Key), "")
	if e2 := wantCode(t, err, errs.InvalidCode); e2.Message != e.Message {
		t.Errorf("wrong code %q, reused code %q: one answer for both", e2.Message, e.Message)
	}
	_, err = h.svc.Verify(h.ctx, h.mustSignIn(u, account.StepVerify), "", "aaaa-bbbb-cccc-dddd")
	if e3 := wantCode(t, err, errs.InvalidCode); !strings.Contains(e3.Message, "works once") {
		t.Errorf("wrong backup code: %q", e3.Message)
	}
}

// TestCodeCheckAudit checks that failed code checks are audited with their method and no code,
// and that a sign-in's event says which second factor it used.
func TestCodeCheckAudit(t *testing.T) {
	h := newHarness(t)
	u := h.enrolledUser("otto")
	if ev := h.events("otto", "signin"); len(ev) != 1 || ev[0].Detail != "password and totp (enrolment)" {
		t.Errorf("enrolment sign-in events %v", details(ev))
	}
	wrong := h.wrongCode(u.Key)
	tok := h.mustSignIn(u, account.StepVerify)
	_, err := h.svc.Verify(h.ctx, tok, wrong, "")
	wantCode(t, err, errs.InvalidCode)
	_, err = h.svc.Verify(h.ctx, tok, "", "aaaa-bbbb-cccc-dddd")
	wantCode(t, err, errs.InvalidCode)
	failed := h.events("otto", "mfa.code_failed")
	if len(failed) != 2 || !strings.HasPrefix(failed[0].Detail, "backup code") ||
		!strings.HasPrefix(failed[1].Detail, "totp") {
		t.Fatalf("failed checks audited as %v", details(failed))
	}
	for _, e := range failed {
		if strings.Contains(e.Detail, wrong) || strings.Contains(strings.ToLower(e.Detail), "aaaa") {
			t.Errorf("an audit detail holds the code: %q", e.Detail)
		}
	}

	_, err = h.svc.Verify(h.ctx, tok, h.codeAt(u.Key, 0), "")
	mustNo(t, err)
	h.clock.Advance(30 * time.Second)
	_, err = h.svc.Verify(h.ctx, h.mustSignIn(u, account.StepVerify), "", u.Codes[0])
	mustNo(t, err)
	ev := h.events("otto", "signin")
	if len(ev) != 3 || ev[0].Detail != "password and backup code" || ev[1].Detail != "password and totp" {
		t.Errorf("sign-in events %v", details(ev))
	}
}

func details(ev []*store.Event) []string {
	var out []string
	for _, e := range ev {
		out = append(out, e.Action+": "+e.Detail)
	}
	return out
}
