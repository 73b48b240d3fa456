package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/zitadel/oidc/v3/pkg/crypto"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-auth/twofold/internal/loopback"
	"github.com/twofold-auth/twofold/internal/mail"
	"github.com/twofold-auth/twofold/internal/store"
)

// Back-channel logout (SPEC §7 "Logout", OpenID Connect Back-Channel Logout 1.0). The account
// service queues a notice in the transaction that ends a session (account/session.go,
// sessionsEnded), whatever ended it and whichever process: a command only queues; a session
// that expired is told by the minute sweep (account's Sweep), in the transaction that removes
// its record of applications. Every serving instance delivers from that queue in the
// database, as mail is delivered from its queue (SPEC §4): it polls each second and is woken
// at once by a notice queued in its own process, so a notice leaves within a second or two. A
// deliverer claims a notice with a conditional write that moves its due time a lease ahead, so
// that of several instances one alone sends it; one that dies while sending leaves it to be
// sent again when the lease ends.

// ActionLogoutFailed is the audit action of a notice given up: the application never took it
// in logoutGiveUp, or its URI may not be sent to.
const ActionLogoutFailed = "oidc.logout_failed"

const (
	// logoutPoll is how often a serving instance looks for notices due.
	logoutPoll = time.Second
	// logoutLease is how far a claim moves a notice's due time: well above logoutTimeout, so
	// that a live deliverer never loses its claim.
	logoutLease = 30 * time.Second
	// logoutTimeout bounds one delivery, connection and answer.
	logoutTimeout = 5 * time.Second
	// logoutGiveUp is how long after its session ended a notice is still tried.
	logoutGiveUp = 24 * time.Hour
	// logoutTokenLifetime is how long a logout token may be accepted.
	logoutTokenLifetime = 2 * time.Minute
	// logoutBatch bounds the notices one pass reads; logoutSenders the deliveries at once, so
	// that applications that do not answer hold a pass for at most a few timeouts.
	logoutBatch   = 100
	logoutSenders = 4
)

// logoutBackoff retries after about 1 s, 2 s, 4 s... and at least every 5 minutes.
var logoutBackoff = mail.Backoff{Base: time.Second, Max: 5 * time.Minute}

// Outcomes of a delivery, the label of the metric.
const (
	outcomeDelivered = "delivered" // the application answered 2xx
	outcomeRetry     = "retry"     // it did not; the notice is tried again later
	outcomeGaveUp    = "gave_up"   // still not after logoutGiveUp: the notice is dropped
	outcomeRefused   = "refused"   // the URI is not one Twofold sends to: the notice is dropped
)

// Logouts delivers the back-channel logout notices. Run is started by a serving instance;
// DeliverDue makes one pass, for tests and for Run.
type Logouts struct {
	p        *Provider
	client   *http.Client
	wake     chan struct{}
	outcomes *prometheus.CounterVec
}

func newLogouts(p *Provider) *Logouts {
	l := &Logouts{p: p, wake: make(chan struct{}, 1),
		client: &http.Client{
			Timeout: logoutTimeout,
			// An application's answer is its own: a redirect is not followed, and is no 2xx.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "twofold_oidc_backchannel_logout_total",
			Help: "Back-channel logout deliveries to applications, by outcome: delivered, retry, gave_up, refused."},
			[]string{"outcome"}),
	}
	for _, o := range []string{outcomeDelivered, outcomeRetry, outcomeGaveUp, outcomeRefused} {
		l.outcomes.WithLabelValues(o)
	}
	return l
}

// Logouts answers the provider's deliverer of back-channel logout notices.
func (p *Provider) Logouts() *Logouts { return p.logouts }

// Wake makes Run look for notices at once: one was queued in this process.
func (l *Logouts) Wake() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Run delivers notices until ctx ends: every logoutPoll (notices other processes queued, and
// retries falling due), and at once when Wake is called.
func (l *Logouts) Run(ctx context.Context) {
	t := time.NewTicker(logoutPoll)
	defer t.Stop()
	for {
		l.DeliverDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-l.wake:
		}
	}
}

// DeliverDue sends the notices due now, by the provider's clock, that no other deliverer has
// claimed, and answers how many the applications took.
func (l *Logouts) DeliverDue(ctx context.Context) int {
	ns, err := l.p.st.DueLogoutNotices(ctx, l.p.now(), logoutBatch)
	if err != nil {
		if ctx.Err() == nil {
			l.p.log.ErrorContext(ctx, "back-channel logout: the queue cannot be read", "err", err)
		}
		return 0
	}
	var (
		sent atomic.Int64
		wg   sync.WaitGroup
		busy = make(chan struct{}, logoutSenders)
	)
	for _, n := range ns {
		busy <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-busy; wg.Done() }()
			if l.deliver(ctx, n) {
				sent.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(sent.Load())
}

// deliver claims the notice and sends it; it answers whether the application took it. A
// failure is tried again after logoutBackoff, until logoutGiveUp after the session ended.
func (l *Logouts) deliver(ctx context.Context, n *store.LogoutNotice) bool {
	st, now := l.p.st, l.p.now()
	won, err := st.ClaimLogoutNotice(ctx, n.ID, n.NextAt, now.Add(logoutLease))
	if err != nil || !won { // an error: the notice stays due, for the next pass
		if err != nil && ctx.Err() == nil {
			l.p.log.ErrorContext(ctx, "back-channel logout: claim failed", "notice", n.ID, "err", err)
		}
		return false
	}
	detail := fmt.Sprintf("client %s; sid %s", n.ClientID, n.SID)
	c, err := st.Client(ctx, n.ClientID)
	if errors.Is(err, store.ErrNotFound) || err == nil && c.BackchannelLogoutURI == "" {
		l.drop(ctx, n) // removed meanwhile, or it takes no logout tokens any more
		return false
	}
	if err == nil && !sendable(c.BackchannelLogoutURI) {
		l.drop(ctx, n)
		l.outcomes.WithLabelValues(outcomeRefused).Inc()
		l.p.audit(ctx, n.UserID, ActionLogoutFailed, detail+"; the back-channel logout URI is not https (or http to a loopback address)")
		return false
	}
	if err == nil {
		var token string
		if token, err = l.token(ctx, n); err == nil {
			err = l.post(ctx, c.BackchannelLogoutURI, token)
		}
	}
	if err == nil {
		l.drop(ctx, n)
		l.outcomes.WithLabelValues(outcomeDelivered).Inc()
		l.p.audit(ctx, n.UserID, ActionLogout, detail)
		return true
	}
	if ctx.Err() != nil { // stopping: not the application's failure; the lease brings it back
		return false
	}
	attempts, reason := n.Attempts+1, clipReason(err)
	if now.Sub(n.CreatedAt) >= logoutGiveUp {
		l.drop(ctx, n)
		l.outcomes.WithLabelValues(outcomeGaveUp).Inc()
		l.p.audit(ctx, n.UserID, ActionLogoutFailed, fmt.Sprintf("%s; given up after %d attempts: %s", detail, attempts, reason))
		l.p.log.WarnContext(ctx, "back-channel logout given up", "client", n.ClientID, "attempts", attempts, "err", reason)
		return false
	}
	next := now.Add(logoutBackoff.Delay(attempts))
	l.outcomes.WithLabelValues(outcomeRetry).Inc()
	if err := st.RetryLogoutNotice(ctx, n.ID, attempts, next, reason); err != nil && !errors.Is(err, store.ErrNotFound) {
		l.p.log.ErrorContext(ctx, "back-channel logout: retry not recorded; the lease brings it back", "notice", n.ID, "err", err)
	}
	l.p.log.WarnContext(ctx, "back-channel logout not taken yet; it will be retried", "client", n.ClientID,
		"attempts", attempts, "next_try", next.UTC().Format(time.RFC3339), "err", reason)
	return false
}

// drop removes a notice that is settled.
func (l *Logouts) drop(ctx context.Context, n *store.LogoutNotice) {
	if err := l.p.st.DeleteLogoutNotice(ctx, n.ID); err != nil {
		l.p.log.ErrorContext(ctx, "back-channel logout: a settled notice stays; it may be sent again", "notice", n.ID, "err", err)
	}
}

// token makes the logout token of the notice, signed through the library with the current
// signing key, as ID tokens are.
func (l *Logouts) token(ctx context.Context, n *store.LogoutNotice) (string, error) {
	key, err := l.p.keys.signing(ctx)
	if err != nil {
		return "", err
	}
	signer, err := op.SignerFromKey(key)
	if err != nil {
		return "", err
	}
	jti, err := randomString(l.p.rand, 16)
	if err != nil {
		return "", err
	}
	now := l.p.now()
	claims := oidc.NewLogoutTokenClaims(l.p.issuer, n.Subject, oidc.Audience{n.ClientID}, now.Add(logoutTokenLifetime), jti, n.SID, 0)
	claims.IssuedAt = oidc.FromTime(now)
	return crypto.Sign(claims, signer)
}

// post sends the token as the specification says: a form POST of logout_token. Only a 2xx
// answer is taken. Errors never hold the token (it is in the body, never the URL).
func (l *Logouts) post(ctx context.Context, uri, token string) error {
	body := url.Values{"logout_token": {token}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := l.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the application answered %s", resp.Status)
	}
	return nil
}

// sendable reports whether a logout token may be sent to uri: https, or http to a loopback
// address, as registration demands (SPEC §7); checked again here, whatever the database holds.
func sendable(uri string) bool {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" || u.User != nil {
		return false
	}
	return u.Scheme == "https" || u.Scheme == "http" && loopback.Host(u.Hostname())
}

// clipReason is an error as the queue and the audit trail keep it: one line, at most 300
// bytes.
func clipReason(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
