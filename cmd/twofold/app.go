package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
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
	"github.com/twofold-auth/twofold/internal/store/sqlite"
)

// common are the settings every command takes.
type common struct {
	data    string
	db      string
	mail    string
	baseURL string
}

// app is Twofold wired together: the only place where parts meet.
type app struct {
	store   store.Store
	svc     *account.Service
	hasher  *password.Hasher
	log     *slog.Logger
	baseURL string
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
	// Every instance must seal and open with the key the database was written with.
	stored, err := st.SetMetaOnce(ctx, "key_check", k.Check())
	if err != nil {
		st.Close()
		return nil, err
	}
	if stored != k.Check() {
		st.Close()
		return nil, errors.New("the server key does not match the one this database was written with: check TWOFOLD_SECRET_KEY or DATA/secret.key")
	}
	mailer, err := openMailer(c)
	if err != nil {
		st.Close()
		return nil, err
	}
	hasher := password.NewHasher(password.DefaultParams, 0, hashWait, rand.Reader)
	svc := account.New(account.Config{Store: st, Options: options.NewCache(st.Options, time.Now), Hasher: hasher,
		Keys: k, Mailer: mailer, BaseURL: c.baseURL, Logger: log})
	return &app{store: st, svc: svc, hasher: hasher, log: log, baseURL: c.baseURL}, nil
}

func openStore(ctx context.Context, c common) (store.Store, bool, error) {
	switch {
	case c.db == "":
		st, err := sqlite.Open(ctx, filepath.Join(c.data, "twofold.db"))
		return st, true, err
	case strings.HasPrefix(c.db, "sqlite:"), strings.HasPrefix(c.db, "file:"):
		u, err := url.Parse(c.db)
		if err != nil {
			return nil, false, fmt.Errorf("--db: %w", err)
		}
		path := u.Opaque
		if path == "" {
			path = u.Path
		}
		st, err := sqlite.Open(ctx, path)
		return st, true, err
	case strings.HasPrefix(c.db, "postgres://"), strings.HasPrefix(c.db, "postgresql://"):
		return nil, false, errors.New("--db: PostgreSQL is not available in this build yet; use the embedded SQLite database")
	default:
		return nil, false, errors.New("--db: give sqlite:PATH or postgres://...")
	}
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

func openMailer(c common) (mail.Mailer, error) {
	from := os.Getenv("TWOFOLD_MAIL_FROM")
	if from == "" {
		from = "Twofold <twofold@localhost>"
	}
	switch {
	case c.mail == "" || c.mail == "outbox":
		return mail.NewOutbox(filepath.Join(c.data, "outbox"), from, time.Now)
	case strings.HasPrefix(c.mail, "smtp://"), strings.HasPrefix(c.mail, "smtps://"):
		return nil, errors.New("--mail: SMTP delivery is not available in this build yet; use outbox")
	default:
		return nil, errors.New("--mail: give outbox or smtp://USER:PASS@HOST:PORT")
	}
}

func (a *app) Close() error { return a.store.Close() }
