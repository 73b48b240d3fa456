package account_test

// SPEC §5 "text from people is text": every path that stores a name or an email refuses
// control characters and bidirectional overrides, the identity provider's claims included.

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/store"
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

// TestSSOClaimsWithControlCharactersRefused: the identity provider's name and email claims
// are text from people; one with a control character is refused like any other (SPEC §5): no
// account is made, and the refusal is audited and says why.
func TestSSOClaimsWithControlCharactersRefused(t *testing.T) {
	h := newHarness(t)
	h.setOption(options.SSOCreateAccounts, "yes")
	for i, tc := range hostile {
		for _, claim := range []string{"name", "email"} {
			username := fmt.Sprintf("sso%c%s", 'a'+i, claim)
			id := account.SSOIdentity{Username: username, Claim: "preferred_username", Name: "Eve",
				Email: username + "@example.com", Issuer: "https://idp.example.org", Subject: "s" + username}
			if claim == "name" {
				id.Name = tc.text
			} else {
				id.Email = strings.Replace(tc.text, "Eve", "eve", 1) + "@example.com"
			}
			_, err := h.svc.SignInSSO(h.ctx, account.SSOSignInRequest{Identity: id})
			e := wantCode(t, err, errs.Forbidden)
			if !strings.Contains(e.Message, claim+" the identity provider gives you") || !strings.Contains(e.Message, "control characters") {
				t.Errorf("%s in the %s claim: message %q", tc.name, claim, e.Message)
			}
			if _, err := h.db.UserByName(h.ctx, username); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s in the %s claim: an account was made (%v)", tc.name, claim, err)
			}
			if ev := h.events(username, account.ActionSignInSSORefused); len(ev) != 1 || strings.ContainsFunc(ev[0].Detail, isUnsafe) {
				t.Errorf("%s in the %s claim: refusal audited as %+v", tc.name, claim, ev)
			}
		}
	}
	// A clean name is kept as given.
	_, err := h.svc.SignInSSO(h.ctx, account.SSOSignInRequest{Identity: account.SSOIdentity{
		Username: "ssoclean", Claim: "preferred_username", Name: " Eve Zoë ", Email: "eve@example.com",
		Issuer: "https://idp.example.org", Subject: "sclean"}})
	mustNo(t, err)
	if u := h.storeUser("ssoclean"); u.Name != "Eve Zoë" || u.Email != "eve@example.com" {
		t.Errorf("stored %q <%s>", u.Name, u.Email)
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
