package provider_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/twofold-auth/twofold/internal/store"
)

// TestTokenAnswersNotCached: the token endpoint's answer (RFC 6749 §5.1), and userinfo's and
// introspection's, carry tokens or what they say of the person, so no cache may keep them
// (SPEC §4): Cache-Control no-store. The signing keys are public and may be cached.
func TestTokenAnswersNotCached(t *testing.T) {
	h := newHarness(t)
	h.addUser("noa", false)
	id, secret := h.addClient(store.Client{SkipConsent: true})
	cfg, _ := h.oauth(id, secret)
	code := h.codeFor(h.browser(), cfg, "noa")

	basic := func(r *http.Request) { r.SetBasicAuth(id, secret) }
	noStore := func(what string, resp *http.Response) {
		t.Helper()
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d, Cache-Control %q; want 200 and no-store", what, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	}

	resp, tok := h.protocol("POST", "/oidc/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {cfg.RedirectURL}}, basic)
	noStore("the token answer", resp)
	access, _ := tok["access_token"].(string)
	resp, _ = h.protocol("GET", "/oidc/userinfo", nil, bearer(access))
	noStore("userinfo", resp)
	resp, _ = h.protocol("POST", "/oidc/introspect", url.Values{"token": {access}}, basic)
	noStore("introspection", resp)
}
