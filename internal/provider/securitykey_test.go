package provider_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/app/apptest"
	"github.com/twofold-auth/twofold/internal/clock"
	"github.com/twofold-auth/twofold/internal/mail"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/webauthntest"
)

// newLocalhostHarness is newHarness served as http://localhost:PORT, a relying party id
// that security keys accept (an IP address offers none, SPEC §9).
func newLocalhostHarness(t *testing.T) *harness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	fc := clock.NewFake(time.Now().Truncate(time.Second))
	box := &mailbox{}
	a := apptest.Serve(t, app.Config{Clock: fc, Listener: ln, BaseURL: "http://localhost:" + port,
		WrapMail: func(mail.Mailer) mail.Mailer { return box }})
	h := &harness{t: t, app: a, clock: fc, base: a.BaseURL, mails: box}
	h.rp = newRelyingParty(t)
	return h
}

// api posts body (nil: none) to the JSON API with the browser's cookie and answers the body.
func (b *browser) api(path string, body []byte) []byte {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.h.base+path, bytes.NewReader(body))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("POST %s: %d %s", path, resp.StatusCode, out)
	}
	return out
}

// TestSecurityKeyAMR: an application's ID token says amr pwd hwk mfa (and acr mfa) after a
// sign-in whose second factor was a security key, enrolled on the way and then used again.
func TestSecurityKeyAMR(t *testing.T) {
	h := newLocalhostHarness(t)
	h.setOption(options.InternalMFA, options.PolicyRequired)
	h.addUser("kim", false)
	id, secret := h.addClient(store.Client{SkipConsent: true})
	cfg, verifier := h.oauth(id, secret)
	key, err := webauthntest.New(h.base)
	if err != nil {
		t.Fatal(err)
	}
	amrAfter := func(b *browser) map[string]any {
		t.Helper()
		got := h.atApp(b.authorize(cfg, "s"))
		tok, err := cfg.Exchange(context.Background(), got.Get("code"))
		if err != nil {
			t.Fatal(err)
		}
		idt, err := verifier.Verify(context.Background(), tok.Extra("id_token").(string))
		if err != nil {
			t.Fatal(err)
		}
		return claims(t, idt)
	}
	next := func(answer []byte) string {
		t.Helper()
		var a struct{ Next string }
		if err := json.Unmarshal(answer, &a); err != nil {
			t.Fatal(err)
		}
		return a.Next
	}

	// Enrolment with a key on the way to the application.
	b := h.browser()
	if p := b.signIn(b.authorize(cfg, "s"), "kim"); p.url.Path != "/signin/enroll" {
		t.Fatalf("expected enrolment, at %s", p.url)
	}
	cred, err := key.Create(b.api("/api/v1/signin/mfa/enroll/webauthn/begin", nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := next(b.api("/api/v1/signin/mfa/enroll/webauthn/finish", cred)); got != "done" {
		t.Fatalf("after enrolment with a key: next %q", got)
	}
	if c := amrAfter(b); c["acr"] != "mfa" || !sameStrings(c["amr"], "pwd", "hwk", "mfa") {
		t.Errorf("acr %v amr %v after enrolling a key", c["acr"], c["amr"])
	}

	// A later sign-in with the key.
	b = h.browser()
	if p := b.signIn(b.authorize(cfg, "s"), "kim"); p.url.Path != "/signin/verify" {
		t.Fatalf("expected Verification Required, at %s", p.url)
	}
	cred, err = key.Get(b.api("/api/v1/signin/mfa/webauthn/begin", nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := next(b.api("/api/v1/signin/mfa/webauthn/finish", cred)); got != "done" {
		t.Fatalf("after the key: next %q", got)
	}
	if c := amrAfter(b); c["acr"] != "mfa" || !sameStrings(c["amr"], "pwd", "hwk", "mfa") {
		t.Errorf("acr %v amr %v after a key", c["acr"], c["amr"])
	}
}
