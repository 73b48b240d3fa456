// Package apptest opens Twofold's one wiring (package app) for tests: in a new temporary data
// folder, with cheap hashing and no log unless told otherwise, and closed when the test ends.
// Serve also answers HTTP on a free port of 127.0.0.1, as `twofold serve --addr 127.0.0.1:0`.
//
// It also runs the programs the process-level tests talk to, each until the test ends: the
// twofold binary (BuildBinary, StartServe), nginx (StartNginx) and any other (StartProcess),
// found by Need.
package apptest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"testing"

	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/password"
)

// CheapHashing keeps argon2id fast in tests; the real cost is the password package's concern.
var CheapHashing = password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

// Open opens c for t, filling what c leaves empty: Data a new temporary folder, MailFrom
// "Twofold <twofold@localhost>", Hashing CheapHashing, Logger one that drops everything.
func Open(t testing.TB, c app.Config) *app.App {
	t.Helper()
	if c.Data == "" {
		c.Data = t.TempDir()
	}
	if c.MailFrom == "" {
		c.MailFrom = "Twofold <twofold@localhost>"
	}
	if c.Hashing == (password.Params{}) {
		c.Hashing = CheapHashing
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	a, err := app.Open(context.Background(), c)
	if err != nil {
		t.Fatalf("open Twofold: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// Serve is Open with a server on 127.0.0.1 (unless c names a listener), answering until the
// test ends.
func Serve(t testing.TB, c app.Config) *app.App {
	t.Helper()
	if c.Listener == nil && c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	a := Open(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return a
}

// Logs keeps what a server logs, for a test to read; it is safe for the server's goroutines.
type Logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write keeps p.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String answers everything logged so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
