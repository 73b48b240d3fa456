package account_test

// SPEC §5 "text from people is text": every path that stores a name or an email refuses (or,
// for the identity provider's claims, drops) control characters and bidirectional overrides.

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/options"
)

// hostile are texts that would attack a terminal or mislead a reader.
var hostile = []struct{ name, text string }{
	{"escape sequence", "Eve\x1b]0;pwned\x07\x1b[2J"},
	{"tab", "Eve\tAdmin"},
	{"delete", "Eve\x7f"},
	{"C1 control sequence introducer", "Eve\u009b2J"},
	{"C1 next line", "Eve\u0085Admin"},
	{"right-to-left override", "Eve\u202Etxt.exe"},
	{"first-strong isolate", "Eve\u2068x"},
	{"line separator", "Eve\u2028Admin"},
	{"invalid UTF-8", "Eve\xff"},
}

func TestCreateUserRefusesControlCharacters(t *testing.T) {
	h := newHarness(t)
	for _, tc := range hostile {
		for _, field := range []string{"name", "email"} {
			n := account.NewUser{Username: "eve", Email: "eve@example.com", Name: "Eve"}
			if field == "name" {
				n.Name = tc.text
			} else {
				n.Email = strings.Replace(tc.text, "Eve", "eve", 1) + "@example.com"
			}
			t.Run(field+" with "+tc.name, func(t *testing.T) {
				_, _, err := h.svc.CreateUser(h.ctx, account.CLI, n)
				e := wantCode(t, err, errs.Invalid)
				if !strings.Contains(e.Message, "The "+field) || !strings.Contains(e.Message, "control characters") {
					t.Fatalf("message %q does not say the rule for the %s", e.Message, field)
				}
			})
		}
	}
	if n, _ := h.db.CountUsers(h.ctx, ""); n != 0 {
		t.Fatalf("%d accounts made by refused requests", n)
	}
	if len(h.mail.all()) != 0 || len(h.events("", "user.created")) != 0 {
		t.Fatal("refused requests sent mail or were audited")
	}
	// Text that merely looks unusual is still welcome.
	for i, name := range []string{"Zoë O'Brien-Łukasiewicz", "محمد\u200fعلي", "李小龍", "Anne\u200dMarie"} {
		if _, _, err := h.svc.CreateUser(h.ctx, account.CLI, account.NewUser{Username: fmt.Sprintf("ok%d", i),
			Email: "ok@example.com", Name: name}); err != nil {
			t.Errorf("name %q refused: %v", name, err)
		}
	}
}

// TestSSOClaimsLoseControlCharacters: the identity provider's name claim is its users' own
// text; a control character in it is dropped (the sign-in goes on, the name is stored clean),
// and an email claim that is not clean text is not kept.
func TestSSOClaimsLoseControlCharacters(t *testing.T) {
	h := newHarness(t)
	h.setOption(options.SSOCreateAccounts, "yes")
	for i, tc := range hostile {
		username := "sso" + string(rune('a'+i))
		step, err := h.svc.SignInSSO(h.ctx, account.SSOSignInRequest{Identity: account.SSOIdentity{
			Username: username, Claim: "preferred_username", Name: tc.text,
			Email: strings.Replace(tc.text, "Eve", "eve", 1) + "@example.com", Issuer: "https://idp.example.org", Subject: "s" + username}})
		if err != nil || step.Next != account.StepDone {
			t.Fatalf("%s: sign-in %+v, %v", tc.name, step, err)
		}
		u := h.storeUser(username)
		if strings.ContainsFunc(u.Name, isUnsafe) || !strings.HasPrefix(u.Name, "Eve") {
			t.Errorf("%s: stored name %q", tc.name, u.Name)
		}
		if u.Email != "" {
			t.Errorf("%s: stored email %q", tc.name, u.Email)
		}
	}
}

// isUnsafe is the test's own statement of the rule, to check stored text against.
func isUnsafe(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == 0x2028 || r == 0x2029 ||
		(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0xfffd
}

// TestOptionValuesRefuseControlCharacters: option values are text from people too (mfaIssuer
// is shown by authenticator apps); a refused value changes nothing.
func TestOptionValuesRefuseControlCharacters(t *testing.T) {
	h := newHarness(t)
	for _, tc := range hostile {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.svc.SetOption(h.ctx, account.CLI, options.MFAIssuer, tc.text)
			e := wantCode(t, err, errs.Invalid)
			if !strings.Contains(e.Message, options.MFAIssuer) || !strings.Contains(e.Message, "control characters") {
				t.Fatalf("message %q does not say the rule for %s", e.Message, options.MFAIssuer)
			}
		})
	}
	if v, err := h.opts.Get(h.ctx); err != nil || v.Issuer() != "Twofold" {
		t.Fatalf("mfaIssuer after refusals: %v, %v", v.Issuer(), err)
	}
	if len(h.events("", "option.changed")) != 0 {
		t.Fatal("a refused value was audited as a change")
	}
}
