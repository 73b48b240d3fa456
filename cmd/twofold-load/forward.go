package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twofold-auth/twofold/internal/authz"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/store"
)

// The forward mode measures the reverse-proxy check (SPEC §6 "Applications", §8): nginx's
// auth_request endpoint asked about one protected address, again and again, with the cookie
// of one finished session that proved a second factor, from 127.0.0.1 (which the server the
// tool starts trusts with --trusted-proxies 127.0.0.1/32). The session is seeded straight
// into the database right before the measurement; the rules are the data folder's, which must
// hold no bypass rule (a bypass would measure no session), and the default policy is set to
// -policy (two_factor unless told), so that every answer is the session's 200.

const (
	// forwardPath is the endpoint asked: nginx's.
	forwardPath = "/api/v1/authz/auth-request"
	// forwardTarget is the address the proxy asks about; no rule names its host.
	forwardTarget = "https://app.twofold-load.test/dashboard?tab=1"
)

// forwardTrusted is what serve is given for the forward mode: the tool asks from loopback.
var forwardTrusted = []string{"--trusted-proxies", "127.0.0.1/32"}

// prepareForward checks the rules, sets accessDefaultPolicy and seeds one finished session of
// acct with amr pwd otp mfa, answering its cookie.
func prepareForward(ctx context.Context, c *config, db *database, acct *loadAccount, rep *report) (string, error) {
	rules, err := db.st.AccessRules(ctx)
	if err != nil {
		return "", err
	}
	for i, r := range rules {
		if r.Policy == authz.Bypass {
			return "", fmt.Errorf("-mode forward: access rule %d is a bypass rule; the measurement needs a data folder without one (remove it with twofold rule remove %d)", i+1, i+1)
		}
	}
	if err := db.st.SetOption(ctx, options.AccessDefaultPolicy, c.policy); err != nil {
		return "", err
	}
	token, hash, err := newToken()
	if err != nil {
		return "", err
	}
	var sid [16]byte
	if _, err := io.ReadFull(rand.Reader, sid[:]); err != nil {
		return "", err
	}
	now := time.Now()
	err = db.st.Update(ctx, func(q store.Queries) error {
		return q.CreateSession(ctx, &store.Session{IDHash: hash, UserID: acct.id, Done: true, MFAPassed: true,
			SID: hex.EncodeToString(sid[:]), AMR: loadAMR, CreatedAt: now, LastSeenAt: now})
	})
	if err != nil {
		return "", fmt.Errorf("seeding the session: %w", err)
	}
	rep.endpoint = fmt.Sprintf("%s (X-Original-URL %s), %d access rules, accessDefaultPolicy %s, session of %s",
		forwardPath, forwardTarget, len(rules), c.policy, acct.username)
	return token, nil
}

// ask sends one auth-request question with the session cookie and answers what came back:
// a success is a 200 that names the account in Remote-User.
func (c *client) ask(ctx context.Context, token, username string) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+forwardPath, nil)
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("X-Original-URL", forwardTarget)
	req.Header.Set("X-Original-Method", "GET")
	req.AddCookie(&http.Cookie{Name: cookieName, Value: token})
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{err: err, took: time.Since(start)}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	a := answer{status: resp.StatusCode, took: time.Since(start)}
	if a.ok() && resp.Header.Get("Remote-User") != username {
		a.code = "without Remote-User " + username
	}
	return a
}

// forwardRun asks until a bound is reached, -concurrency at once, paced by -rate when given.
func forwardRun(ctx context.Context, c *config, cl *client, token, username string) loadResult {
	reqCtx, cancel := context.WithTimeout(ctx, c.duration+requestTimeout+5*time.Second)
	defer cancel()
	var starts atomic.Int64
	var once sync.Once
	stopped := ""
	stop := func(why string) { once.Do(func() { stopped = why }) }
	stats := make([]stepStats, c.concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	pace := newPacer(start, c.duration, c.rate)
	for i := range stats {
		wg.Go(func() {
			for {
				if c.count > 0 && starts.Add(1) > int64(c.count) {
					stop("count")
					return
				}
				late, ok := pace.due(reqCtx)
				if !ok {
					stop(endReason(reqCtx))
					return
				}
				a := cl.ask(reqCtx, token, username)
				a.took += late
				if a.ok() && a.code != "" {
					stats[i].count(fmt.Sprintf("%d %s", a.status, a.code))
					continue
				}
				stats[i].add(a, "")
			}
		})
	}
	wg.Wait()
	res := loadResult{elapsed: time.Since(start), stopped: stopped}
	var all stepStats
	for i := range stats {
		all.merge(&stats[i])
	}
	res.steps = []namedStep{{"forward auth", &all}}
	return res
}

// checkPolicy refuses a -policy the forward mode cannot measure with.
func checkPolicy(p string) error {
	if p != authz.OneFactor && p != authz.TwoFactor {
		return errors.New("-policy must be one_factor or two_factor (deny would measure refusals)")
	}
	return nil
}
