package main

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/mail"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/otp"
	"github.com/twofold-auth/twofold/internal/password"
)

// BenchmarkServiceVerify is the second-factor step without HTTP: the account service on a
// SQLite file in the temporary directory (set TMPDIR to measure another disk), wired as
// `serve` wires it, 8 at once. Each operation uses one seeded sign-in of its own account, so the
// seeding (outside the timer) grows with b.N. Run it with -cpuprofile to see where the step's
// time goes.
func BenchmarkServiceVerify(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	db, err := openDatabase(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	outbox, err := mail.NewOutbox(filepath.Join(dir, "outbox"), "Twofold <twofold@localhost>", time.Now)
	if err != nil {
		b.Fatal(err)
	}
	svc := account.New(account.Config{Store: db.st, Options: options.NewCache(db.st.Options, time.Now),
		Hasher: password.NewHasher(password.DefaultParams, 0, 2*time.Second, rand.Reader), Keys: db.keys,
		Mailer: outbox, BaseURL: "http://127.0.0.1:8080", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})

	// b.Loop is not usable with RunParallel; the seeding depends on b.N, which grows per round.
	n := b.N
	if _, err := db.ensureAccounts(ctx, n, defaultBatch, io.Discard); err != nil {
		b.Fatal(err)
	}
	accts, err := db.pickAccounts(ctx, n, n)
	if err != nil {
		b.Fatal(err)
	}
	if len(accts) < n {
		b.Skipf("only %d of %d accounts usable in this TOTP step", len(accts), n)
	}
	if err := db.seedSessions(ctx, accts); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.SetParallelism(4) // 8 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a := accts[next.Add(1)-1]
			st, err := svc.Verify(ctx, a.token, otp.TOTP(a.key, time.Now(), otp.Default), "")
			if err != nil || st.Next != stepDone {
				b.Errorf("Verify = %+v, %v", st, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
}
