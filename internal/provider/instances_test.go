package provider_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/app/apptest"
	"github.com/twofold-auth/twofold/internal/clock"
	"github.com/twofold-auth/twofold/internal/keys"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/postgres/pgtest"
)

// TestSeveralInstances runs two instances on one PostgreSQL database behind one base URL, as
// a load balancer would (SPEC §7 "Several instances"): a code redeemed at both at the same
// moment succeeds at most once, a token revoked at one is refused by the other at once, and a
// refresh token issued by one works at the other.
func TestSeveralInstances(t *testing.T) {
	db := pgtest.URL(t)
	key, err := keys.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	fc := clock.NewFake(time.Now().Truncate(time.Second))
	lnA, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + lnA.Addr().String()
	a := apptest.Serve(t, app.Config{DB: db, SecretKey: key, Clock: fc, Listener: lnA, BaseURL: base})
	b := apptest.Serve(t, app.Config{DB: db, SecretKey: key, Clock: fc, BaseURL: base})
	otherURL := "http://" + b.Addr()

	h := &harness{t: t, app: a, clock: fc, base: base, rp: newRelyingParty(t)}
	h.setOption(options.InternalMFA, options.PolicyOff)
	b.Options.Invalidate()
	h.addUser("rita", false)
	id, secret := h.addClient(store.Client{SkipConsent: true})
	cfg, _ := h.oauth(id, secret, gooidc.ScopeOpenID, gooidc.ScopeOfflineAccess)
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	atB := *cfg
	atB.Endpoint.TokenURL = strings.Replace(cfg.Endpoint.TokenURL, base, otherURL, 1)
	ctx := context.Background()
	br := h.browser()

	code := h.codeFor(br, cfg, "rita")
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		c := cfg
		if i%2 == 1 {
			c = &atB
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Exchange(ctx, code); err == nil {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() > 1 {
		t.Fatalf("%d of 20 redemptions at two instances succeeded", ok.Load())
	}

	tok, err := cfg.Exchange(ctx, h.codeFor(br, cfg, "rita"))
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := atB.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("a refresh token issued at one instance, used at the other: %v", err)
	}
	if status, _ := h.userinfo(fresh.AccessToken); status != http.StatusOK {
		t.Fatalf("userinfo: %d", status)
	}
	form := url.Values{"token": {fresh.AccessToken}, "token_type_hint": {"access_token"}}
	req, _ := http.NewRequest(http.MethodPost, otherURL+"/oidc/revoke", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if status, _ := h.userinfo(fresh.AccessToken); !refused(status) {
		t.Errorf("a token revoked at one instance answers %d at the other", status)
	}
}
