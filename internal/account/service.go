// Package account is Twofold's service: accounts, the sign-in steps, enrolment, second-factor
// verification, lockouts, the MFA policy, administration and the audit trail. It knows no HTTP
// and no SQL: handlers call it, and it calls a store.Store.
package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/keys"
	"github.com/twofold-auth/twofold/internal/mail"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/password"
	"github.com/twofold-auth/twofold/internal/store"
)

// Sign-in steps (SPEC §3, §4).
const (
	StepEnroll         = "mfa_enroll"
	StepEnrollOptional = "mfa_enroll_optional"
	StepVerify         = "mfa_verify"
	StepChangePassword = "change_password"
	StepDone           = "done"
)

// Session lifetimes (SPEC §5 "Sessions").
const (
	SignInLifetime  = 10 * time.Minute
	SessionIdle     = 30 * time.Minute
	SessionLifetime = 12 * time.Hour

	// touchEvery is how stale a session's last use may be before a request writes it again,
	// so that a busy session does not write on every request.
	touchEvery = time.Minute
)

// Config holds what a Service needs.
type Config struct {
	Store   store.Store
	Options *options.Cache
	Hasher  *password.Hasher
	Keys    *keys.Keys
	Mailer  mail.Mailer
	// BaseURL is where the pages are served, for links in mail (never taken from a request).
	BaseURL string
	// CookieDomain is the session cookie's domain (--cookie-domain, SPEC §8), checked to be
	// the base URL's host or above it; "" without one. A finished sign-in may return to an
	// address on it (ReturnTarget).
	CookieDomain string
	Now          func() time.Time
	Rand         io.Reader
	Logger       *slog.Logger
	// LogoutQueued, when set, is called after a commit that may have queued back-channel
	// logout notices, to wake their deliverer (the provider's); without it they wait for its
	// next poll.
	LogoutQueued func()
}

// Service carries out every use case.
type Service struct {
	store   store.Store
	opts    *options.Cache
	hasher  *password.Hasher
	keys    *keys.Keys
	mailer  mail.Mailer
	baseURL string
	// cookieDomain is Config.CookieDomain in lower case; returnScheme the scheme an address
	// to return to must have: the base URL's.
	cookieDomain string
	returnScheme string
	now          func() time.Time
	rand         io.Reader
	log          *slog.Logger

	logoutQueued func()

	// wa is the WebAuthn relying party (SPEC §9); nil when its id would be an IP address, and
	// then no security key is offered.
	wa *webauthn.WebAuthn
}

// New makes a Service. Now, Rand and Logger default to the clock, crypto/rand and slog's default.
func New(c Config) *Service {
	s := &Service{store: c.Store, opts: c.Options, hasher: c.Hasher, keys: c.Keys, mailer: c.Mailer,
		baseURL: strings.TrimRight(c.BaseURL, "/"), now: c.Now, rand: c.Rand, log: c.Logger,
		logoutQueued: c.LogoutQueued, cookieDomain: strings.ToLower(strings.TrimPrefix(c.CookieDomain, ".")),
		returnScheme: "https"}
	if strings.HasPrefix(c.BaseURL, "http://") {
		s.returnScheme = "http"
	}
	if s.now == nil {
		s.now = time.Now
	}
	// An error here is a relying party id the library refuses: keys are then not offered.
	s.wa, _ = relyingParty(c.BaseURL, s.cookieDomain)
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s
}

// Actor is who asks for an administrative change: a signed-in account or the command line.
type Actor struct {
	Name  string
	Admin bool
	// UserID is the signed-in account's id, and 0 for the command line and the server itself,
	// whose names ("cli", "system") an account may also have: "is this the actor's own
	// account" compares ids, never names.
	UserID int64
}

// CLI is the actor of the command line, which works on the database directly.
var CLI = Actor{Name: "cli", Admin: true}

var usernameRE = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// NormalizeUsername checks the username rule of SPEC §1 and answers the name in lower case.
func NormalizeUsername(name string) (string, error) {
	if !usernameRE.MatchString(name) {
		return "", errs.E(errs.Invalid, "A username is 1 to 64 characters of letters, digits, '.', '_', '-' and '@'.")
	}
	return strings.ToLower(name), nil
}

// newToken makes a session id: 256 random bits, of which only the SHA-256 hash is stored.
func (s *Service) newToken() (token string, hash []byte, err error) {
	var b [32]byte
	if _, err := io.ReadFull(s.rand, b[:]); err != nil {
		return "", nil, fmt.Errorf("session id: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, hashToken(token), nil
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// validToken tells apart a cookie we could have issued from junk, so that junk costs no query.
func validToken(token string) bool {
	if len(token) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(token)
	return err == nil
}

// ErrPasswordFirst is StepUp's answer when the account has no second factor to prove, so that
// the step-up would enrol one: adding a second factor needs the password (SPEC §4, §9: a stolen
// session alone cannot add one). The person signs in again, for an application that needs a
// second factor (SignInRequest.RequireMFA), and enrols in that sign-in.
var ErrPasswordFirst = errors.New("account: enrolling a second factor needs the password first")

var errNotSignedIn = errs.E(errs.NotSignedIn, "You are not signed in, or your sign-in has expired. Please sign in again.")

// current loads the sign-in or session of token and its account, ending it when it expired.
func (s *Service) current(ctx context.Context, token string) (*store.Session, *store.User, error) {
	if !validToken(token) {
		return nil, nil, errNotSignedIn
	}
	hash := hashToken(token)
	sess, u, err := s.liveSession(ctx, s.store, hash)
	if err != nil {
		return nil, nil, s.endExpired(ctx, hash, err)
	}
	return sess, u, nil
}

// errExpired is liveSession's answer for a sign-in or session past its time: endExpired removes
// it, and the caller is answered errNotSignedIn.
var errExpired = errors.New("sign-in or session expired")

// liveSession reads the sign-in or session of hash and its account with q (the store, or a
// transaction, where it locks the account), refusing one that has expired (errExpired) or whose
// account is disabled.
func (s *Service) liveSession(ctx context.Context, q store.Queries, hash []byte) (*store.Session, *store.User, error) {
	// One read for both: a session's account is always there (removing an account removes its
	// sessions), so not found means no such session.
	sess, u, err := q.SessionUser(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, errNotSignedIn
	}
	if err != nil {
		return nil, nil, err
	}
	// LastSeenAt of a sign-in in progress is when it began (store.Session): its password step,
	// or the StepUp that sent a finished session back for a second factor; its steps leave it
	// as it is.
	now := s.now()
	expired := now.Sub(sess.CreatedAt) > SessionLifetime ||
		!sess.Done && now.Sub(sess.LastSeenAt) > SignInLifetime ||
		sess.Done && now.Sub(sess.LastSeenAt) > SessionIdle
	if expired {
		return nil, nil, errExpired
	}
	if u.Disabled {
		return nil, nil, errNotSignedIn
	}
	return sess, u, nil
}

// stillLive is liveSession inside a transaction of a request that read the sign-in or session
// of hash before it: it reads it again with its account, locked until commit, and refuses it
// when it has ended since. A change of the account's standing (a reset second factor, a new
// password, disabling) ends every session in a transaction of its own, and nothing the request
// would add may outlive it (SPEC §3, §5, §7). One that expired meanwhile is errNotSignedIn here,
// and removed at its next use (current).
func (s *Service) stillLive(ctx context.Context, q store.Queries, hash []byte) (*store.Session, *store.User, error) {
	sess, u, err := s.liveSession(ctx, q, hash)
	if errors.Is(err, errExpired) {
		return nil, nil, errNotSignedIn
	}
	return sess, u, err
}

// endExpired answers err, after removing the sign-in or session of hash when err says it
// expired, as errNotSignedIn.
func (s *Service) endExpired(ctx context.Context, hash []byte, err error) error {
	if !errors.Is(err, errExpired) {
		return err
	}
	if err := s.store.DeleteSession(ctx, hash); err != nil {
		return err
	}
	return errNotSignedIn
}

// audit records an event; inside a transaction when q is one.
func (s *Service) audit(ctx context.Context, q store.Queries, actor, user, action, detail string) error {
	return q.AddEvent(ctx, &store.Event{At: s.now(), Actor: actor, User: user, Action: action, Detail: detail})
}

// hashPassword hashes on the bounded workers, turning saturation into 503 unavailable.
func (s *Service) hashPassword(ctx context.Context, pw string) (string, error) {
	h, err := s.hasher.Hash(ctx, pw)
	if errors.Is(err, password.ErrBusy) {
		return "", busy()
	}
	return h, err
}

func busy() error {
	return &errs.Error{Code: errs.Unavailable, Message: "The server is busy. Please try again in a moment.",
		RetryAfter: time.Second}
}

// checkNewPassword applies the password rules of SPEC §5.
func checkNewPassword(pw, username string) error {
	if err := password.Check(pw, username); err != nil {
		return errs.E(errs.Invalid, "%s", err.Error())
	}
	return nil
}

// temporaryPassword makes and hashes a temporary password and says until when it works.
func (s *Service) temporaryPassword(ctx context.Context, o *options.Values) (pw, hash string, expires time.Time, err error) {
	pw, err = password.Temporary(s.rand)
	if err != nil {
		return "", "", time.Time{}, err
	}
	hash, err = s.hashPassword(ctx, pw)
	if err != nil {
		return "", "", time.Time{}, err
	}
	return pw, hash, s.now().Add(o.TemporaryPasswordLifetime()), nil
}

// Now answers the service's clock, so that pages say "in 15 minutes" by the same clock that
// set a lock.
func (s *Service) Now() time.Time { return s.now() }
