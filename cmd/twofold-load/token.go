package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twofold-auth/twofold/internal/provider"
	"github.com/twofold-auth/twofold/internal/store"
)

// The token mode measures the OpenID Connect provider's token endpoint (SPEC §6
// "Applications"): code grants and refresh grants, one after the other, each code and refresh
// token used once. What they spend is seeded straight into the database right before the
// measurement: one confidential client of the tool's own, and for every pair of grants one
// finished authorization request holding a code and one refresh token, as the provider would
// have kept them after a sign-in with password and TOTP.

const (
	// loadClientID is the application the token mode registers (made afresh at every run,
	// which also removes what earlier runs left: its requests and tokens go with it).
	loadClientID = "twofold-load"
	// loadClientSecret is its secret, sent with HTTP basic authentication; only its SHA-256 is
	// stored, as for every confidential client.
	loadClientSecret = "twofold-load-client-secret"
	// loadRedirectURI is its redirect URI; nothing is ever sent there.
	loadRedirectURI = "http://127.0.0.1:9/cb"
	// tokenAccountCount is how many load accounts the grants are spread over.
	tokenAccountCount = 8
	// tokenMaxDuration bounds a token run: the server's sweep removes authorization requests
	// 30 minutes after they were made (provider.RequestLifetime), codes included.
	tokenMaxDuration = 25 * time.Minute
	// discoveryPath is where the provider says where its endpoints are (SPEC §7).
	discoveryPath = "/.well-known/openid-configuration"
)

var (
	loadScopes = []string{"openid", "offline_access"}
	loadAMR    = []string{"pwd", "otp", "mfa"} // a password and a TOTP code (RFC 8176)
)

// loadRequest is the authorization request as internal/provider keeps it in
// store.AuthRequest.Request (its type request, whose json tags these are), reduced to what a
// request of the load client carries: no PKCE (a confidential client), no prompt, no max_age.
type loadRequest struct {
	Scopes      []string `json:"scopes"`
	RedirectURI string   `json:"redirect_uri"`
	State       string   `json:"state,omitempty"`
	Nonce       string   `json:"nonce,omitempty"`
}

// grantKind is a grant of the token endpoint.
type grantKind int

const (
	codeGrant grantKind = iota
	refreshGrant
)

func (k grantKind) String() string {
	if k == codeGrant {
		return "code"
	}
	return "refresh token"
}

// grantPool is what the token mode spends: codes and refresh tokens, each once.
type grantPool struct {
	codes, refreshes chan string
}

func (p *grantPool) of(k grantKind) chan string {
	if k == codeGrant {
		return p.codes
	}
	return p.refreshes
}

// tokenAccounts answers the first want load accounts that are not disabled (there are total).
func (db *database) tokenAccounts(ctx context.Context, total, want int) ([]*loadAccount, error) {
	var out []*loadAccount
	for i := 0; i < total && len(out) < want; i++ {
		u, err := db.st.UserByName(ctx, accountName(i))
		if err != nil {
			return nil, err
		}
		if !u.Disabled {
			out = append(out, &loadAccount{id: u.ID, username: u.Username})
		}
	}
	return out, nil
}

// loadClient is the tool's confidential client: its redirect URI, no consent page, no group
// or second-factor demand.
func loadClient(now time.Time) *store.Client {
	h := sha256.Sum256([]byte(loadClientSecret))
	return &store.Client{ID: loadClientID, Name: "twofold-load", SecretHash: h[:],
		RedirectURIs: []string{loadRedirectURI}, SkipConsent: true, CreatedAt: now}
}

// seedClient makes the load client afresh in one transaction: removing the one an earlier run
// made removes its leftover requests and tokens too (ON DELETE CASCADE).
func (db *database) seedClient(ctx context.Context) error {
	return db.st.Update(ctx, func(q store.Queries) error {
		if err := q.DeleteClient(ctx, loadClientID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return q.CreateClient(ctx, loadClient(time.Now()))
	})
}

// randomText answers n random bytes in base64url without padding, as the provider makes its
// codes and tokens.
func randomText(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// seedGrants makes n finished authorization requests of the load client, each with a code
// that works until codeLife from its transaction, and n refresh tokens (the i-th of the i-th
// request's family), spread over accts, batch pairs a transaction. Each request has a session
// id of its own, as after n sign-ins. The codes and refresh tokens are kept only as SHA-256
// hashes, as the provider keeps them; the plain ones are in the pool answered.
func (db *database) seedGrants(ctx context.Context, accts []*loadAccount, n, batch int, codeLife time.Duration) (*grantPool, error) {
	if len(accts) == 0 {
		return nil, errors.New("no load account to seed grants for")
	}
	body, err := json.Marshal(loadRequest{Scopes: loadScopes, RedirectURI: loadRedirectURI,
		State: "twofold-load", Nonce: "twofold-load-nonce"})
	if err != nil {
		return nil, err
	}
	p := &grantPool{codes: make(chan string, n), refreshes: make(chan string, n)}
	for from := 0; from < n; from += batch {
		to := min(from+batch, n)
		codes := make([]string, 0, to-from)
		refreshes := make([]string, 0, to-from)
		now := time.Now()
		err := db.st.Update(ctx, func(q store.Queries) error {
			for i := from; i < to; i++ {
				a := accts[i%len(accts)]
				id, err1 := randomText(24)
				code, err2 := randomText(32)
				refresh, err3 := randomText(32)
				var sid [16]byte
				_, err4 := io.ReadFull(rand.Reader, sid[:])
				if err := errors.Join(err1, err2, err3, err4); err != nil {
					return err
				}
				ar := &store.AuthRequest{ID: id, ClientID: loadClientID, Request: body, CreatedAt: now,
					Done: true, UserID: a.id, SID: hex.EncodeToString(sid[:]), AuthTime: now, AMR: loadAMR,
					CodeHash: hash(code), CodeExpiresAt: now.Add(codeLife)}
				if err := q.CreateAuthRequest(ctx, ar); err != nil {
					return err
				}
				if err := q.CreateToken(ctx, &store.Token{IDHash: hash(refresh), Kind: store.TokenRefresh,
					Family: id, ClientID: loadClientID, UserID: a.id, SID: ar.SID, Scopes: loadScopes,
					AMR: loadAMR, AuthTime: now, ExpiresAt: now.Add(provider.RefreshLifetime), CreatedAt: now}); err != nil {
					return err
				}
				codes, refreshes = append(codes, code), append(refreshes, refresh)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("seeding grants %d to %d: %w", from, to-1, err)
		}
		for i := range codes {
			p.codes <- codes[i]
			p.refreshes <- refreshes[i]
		}
	}
	return p, nil
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// grantForm is the body of a grant's request (the client authenticates with HTTP basic).
func grantForm(k grantKind, secret string) url.Values {
	if k == codeGrant {
		return url.Values{"grant_type": {"authorization_code"}, "code": {secret}, "redirect_uri": {loadRedirectURI}}
	}
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {secret}}
}

// setClientAuth sets client_secret_basic: id and secret form-encoded, then basic (RFC 6749
// §2.3.1).
func setClientAuth(r *http.Request) {
	r.SetBasicAuth(url.QueryEscape(loadClientID), url.QueryEscape(loadClientSecret))
}

// readGrant reads a token endpoint's answer: the OAuth error of a refusal ("invalid_grant: the
// code has expired"), and for a 200 the tokens it lacks ("" when it has every one the grant
// must give: an access token, and an ID token for a code grant).
func readGrant(k grantKind, status int, raw []byte) (code, lacks string) {
	var out struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	parsed := json.Unmarshal(raw, &out) == nil
	if status != http.StatusOK {
		if out.Description != "" {
			return out.Error + ": " + out.Description, ""
		}
		return out.Error, ""
	}
	var missing []string
	if !parsed {
		return "", "a JSON body"
	}
	if out.AccessToken == "" {
		missing = append(missing, "access_token")
	}
	if k == codeGrant && out.IDToken == "" {
		missing = append(missing, "id_token")
	}
	return "", strings.Join(missing, " and ")
}

// grant sends one grant to the token endpoint and answers what came back, and for a 200 the
// tokens it lacks.
func (c *client) grant(ctx context.Context, endpoint string, k grantKind, secret string) (answer, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(grantForm(k, secret).Encode()))
	if err != nil {
		return answer{err: err}, ""
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	setClientAuth(req)
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{err: err, took: time.Since(start)}, ""
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After") != "", took: time.Since(start)}
	if err != nil {
		a.status, a.err = 0, err
		return a, ""
	}
	var lacks string
	a.code, lacks = readGrant(k, a.status, raw)
	return a, lacks
}

// tokenEndpoint reads the token endpoint from the provider's discovery document and answers
// its path on the loopback address the tool talks to (the issuer may be another address of
// the same server).
func (c *client) tokenEndpoint(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+discoveryPath, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<10))
	if err != nil {
		return "", err
	}
	return endpointFromDiscovery(c.base, resp.StatusCode, raw)
}

// endpointFromDiscovery answers base joined with the path of the discovery document's
// token_endpoint.
func endpointFromDiscovery(base string, status int, raw []byte) (string, error) {
	switch {
	case status == http.StatusNotFound:
		return "", fmt.Errorf("%s%s answers 404: the server is no OpenID Connect provider (its base URL cannot be an issuer; see its log)", base, discoveryPath)
	case status != http.StatusOK:
		return "", fmt.Errorf("%s%s answers %d", base, discoveryPath, status)
	}
	var d struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	u, err := url.Parse(d.TokenEndpoint)
	if err != nil || !u.IsAbs() || !strings.HasPrefix(u.Path, "/") {
		return "", fmt.Errorf("discovery: token_endpoint %q is not an absolute URL", d.TokenEndpoint)
	}
	return base + u.EscapedPath(), nil
}

// tokenLoad is a token run ready to start: the endpoint and what the grants spend.
type tokenLoad struct {
	endpoint string
	pool     *grantPool
}

// prepareTokens finds the token endpoint, then makes the load client and seeds the grants of
// the run (right before the measurement, since a seeded code works only for the warm-up, the
// run's duration and a minute after its transaction), saying how long the seeding took in rep.
// Codes are used in the order they were seeded, so only a seeding about that long leaves codes
// that expire before their turn: log is told.
func prepareTokens(ctx context.Context, c *config, db *database, cl *client, accts []*loadAccount, rep *report, log io.Writer) (*tokenLoad, error) {
	endpoint, err := cl.tokenEndpoint(ctx)
	if err != nil {
		return nil, err
	}
	rep.endpoint = strings.TrimPrefix(endpoint, cl.base)
	start := time.Now()
	if err := db.seedClient(ctx); err != nil {
		return nil, fmt.Errorf("seeding the load client: %w", err)
	}
	n := c.grantPairs()
	valid := c.warmup + c.duration + time.Minute // each code's life, from its transaction
	pool, err := db.seedGrants(ctx, accts, n, c.batch, valid)
	if err != nil {
		return nil, err
	}
	rep.grantPairs, rep.grantSeed = n, time.Since(start)
	if rep.grantSeed > valid-time.Minute/2 {
		fmt.Fprintf(log, "warning: seeding the grants took %.0fs; the codes seeded first may expire before their turn (each works for -warmup, -duration and a minute from its transaction)\n",
			rep.grantSeed.Seconds())
	}
	return &tokenLoad{endpoint: endpoint, pool: pool}, nil
}

// tokenRunner hands codes and refresh tokens to the workers until a bound is reached. The
// grants started are numbered: even ones are code grants, odd ones refresh grants, so that
// every worker alternates and -count splits evenly.
type tokenRunner struct {
	c        *client
	endpoint string
	pool     *grantPool
	pace     *pacer // when each grant starts, and when none starts any more
	limit    int64  // at most this many grants start (0: no limit)
	starts   atomic.Int64

	once    sync.Once
	stopped string
}

func (r *tokenRunner) stop(why string) { r.once.Do(func() { r.stopped = why }) }

// next waits for the next grant's start (pace.go) and answers its kind, its code or refresh
// token and how late it starts, or false when a bound is reached.
func (r *tokenRunner) next(ctx context.Context) (grantKind, string, time.Duration, bool) {
	i := r.starts.Add(1) - 1
	if r.limit > 0 && i >= r.limit {
		r.stop("count")
		return 0, "", 0, false
	}
	late, ok := r.pace.due(ctx)
	if !ok {
		r.stop(endReason(ctx))
		return 0, "", 0, false
	}
	k := grantKind(i % 2)
	select {
	case s := <-r.pool.of(k):
		return k, s, late, true
	default:
		r.stop(fmt.Sprintf("seeded %ss exhausted", k))
		return 0, "", 0, false
	}
}

// tokenStats are one worker's measurements: every grant, and each kind apart.
type tokenStats struct{ all, code, refresh stepStats }

// run runs -concurrency workers until a bound is reached and merges what they measured.
func (t *tokenLoad) run(ctx context.Context, c *config, cl *client) loadResult {
	r := &tokenRunner{c: cl, endpoint: t.endpoint, pool: t.pool, limit: int64(c.count)}
	reqCtx, cancel := context.WithTimeout(ctx, c.duration+requestTimeout+5*time.Second)
	defer cancel()
	stats := make([]tokenStats, c.concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	r.pace = newPacer(start, c.duration, c.rate)
	for i := range stats {
		wg.Go(func() { r.work(reqCtx, &stats[i]) })
	}
	wg.Wait()
	res := loadResult{elapsed: time.Since(start), stopped: r.stopped}
	var all tokenStats
	for i := range stats {
		all.all.merge(&stats[i].all)
		all.code.merge(&stats[i].code)
		all.refresh.merge(&stats[i].refresh)
	}
	res.steps = []namedStep{{"token (both grants)", &all.all}, {"code grant", &all.code}, {"refresh grant", &all.refresh}}
	return res
}

// work is one worker's loop: one grant after another until next says stop.
func (r *tokenRunner) work(ctx context.Context, ts *tokenStats) {
	for {
		k, secret, late, ok := r.next(ctx)
		if !ok {
			return
		}
		a, lacks := r.c.grant(ctx, r.endpoint, k, secret)
		a.took += late
		ts.all.addGrant(a, lacks)
		if k == codeGrant {
			ts.code.addGrant(a, lacks)
		} else {
			ts.refresh.addGrant(a, lacks)
		}
	}
}

// addGrant adds one token endpoint answer: a success is a 200 that lacks no token.
func (s *stepStats) addGrant(a answer, lacks string) {
	switch {
	case a.ok() && lacks == "":
		s.ok = append(s.ok, a.took)
		s.count(a.outcome())
	case a.ok():
		s.count(fmt.Sprintf("%d without %s", a.status, lacks))
	default:
		s.add(a, "")
	}
}
