// Package sso signs people in through the organisation's OpenID Connect identity provider: the
// authorization code flow with PKCE, state and nonce (RFC 6749, RFC 7636, OpenID Connect Core
// 3.1), through coreos/go-oidc and golang.org/x/oauth2.
//
// It knows nothing of accounts. Start sends the browser to the provider; Finish checks what the
// provider sent back and answers who the provider says signed in. Package account decides what
// that person may do (SPEC §1: SSO accounts only, unless an admin linked a local one).
//
// The state, nonce and PKCE verifier of a sign-in in progress are kept in the browser, in a
// short-lived HttpOnly, SameSite=Lax cookie sealed (AES-256-GCM) under the server key, so that
// no table is needed and any instance can finish a sign-in another one started. The cookie is
// bound to the issuer and client id and lives LoginLifetime; it is cleared by the callback.
// Replaying it is of no use: the provider accepts each code once.
package sso

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/keys"
	"github.com/twofold-auth/twofold/internal/loopback"
)

// CookieName is the cookie that carries a sign-in in progress from Start to Finish.
const CookieName = "twofold_sso"

// LoginLifetime is how long a sign-in may take at the provider, like an unfinished password
// sign-in (SPEC §5).
const LoginLifetime = 10 * time.Minute

// DefaultUsernameClaim is the claim read for the username when none is configured; email
// (when verified) is read when the provider does not send it.
const DefaultUsernameClaim = "preferred_username"

// sealLabel binds sealed cookies to their purpose; session labels ("user N") never equal it.
const sealLabel = "sso login"

// Config holds what a Client needs.
type Config struct {
	// Issuer is the provider's issuer URL, exactly as its discovery document says it.
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is Twofold's callback as registered at the provider.
	RedirectURL string
	// UsernameClaim names the claim that holds the username; empty means preferred_username,
	// else a verified email.
	UsernameClaim string
	// Keys seal the cookie of a sign-in in progress.
	Keys *keys.Keys
	// HTTPClient talks to the provider; nil means one with a 10-second timeout.
	HTTPClient *http.Client
	// Now and Rand default to the clock and crypto/rand.
	Now  func() time.Time
	Rand io.Reader
}

// Client is an OpenID Connect relying party. It is safe for concurrent use.
type Client struct {
	cfg        Config
	http       *http.Client
	cookiePath string
	secure     bool

	mu       sync.Mutex
	provider *oidc.Provider // nil until discovery succeeds
	verifier *oidc.IDTokenVerifier
	// failedAt and failure remember the last failed discovery for retryAfterFailure, so that
	// a provider that does not answer does not hold every sign-in for the HTTP timeout.
	failedAt time.Time
	failure  error
}

// retryAfterFailure is how long a failed discovery is answered from memory.
const retryAfterFailure = 5 * time.Second

// Identity is who the provider says signed in.
type Identity struct {
	Issuer  string
	Subject string
	// Username is the value of Claim, as the provider sent it (not yet normalised).
	Username string
	Claim    string
	// Email is set only when the provider says it verified it.
	Email string
	Name  string
	// AMR is the provider's amr claim: how the person proved who they are there.
	AMR []string
	// ReturnTo is where the sign-in was started for (Start's returnTo).
	ReturnTo string
}

// New checks the configuration and makes a Client. It does not contact the provider: discovery
// happens at the first sign-in and is retried until it succeeds, so that a provider that is
// down does not stop the server.
func New(c Config) (*Client, error) {
	if c.Issuer == "" || c.ClientID == "" || c.RedirectURL == "" {
		return nil, errors.New("sso: the issuer URL, client id and redirect URL are required")
	}
	if c.Keys == nil {
		return nil, errors.New("sso: no server key")
	}
	iss, err := url.Parse(c.Issuer)
	if err != nil || iss.Host == "" || iss.RawQuery != "" || iss.Fragment != "" {
		return nil, fmt.Errorf("sso: the issuer %q is not an absolute URL without query", c.Issuer)
	}
	if iss.Scheme != "https" && !(iss.Scheme == "http" && loopback.Host(iss.Hostname())) {
		return nil, fmt.Errorf("sso: the issuer must be https (plain http only on a loopback address)")
	}
	red, err := url.Parse(c.RedirectURL)
	if err != nil || red.Host == "" || (red.Scheme != "https" && red.Scheme != "http") {
		return nil, fmt.Errorf("sso: the redirect URL %q is not an absolute http(s) URL", c.RedirectURL)
	}
	if c.UsernameClaim == "" {
		c.UsernameClaim = DefaultUsernameClaim
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	dir := path.Dir(red.EscapedPath())
	if !strings.HasSuffix(dir, "/") {
		dir += "/"
	}
	return &Client{cfg: c, http: hc, cookiePath: dir, secure: red.Scheme == "https"}, nil
}

// Cookie answers the cookie that carries value from Start to Finish; an empty value answers
// the cookie that deletes it. It is sent only to the callback's folder.
func (c *Client) Cookie(value string) *http.Cookie {
	ck := &http.Cookie{Name: CookieName, Value: value, Path: c.cookiePath, HttpOnly: true,
		Secure: c.secure, SameSite: http.SameSiteLaxMode, MaxAge: int(LoginLifetime / time.Second)}
	if value == "" {
		ck.MaxAge = -1
	}
	return ck
}

// Discover fetches the provider's discovery document unless it was fetched already. serve
// calls it at start to warn early about a provider it cannot reach; a sign-in calls it too.
func (c *Client) Discover(ctx context.Context) error {
	_, err := c.discover(ctx)
	return err
}

// discover answers the provider and the verifier of its ID tokens, whose key set (fetched
// through the client's HTTP client, cached, and fetched again for an unknown key id) it keeps.
func (c *Client) discover(ctx context.Context) (*oidc.Provider, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.provider != nil {
		return c.provider, nil
	}
	if now := c.cfg.Now(); c.failure != nil && now.Sub(c.failedAt) < retryAfterFailure && !now.Before(c.failedAt) {
		return nil, c.failure
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, c.http), c.cfg.Issuer)
	if err != nil {
		var mismatch *oidc.IssuerMismatchError
		if errors.As(err, &mismatch) {
			c.failure = fail(KindIssuer, err, errs.Internal,
				"The identity provider's discovery document names another issuer than the one Twofold is configured with (--sso-issuer). Tell your administrator.")
		} else {
			c.failure = unreachable(err)
		}
		c.failedAt = c.cfg.Now()
		return nil, c.failure
	}
	c.provider = p
	c.verifier = p.Verifier(&oidc.Config{ClientID: c.cfg.ClientID, Now: c.cfg.Now})
	return p, nil
}

func (c *Client) oauth(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret, RedirectURL: c.cfg.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
}

// pending is a sign-in in progress, sealed into the cookie.
type pending struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Issuer   string `json:"i"`
	ClientID string `json:"c"`
	Created  int64  `json:"t"`
	ReturnTo string `json:"r,omitempty"`
	// Fresh: the provider was asked to sign the person in again (Start).
	Fresh bool `json:"f,omitempty"`
}

// Start begins a sign-in: it answers the provider's authorization URL to send the browser to,
// and the value of the cookie (see Cookie) that must come back with the callback. returnTo,
// sealed into the cookie with the rest, comes back in the Identity. fresh asks the provider to
// sign the person in again, whatever session it holds (prompt=login and max_age=0, OpenID
// Connect Core 3.1.2.1), as an application's prompt=login or passed max_age asks of Twofold
// (SPEC §7); Finish then refuses an answer whose auth_time is from before the start.
func (c *Client) Start(ctx context.Context, returnTo string, fresh bool) (authURL, cookie string, err error) {
	p, err := c.discover(ctx)
	if err != nil {
		return "", "", err
	}
	state, err := c.random()
	if err != nil {
		return "", "", err
	}
	nonce, err := c.random()
	if err != nil {
		return "", "", err
	}
	pd := pending{State: state, Nonce: nonce, Verifier: oauth2.GenerateVerifier(), Issuer: c.cfg.Issuer,
		ClientID: c.cfg.ClientID, Created: c.cfg.Now().Unix(), ReturnTo: returnTo, Fresh: fresh}
	plain, err := json.Marshal(pd)
	if err != nil {
		return "", "", err
	}
	sealed, err := c.cfg.Keys.SealPending(sealLabel, plain, c.cfg.Rand)
	if err != nil {
		return "", "", err
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(pd.Verifier)}
	if fresh {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0"))
	}
	authURL = c.oauth(p).AuthCodeURL(state, opts...)
	return authURL, base64.RawURLEncoding.EncodeToString(sealed), nil
}

func (c *Client) random() (string, error) {
	var b [32]byte
	if _, err := io.ReadFull(c.cfg.Rand, b[:]); err != nil {
		return "", fmt.Errorf("sso: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// open reads the cookie of the sign-in in progress, refusing one that is not ours, not for
// this provider and client, or too old.
func (c *Client) open(cookie string) (*pending, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cookie)
	if err != nil || cookie == "" {
		return nil, errors.New("no sign-in cookie, or not one of ours")
	}
	plain, err := c.cfg.Keys.OpenPending(sealLabel, raw)
	if err != nil {
		return nil, errors.New("the sign-in cookie does not open")
	}
	var pd pending
	if err := json.Unmarshal(plain, &pd); err != nil {
		return nil, errors.New("the sign-in cookie is malformed")
	}
	if pd.Issuer != c.cfg.Issuer || pd.ClientID != c.cfg.ClientID {
		return nil, errors.New("the sign-in was started for another provider or client")
	}
	age := c.cfg.Now().Sub(time.Unix(pd.Created, 0))
	if age > LoginLifetime || age < -time.Minute {
		return nil, fmt.Errorf("the sign-in started %s ago", age.Round(time.Second))
	}
	return &pd, nil
}

// providerErrorRE is what an OAuth error code looks like (RFC 6749 §4.1.2.1); anything else is
// not echoed.
var providerErrorRE = regexp.MustCompile(`^[a-z_]{1,64}$`)

// Finish checks the provider's answer at the callback: the provider's error if any, the state
// against the cookie, then exchanges the code with the PKCE verifier and verifies the ID token
// (signature, issuer, audience, expiry, nonce). It answers who signed in, or an *Error.
func (c *Client) Finish(ctx context.Context, cookie string, q url.Values) (*Identity, error) {
	if code := q.Get("error"); code != "" {
		return nil, providerError(code)
	}
	pd, err := c.open(cookie)
	if err != nil {
		return nil, badState(err)
	}
	if got := q.Get("state"); subtle.ConstantTimeCompare([]byte(got), []byte(pd.State)) != 1 {
		return nil, badState(errors.New("the state does not match the cookie's"))
	}
	code := q.Get("code")
	if code == "" {
		return nil, badState(errors.New("the answer has no code"))
	}
	p, err := c.discover(ctx)
	if err != nil {
		return nil, err
	}
	hctx := oidc.ClientContext(ctx, c.http)
	tok, err := c.oauth(p).Exchange(hctx, code, oauth2.VerifierOption(pd.Verifier))
	if err != nil {
		return nil, exchangeError(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return nil, fail(KindToken, errors.New("no id_token in the token response"), errs.Internal,
			"The identity provider answered without an ID token. Tell your administrator (the client must be an OpenID Connect client with the openid scope).")
	}
	c.mu.Lock()
	verifier := c.verifier
	c.mu.Unlock()
	idt, err := verifier.Verify(hctx, rawID)
	if err != nil {
		return nil, verifyError(err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(pd.Nonce)) != 1 {
		return nil, invalidToken("wrong nonce", errors.New("the ID token's nonce does not match the cookie's"))
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, invalidToken("unreadable claims", err)
	}
	if err := c.checkParty(idt.Subject, idt.Audience, claims); err != nil {
		return nil, err
	}
	if pd.Fresh {
		if err := checkFresh(claims, time.Unix(pd.Created, 0)); err != nil {
			return nil, err
		}
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, invalidToken("access token hash", err)
		}
	}
	id := &Identity{Issuer: idt.Issuer, Subject: idt.Subject, AMR: amrOf(claims), ReturnTo: pd.ReturnTo}
	if err := c.identify(hctx, p, tok, idt, claims, id); err != nil {
		return nil, err
	}
	return id, nil
}

// freshSkew is how far the provider's clock may be behind Twofold's when it says when it
// signed the person in.
const freshSkew = time.Minute

// checkFresh checks that a provider asked to sign the person in again did: its ID token's
// auth_time (required when max_age was sent) is not before started, give or take freshSkew.
func checkFresh(claims map[string]any, started time.Time) error {
	at, ok := claims["auth_time"].(float64)
	if !ok {
		return fail(KindStale, errors.New("no auth_time in the ID token of a sign-in that asked for a new one"), errs.InvalidCredentials,
			"The identity provider did not say when you signed in, and this sign-in asks for a new one. Please try again; if this persists, tell your administrator.")
	}
	if when := time.Unix(int64(at), 0); when.Before(started.Add(-freshSkew)) {
		return fail(KindStale, fmt.Errorf("auth_time %s is before the sign-in started (%s)", when.UTC().Format(time.RFC3339),
			started.UTC().Format(time.RFC3339)), errs.InvalidCredentials,
			"The identity provider did not sign you in again, and this sign-in asks for a new one. Sign out at your identity provider, then try again.")
	}
	return nil
}

// checkParty checks what the library leaves to the client (OpenID Connect Core 2 and
// 3.1.3.7): the token names its subject, and it was issued to this client: azp, when present,
// is our client id, and a token for several audiences names us in azp.
func (c *Client) checkParty(subject string, audience []string, claims map[string]any) error {
	if subject == "" {
		return invalidToken("no subject", errors.New("the ID token has no sub"))
	}
	azp, hasAzp := claims["azp"].(string)
	switch {
	case hasAzp && azp != c.cfg.ClientID:
		return invalidToken("wrong audience", fmt.Errorf("azp %q is not our client id", azp))
	case len(audience) > 1 && !hasAzp:
		return invalidToken("wrong audience", errors.New("an ID token for several audiences without azp"))
	}
	return nil
}

// amrOf reads the amr claim, a list of strings; anything else is no claim.
func amrOf(claims map[string]any) []string {
	list, _ := claims["amr"].([]any)
	var out []string
	for _, v := range list {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// identify reads the username, email and name from the ID token's claims, and from the
// UserInfo endpoint when the ID token lacks the configured username claim or the email (many
// providers keep profile claims out of the ID token): the fallback to a verified email as the
// username comes only once UserInfo has been asked. UserInfo must be about the same subject
// (OpenID Connect Core 5.3.2).
func (c *Client) identify(ctx context.Context, p *oidc.Provider, tok *oauth2.Token, idt *oidc.IDToken, claims map[string]any, id *Identity) error {
	_, hasEmail := claims["email"].(string)
	if (c.configured(claims) == "" || !hasEmail) && p.UserInfoEndpoint() != "" {
		ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			if isNetwork(err) {
				return unreachable(err)
			}
			return fail(KindClaims, err, errs.Internal, "The identity provider's UserInfo endpoint did not answer as expected. Tell your administrator.")
		}
		if subtle.ConstantTimeCompare([]byte(ui.Subject), []byte(idt.Subject)) != 1 {
			return invalidToken("UserInfo is about another subject", fmt.Errorf("userinfo sub differs from the ID token's"))
		}
		var more map[string]any
		if err := ui.Claims(&more); err != nil {
			return invalidToken("unreadable UserInfo", err)
		}
		for k, v := range more { // the signed ID token wins where both say something
			if _, ok := claims[k]; !ok {
				claims[k] = v
			}
		}
	}
	name, claim := c.username(claims)
	if name == "" {
		msg := fmt.Sprintf("The identity provider did not send your username (claim %q", c.cfg.UsernameClaim)
		if c.cfg.UsernameClaim == DefaultUsernameClaim {
			msg += ", or a verified email"
		}
		return fail(KindClaims, fmt.Errorf("no usable %s claim", c.cfg.UsernameClaim), errs.Forbidden,
			msg+"). Ask your administrator to have the provider send it.")
	}
	id.Username, id.Claim = name, claim
	if verified(claims) {
		id.Email, _ = claims["email"].(string)
	}
	id.Name, _ = claims["name"].(string)
	return nil
}

// username answers the configured claim's value, falling back to a verified email when the
// default claim is missing. An email counts only when the provider verified it: an address a
// user may type freely at the provider must not name an account here.
func (c *Client) username(claims map[string]any) (value, claim string) {
	if v := c.configured(claims); v != "" || c.cfg.UsernameClaim != DefaultUsernameClaim || !verified(claims) {
		return v, c.cfg.UsernameClaim
	}
	v, _ := claims["email"].(string)
	return strings.TrimSpace(v), "email"
}

// configured answers the configured username claim's value alone ("" when missing), an email
// only when verified.
func (c *Client) configured(claims map[string]any) string {
	v, _ := claims[c.cfg.UsernameClaim].(string)
	if c.cfg.UsernameClaim == "email" && !verified(claims) {
		v = ""
	}
	return strings.TrimSpace(v)
}

func verified(claims map[string]any) bool {
	switch v := claims["email_verified"].(type) {
	case bool:
		return v
	case string: // some providers send "true"
		return v == "true"
	}
	return false
}

// Kinds of failure, for the log and tests.
const (
	KindDenied      = "denied"      // the provider refused (consent denied, login required...)
	KindState       = "state"       // the answer does not belong to a sign-in this browser started
	KindCode        = "code"        // the code expired or was used already
	KindToken       = "token"       // the ID token is not valid (issuer, audience, expiry, nonce, signature)
	KindClaims      = "claims"      // the provider did not say who signed in
	KindIssuer      = "issuer"      // discovery names another issuer
	KindUnreachable = "unreachable" // the provider cannot be reached
	KindConfig      = "config"      // the provider refused Twofold's request or credentials
	KindStale       = "stale"       // asked to sign the person in again, the provider did not
)

// Error is a failed sign-in through the provider: what the person is told (an *errs.Error,
// found by errs.As) and, for the log, the kind and the reason. Reasons hold no code, token or
// secret.
type Error struct {
	Kind   string
	Public *errs.Error
	Reason error
}

func (e *Error) Error() string { return "sso: " + e.Kind + ": " + e.Reason.Error() }

// Unwrap answers the public error, so that errs.As finds it, and the reason.
func (e *Error) Unwrap() []error { return []error{e.Public, e.Reason} }

func fail(kind string, reason error, code, msg string) *Error {
	return &Error{Kind: kind, Reason: reason, Public: &errs.Error{Code: code, Message: msg}}
}

func unreachable(err error) *Error {
	e := fail(KindUnreachable, err, errs.Unavailable,
		"The identity provider cannot be reached. Please try again in a moment; if this persists, tell your administrator.")
	e.Public.RetryAfter = 30 * time.Second
	return e
}

func badState(reason error) *Error {
	return fail(KindState, reason, errs.Invalid,
		"This answer from the identity provider does not belong to a sign-in started in this browser, or that sign-in took longer than 10 minutes. Please start again with \"Login with the identity provider\".")
}

func invalidToken(what string, reason error) *Error {
	return fail(KindToken, reason, errs.InvalidCredentials,
		fmt.Sprintf("The identity provider's answer could not be verified (%s). Please start again; if this persists, tell your administrator.", what))
}

func providerError(code string) *Error {
	if !providerErrorRE.MatchString(code) {
		code = "unknown"
	}
	reason := fmt.Errorf("the provider answered error=%s", code)
	switch code {
	case "access_denied":
		return fail(KindDenied, reason, errs.Forbidden,
			"The identity provider did not let you sign in (access_denied): consent was refused, or your account there may not use Twofold.")
	case "login_required", "consent_required", "interaction_required", "account_selection_required":
		return fail(KindDenied, reason, errs.Forbidden,
			fmt.Sprintf("The identity provider did not finish the sign-in (%s). Please start again.", code))
	case "temporarily_unavailable", "server_error":
		e := fail(KindUnreachable, reason, errs.Unavailable,
			fmt.Sprintf("The identity provider could not sign you in just now (%s). Please try again in a moment.", code))
		e.Public.RetryAfter = 30 * time.Second
		return e
	}
	return fail(KindConfig, reason, errs.Internal,
		fmt.Sprintf("The identity provider refused Twofold's sign-in request (%s). Tell your administrator: the client registration does not match Twofold's settings.", code))
}

func exchangeError(err error) *Error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		switch {
		case re.ErrorCode == "invalid_grant":
			return fail(KindCode, err, errs.InvalidCredentials,
				"The identity provider did not accept the sign-in code: it expired or was used already. Please start again with \"Login with the identity provider\".")
		case re.Response != nil && re.Response.StatusCode >= 500:
			return unreachable(err)
		}
		code := re.ErrorCode
		if !providerErrorRE.MatchString(code) {
			code = "unknown"
		}
		return fail(KindConfig, err, errs.Internal,
			fmt.Sprintf("The identity provider refused Twofold's credentials (%s). Tell your administrator: check the client id and secret.", code))
	}
	if isNetwork(err) {
		return unreachable(err)
	}
	return fail(KindToken, err, errs.Internal, "The identity provider's token answer could not be read. Tell your administrator.")
}

func verifyError(err error) *Error {
	var expired *oidc.TokenExpiredError
	msg := err.Error()
	switch {
	case errors.As(err, &expired):
		return invalidToken("the ID token expired", err)
	case strings.Contains(msg, "issued by a different provider"):
		return invalidToken("wrong issuer", err)
	case strings.Contains(msg, "expected audience"):
		return invalidToken("wrong audience", err)
	case strings.Contains(msg, "fetching keys"), strings.Contains(msg, "get keys failed"):
		return unreachable(err) // go-oidc flattens the cause into the message
	}
	return invalidToken("bad signature or malformed token", err)
}

// isNetwork tells a provider that could not be reached from one that answered.
func isNetwork(err error) bool {
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "connection refused")
}
