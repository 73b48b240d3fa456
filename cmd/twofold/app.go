package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/keys"
	"github.com/twofold-auth/twofold/internal/mail"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/password"
	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/postgres"
	"github.com/twofold-auth/twofold/internal/store/sqlite"
)

// common are the settings every command takes.
type common struct {
	data     string
	db       string
	mail     string
	mailFrom string
	baseURL  string
}

// app is Twofold wired together: the only place where parts meet.
type app struct {
	store   store.Store
	svc     *account.Service
	hasher  *password.Hasher
	log     *slog.Logger
	baseURL string
	keys    *keys.Keys
	// outbox is the outbox folder, where mail goes in outbox mode.
	outbox string
	// queue delivers mail over SMTP; nil in outbox mode.
	queue *mail.Queue
}

// hashWait is how long a sign-in may wait for a hashing worker before it is answered 503.
const hashWait = 2 * time.Second

func open(ctx context.Context, c common, log *slog.Logger) (*app, error) {
	if c.baseURL == "" {
		c.baseURL = "http://127.0.0.1:8080"
	}
	if err := os.MkdirAll(c.data, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	st, isSQLite, err := openStore(ctx, c)
	if err != nil {
		return nil, err
	}
	k, err := loadKeys(c.data, isSQLite, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	if err := k.Bind(ctx, st); err != nil {
		st.Close()
		return nil, err
	}
	mailer, queue, err := openMailer(c, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	hasher := password.NewHasher(password.DefaultParams, 0, hashWait, rand.Reader)
	svc := account.New(account.Config{Store: st, Options: options.NewCache(st.Options, time.Now), Hasher: hasher,
		Keys: k, Mailer: mailer, BaseURL: c.baseURL, Logger: log})
	return &app{store: st, svc: svc, hasher: hasher, log: log, baseURL: c.baseURL, keys: k, queue: queue,
		outbox: filepath.Join(c.data, "outbox")}, nil
}

func openStore(ctx context.Context, c common) (store.Store, bool, error) {
	switch {
	case c.db == "":
		st, err := sqlite.Open(ctx, filepath.Join(c.data, "twofold.db"))
		return st, true, err
	case isSQLiteURL(c.db):
		path, err := sqlitePath(c.db)
		if err != nil {
			return nil, false, err
		}
		st, err := sqlite.Open(ctx, path)
		return st, true, err
	case strings.HasPrefix(c.db, "postgres://"), strings.HasPrefix(c.db, "postgresql://"):
		st, err := postgres.Open(ctx, c.db)
		if err != nil {
			return nil, false, err
		}
		return st, false, nil
	default:
		return nil, false, errors.New("--db: give sqlite:PATH or postgres://...")
	}
}

// isSQLiteURL tells whether a --db value names a SQLite file.
func isSQLiteURL(db string) bool {
	return strings.HasPrefix(db, "sqlite:") || strings.HasPrefix(db, "file:")
}

// sqlitePath is the file a sqlite:PATH or file:PATH value names.
func sqlitePath(db string) (string, error) {
	u, err := url.Parse(db)
	if err != nil {
		return "", fmt.Errorf("--db: %w", err)
	}
	if u.Opaque != "" {
		return u.Opaque, nil
	}
	return u.Path, nil
}

func loadKeys(data string, isSQLite bool, log *slog.Logger) (*keys.Keys, error) {
	if hex := os.Getenv("TWOFOLD_SECRET_KEY"); hex != "" {
		k, err := keys.Parse(hex)
		if err != nil {
			return nil, fmt.Errorf("TWOFOLD_SECRET_KEY: %w", err)
		}
		return k, nil
	}
	if !isSQLite {
		return nil, errors.New("TWOFOLD_SECRET_KEY is required with PostgreSQL (64 hex characters, as `openssl rand -hex 32` prints)")
	}
	k, created, err := keys.LoadOrCreateFile(filepath.Join(data, "secret.key"), rand.Reader)
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("made a new server key; back it up: without it no TOTP key can be read", "file", filepath.Join(data, "secret.key"))
	}
	return k, nil
}

// openMailer answers the outbox, or with --mail smtp://... the SMTP queue (also as the second
// answer, for serve to run and commands to flush).
func openMailer(c common, log *slog.Logger) (mail.Mailer, *mail.Queue, error) {
	if _, err := netmail.ParseAddress(c.mailFrom); err != nil {
		return nil, nil, fmt.Errorf("--mail-from: %q is not an address such as \"Twofold <twofold@example.org>\"", c.mailFrom)
	}
	switch {
	case c.mail == "" || c.mail == "outbox":
		o, err := mail.NewOutbox(filepath.Join(c.data, "outbox"), c.mailFrom, time.Now)
		return o, nil, err
	case isSMTP(c.mail):
		q, err := openQueue(c, log)
		return q, q, err
	default:
		return nil, nil, errors.New("--mail: give outbox or smtp://USER:PASS@HOST:PORT")
	}
}

func (a *app) Close() error {
	a.flushMail()
	return a.store.Close()
}
