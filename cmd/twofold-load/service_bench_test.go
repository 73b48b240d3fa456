package main

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/otp"
)

// BenchmarkServiceVerify is the second-factor step without HTTP: the account service on a
// SQLite file in the temporary directory (set TMPDIR to measure another disk), wired as
// `serve` wires it, 8 at once. Each operation uses one seeded sign-in of its own account, so the
// seeding (outside the timer) grows with b.N. Run it with -cpuprofile to see where the step's
// time goes.
func BenchmarkServiceVerify(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	db, err := openDatabase(ctx, dir, "")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	svc := db.app.Service

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
