// Package app is Twofold wired together, the one place where its parts meet: the store, the
// server key, the options cache, the password hasher, the mailer and the service, and for a
// server the JSON API, the pages and sign-in through the identity provider behind one
// cross-origin protection. `twofold serve` and the other commands open it, and so does every
// test that needs more than one part, so that the tests run what production runs.
package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	netmail "net/mail"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/twofold-auth/twofold/internal/access"
	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/baseurl"
	"github.com/twofold-auth/twofold/internal/clock"
	"github.com/twofold-auth/twofold/internal/cookie"
	"github.com/twofold-auth/twofold/internal/httpapi"
	"github.com/twofold-auth/twofold/internal/keys"
	"github.com/twofold-auth/twofold/internal/mail"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/password"
	"github.com/twofold-auth/twofold/internal/provider"
	"github.com/twofold-auth/twofold/internal/sso"
	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/postgres"
	"github.com/twofold-auth/twofold/internal/store/sqlite"
	"github.com/twofold-auth/twofold/internal/store/sqlstore"
	"github.com/twofold-auth/twofold/internal/web"
)

// Config is what Twofold is opened with. A field left zero takes the default its comment names.
type Config struct {
	// Data is the data folder: the SQLite database, the outbox, the server key.
	Data string
	// DB is the database: "" for SQLite in Data, sqlite:PATH, or postgres://...
	DB string
	// SecretKey is the server key in hex; "" reads (or makes) Data/secret.key with SQLite and
	// is refused with PostgreSQL, where every instance must be given the same key.
	SecretKey string
	// Mail is "" or "outbox" for the outbox folder, or smtp://... for delivery from a queue;
	// MailFrom is the sender, an address such as "Twofold <twofold@example.org>" (required).
	Mail     string
	MailFrom string
	// WrapMail, when set, is given the mailer that Mail names and answers the one the service
	// uses (tests record what is sent this way).
	WrapMail func(mail.Mailer) mail.Mailer
	// BaseURL is where people reach the pages; "" means http:// and the listen address, or
	// DefaultBaseURL without one.
	BaseURL string
	// Clock is the time of the service, the options cache, the mail and the sweeps.
	Clock clock.Clock
	// Random is the service's and the new server key's source of randomness (crypto/rand).
	Random io.Reader
	// Hashing is argon2id's cost (password.DefaultParams); HashWorkers bounds the hashes run
	// at once (one per p.Threads cores); HashWait is how long a caller may wait for a worker (2 seconds;
	// negative: not at all); Salts is where salts come from (crypto/rand).
	Hashing     password.Params
	HashWorkers int
	HashWait    time.Duration
	Salts       io.Reader
	// Logger receives what the parts log (slog's default).
	Logger *slog.Logger

	// Addr, or an open Listener, makes a server; without either the app has no HTTP parts
	// (the command-line commands). Port 0 takes any free port.
	Addr     string
	Listener net.Listener
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// SSO is sign-in through the identity provider; no Issuer, none.
	SSO SSO
	// CookieDomain, when set, makes the session cookie cover that domain and the hosts below
	// it (SPEC §8); the base URL's host must be under it.
	CookieDomain string
	// Access, when set, is where forward auth's rules come from in place of the app's own
	// (tests give fixed rules with access.Static).
	Access access.Source
}

// SSO is how the server signs people in through an OpenID Connect identity provider.
type SSO struct {
	Issuer, ClientID, ClientSecret string
	// RedirectURL is the callback registered at the provider ("": BaseURL/api/v1/sso/callback).
	RedirectURL string
	// UsernameClaim is the claim that holds the username ("": preferred_username, else a
	// verified email).
	UsernameClaim string
	// HTTPClient and Now, when set, replace the client's own (tests reach a provider with them).
	HTTPClient *http.Client
	Now        func() time.Time
}

// SettingsError is a setting that cannot work as given; the command line answers it as a
// usage error.
type SettingsError struct{ Err error }

// Error answers the setting's error.
func (e *SettingsError) Error() string { return e.Err.Error() }

// Unwrap answers the setting's error, for errors.Is and errors.As.
func (e *SettingsError) Unwrap() error { return e.Err }

// App is Twofold opened: its parts, for the commands and tests that use them.
type App struct {
	Data    string
	BaseURL string
	Store   store.Store
	Keys    *keys.Keys
	Options *options.Cache
	Hasher  *password.Hasher
	// Mailer is what the service sends with; Queue is the SMTP queue (nil in outbox mode) and
	// Outbox the outbox folder.
	Mailer  mail.Mailer
	Queue   *mail.Queue
	Outbox  string
	Service *account.Service
	// Rules keeps the access rules of forward auth (SPEC §8) and answers those in force.
	Rules *access.Service
	// Provider is the OpenID Connect provider (SPEC §7); nil when the base URL cannot be an
	// issuer (http on a host that is not a loopback address).
	Provider *provider.Provider
	// CookieDomain is the session cookie's domain ("": the base URL's host alone).
	CookieDomain string
	// Access is where forward auth's rules come from: Config.Access, or else Rules.
	Access access.Source
	// Registry holds the metrics that /metrics answers.
	Registry *prometheus.Registry
	Clock    clock.Clock
	Log      *slog.Logger

	// The server's parts, nil without an address.
	API     *httpapi.API
	Pages   *web.Handler
	SSO     *sso.Client
	Handler http.Handler
	random  io.Reader
	ln      net.Listener
	srv     *http.Server
	idle    idleMemory
}

// DefaultBaseURL is the base URL of commands run without one.
const DefaultBaseURL = "http://127.0.0.1:8080"

// hashWait is how long a sign-in may wait for a hashing worker before it is answered 503.
const hashWait = 2 * time.Second

// Open opens Twofold as c says. The caller closes it.
func Open(ctx context.Context, c Config) (_ *App, err error) {
	a := &App{Data: c.Data, Clock: c.Clock, Log: c.Logger, random: c.Random, ln: c.Listener}
	if a.Clock == nil {
		a.Clock = clock.Real{}
	}
	if a.Log == nil {
		a.Log = slog.Default()
	}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if a.ln == nil && c.Addr != "" {
		if a.ln, err = net.Listen("tcp", c.Addr); err != nil {
			return nil, err
		}
	}
	a.BaseURL = c.BaseURL
	switch {
	case a.BaseURL != "":
		if err := baseurl.Check(a.BaseURL); err != nil {
			return nil, &SettingsError{err}
		}
		a.BaseURL = baseurl.Canonical(a.BaseURL)
	case a.ln != nil:
		a.BaseURL = "http://" + a.ln.Addr().String() // port 0 is known only now
	default:
		a.BaseURL = DefaultBaseURL
	}
	if c.CookieDomain != "" {
		if a.CookieDomain, err = cookie.CheckDomain(c.CookieDomain, a.BaseURL); err != nil {
			return nil, &SettingsError{err}
		}
	}
	if err := os.MkdirAll(c.Data, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	st, err := OpenStore(ctx, c.Data, c.DB, a.keyCheck(c))
	if err != nil {
		return nil, err
	}
	a.Store = st
	if stored, err := st.Options(ctx); err == nil {
		for _, bad := range options.Invalid(stored) {
			a.Log.Warn("a stored option is not valid, and reads as its default until it is set again", "reason", bad)
		}
	}
	if unverifiedPostgres(c.DB) {
		a.Log.Warn("the PostgreSQL server's certificate is not checked: give sslmode=verify-full in --db (docs/SCALING.md)")
	}
	if err := a.Keys.Bind(ctx, st); err != nil { // records the key in a new database
		return nil, err
	}
	if err := a.openMailer(c); err != nil {
		return nil, err
	}
	params, wait := c.Hashing, c.HashWait
	if params == (password.Params{}) {
		params = password.DefaultParams
	}
	switch {
	case wait == 0:
		wait = hashWait
	case wait < 0:
		wait = 0
	}
	a.Hasher = password.NewHasher(params, c.HashWorkers, wait, c.Salts)
	a.Options = options.NewCache(st.Options, a.Clock.Now)
	a.Service = a.NewService(st, a.Options)
	a.Rules = access.New(access.Config{Store: st, Options: a.Options, Now: a.Clock.Now})
	if a.Access = c.Access; a.Access == nil {
		a.Access = a.Rules
	}
	a.Registry = prometheus.NewRegistry()
	a.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if m, ok := st.(interface{ Collectors() []prometheus.Collector }); ok { // SQLite's writer
		a.Registry.MustRegister(m.Collectors()...)
	}
	if err := provider.CheckIssuer(a.BaseURL); err != nil {
		a.Log.Warn("applications cannot sign in through Twofold", "reason", err)
	} else if a.Provider, err = provider.New(ctx, provider.Config{Store: st, Accounts: a.Service, Keys: a.Keys,
		Issuer: a.BaseURL, Registry: a.Registry, Now: a.Clock.Now, Rand: a.random, Logger: a.Log}); err != nil {
		return nil, err
	}
	if a.ln != nil {
		if err := a.wireHTTP(ctx, c); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// NewService makes a service over st, which is the app's store, a wrapper of it or another
// connection to its database, with the options cache opts (nil: one of its own over st) and
// the app's keys, hasher, mailer, clock and randomness.
func (a *App) NewService(st store.Store, opts *options.Cache) *account.Service {
	if opts == nil {
		opts = options.NewCache(st.Options, a.Clock.Now)
	}
	return account.New(account.Config{Store: st, Options: opts, Hasher: a.Hasher, Keys: a.Keys, Mailer: a.Mailer,
		BaseURL: a.BaseURL, CookieDomain: a.CookieDomain, Now: a.Clock.Now, Rand: a.random, Logger: a.Log, LogoutQueued: a.wakeLogouts})
}

// wakeLogouts tells this process's deliverer of back-channel logout notices that one was
// queued. A command has none running: a serving instance finds the notice at its next poll.
func (a *App) wakeLogouts() {
	if a.Provider != nil {
		a.Provider.Logouts().Wake()
	}
}

// OpenStore opens the database that db names ("" for SQLite in the data folder). checks run
// before any migration is applied, and may refuse it.
func OpenStore(ctx context.Context, data, db string, checks ...sqlstore.Check) (store.Store, error) {
	switch {
	case usesSQLite(db):
		path := filepath.Join(data, "twofold.db")
		if db != "" {
			var err error
			if path, err = SQLitePath(db); err != nil {
				return nil, err
			}
		}
		return opened(sqlite.Open(ctx, path, checks...))
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		return opened(postgres.Open(ctx, db, checks...))
	default:
		return nil, errors.New("--db: give sqlite:PATH or postgres://USER:PASSWORD@HOST:5432/DB")
	}
}

// opened answers a backend's Open as a store.Store: nil, not a nil pointer in the interface,
// with an error.
func opened[S store.Store](s S, err error) (store.Store, error) {
	if err != nil {
		return nil, err
	}
	return s, nil
}

// usesSQLite tells whether the database db names ("" for the data folder's) is SQLite.
func usesSQLite(db string) bool { return db == "" || IsSQLiteURL(db) }

// IsSQLiteURL tells whether a database URL names a SQLite file.
func IsSQLiteURL(db string) bool {
	return strings.HasPrefix(db, "sqlite:") || strings.HasPrefix(db, "file:")
}

// SQLitePath is the file a sqlite:PATH or file:PATH value names.
func SQLitePath(db string) (string, error) {
	u, err := url.Parse(db)
	if err != nil {
		return "", fmt.Errorf("--db: %w", err)
	}
	if u.Opaque != "" {
		return u.Opaque, nil
	}
	return u.Path, nil
}

// keyCheck is the check OpenStore runs before any migration: it loads the server key into
// a.Keys and refuses a database written with another key, so that a start refused for its key
// leaves the schema as it found it, for the instances of an older Twofold that may still run on
// it (docs/SCALING.md). A new database records the key later, in Bind, once it has a meta table.
func (a *App) keyCheck(c Config) sqlstore.Check {
	isSQLite := usesSQLite(c.DB)
	return func(ctx context.Context, meta func(context.Context, string) (string, bool, error)) error {
		stored, recorded, err := meta(ctx, keys.CheckMeta)
		if err != nil {
			return err
		}
		if a.Keys == nil { // SQLite runs the checks again after a busy answer
			if a.Keys, err = loadKeys(c, isSQLite, recorded, a.Log); err != nil {
				return err
			}
		}
		if recorded {
			return a.Keys.Matches(stored)
		}
		return nil
	}
}

// loadKeys answers the server key: TWOFOLD_SECRET_KEY, or with SQLite DATA/secret.key. The
// file is made only for a database that has recorded no key (recorded false): for one that has,
// a new key could open none of its TOTP keys, and would stand where the real one is restored.
func loadKeys(c Config, isSQLite, recorded bool, log *slog.Logger) (*keys.Keys, error) {
	if c.SecretKey != "" {
		k, err := keys.Parse(c.SecretKey)
		if err != nil {
			return nil, fmt.Errorf("TWOFOLD_SECRET_KEY: %w", err)
		}
		return k, nil
	}
	if !isSQLite {
		return nil, errors.New("TWOFOLD_SECRET_KEY is required with PostgreSQL (64 hex characters, as `openssl rand -hex 32` prints)")
	}
	file := filepath.Join(c.Data, "secret.key")
	if recorded {
		k, err := keys.LoadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("the database was written with a server key, but %s is missing: restore it from a backup (or give the key as TWOFOLD_SECRET_KEY); a new key could not read the TOTP keys", file)
		}
		return k, err
	}
	k, created, err := keys.LoadOrCreateFile(file, orRand(c.Random))
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("made a new server key; back it up: without it no TOTP key can be read", "file", file)
	}
	return k, nil
}

func orRand(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}

// openMailer makes the outbox, or with Mail smtp://... the SMTP queue, and wraps it as
// WrapMail says.
func (a *App) openMailer(c Config) error {
	if _, err := netmail.ParseAddress(c.MailFrom); err != nil {
		return fmt.Errorf("--mail-from: %q is not an address such as \"Twofold <twofold@example.org>\"", c.MailFrom)
	}
	a.Outbox = filepath.Join(c.Data, "outbox")
	switch {
	case c.Mail == "" || c.Mail == "outbox":
		o, err := mail.NewOutbox(a.Outbox, c.MailFrom, a.Clock.Now, a.Log)
		if err != nil {
			return err
		}
		a.Mailer = o
	case IsSMTP(c.Mail):
		q, err := OpenQueue(c.Data, c.Mail, c.MailFrom, a.Log)
		if err != nil {
			return err
		}
		a.Mailer, a.Queue = q, q
	default:
		return errors.New("--mail: give outbox or smtp://USER:PASS@HOST:PORT")
	}
	if c.WrapMail != nil {
		a.Mailer = c.WrapMail(a.Mailer)
	}
	return nil
}

// IsSMTP tells whether a Mail setting delivers over SMTP.
func IsSMTP(m string) bool {
	return strings.HasPrefix(m, "smtp://") || strings.HasPrefix(m, "smtps://")
}

// QueueDir is the SMTP queue's folder: beside the outbox of outbox mode, never inside its
// *.eml, so that turning SMTP on does not mail what the outbox kept.
func QueueDir(data string) string { return filepath.Join(data, "outbox", "queue") }

// OpenQueue makes the SMTP queue of an smtp://... Mail setting.
func OpenQueue(data, smtpURL, from string, log *slog.Logger) (*mail.Queue, error) {
	tr, err := mail.ParseSMTPURL(smtpURL)
	if err != nil {
		return nil, fmt.Errorf("--mail: %w", err)
	}
	q, err := mail.NewQueue(mail.QueueConfig{Dir: QueueDir(data), From: from, Transport: tr, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("--mail: %w", err)
	}
	return q, nil
}

// flushBudget bounds how long closing tries to deliver the mail written; what the SMTP server
// did not take waits in the queue for a server (or `mail deliver`).
const flushBudget = 15 * time.Second

// FlushMail delivers what waits in the SMTP queue, for at most 15 seconds, and answers how many
// messages still wait (none in outbox mode).
func (a *App) FlushMail() int {
	if a.Queue == nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), flushBudget)
	defer cancel()
	n := a.Queue.Flush(ctx)
	if n > 0 {
		a.Log.Warn("mail waits in the queue: a running server delivers it, or `twofold mail deliver`; see `twofold mail status`",
			"waiting", n, "dir", a.Queue.Dir())
	}
	return n
}

// Close stops the server if it runs, delivers the mail written (as FlushMail) and closes the
// store.
func (a *App) Close() error {
	if a.srv != nil {
		a.srv.Close()
	}
	if a.ln != nil {
		a.ln.Close() // Serve may not have been called, so the server may not hold it
	}
	a.FlushMail()
	if a.Store == nil {
		return nil
	}
	return a.Store.Close()
}
