package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/app/apptest"
	"github.com/twofold-auth/twofold/internal/password"
)

// serverBinary is the twofold server that TestMain built, "" under -short.
var serverBinary string

// TestMain builds the server once, before any test runs and outside every test's time bound,
// so that a slow (cold-cache, busy) build can neither eat a test's budget nor be cut short.
func TestMain(m *testing.M) {
	if isBaselineRun(os.Args[1:]) {
		main() // a -baseline run of a test started this binary as its server
		os.Exit(0)
	}
	flag.Parse()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if testing.Short() {
		return m.Run() // TestSmoke skips: nothing to build
	}
	bin, remove, err := apptest.BuildBinary()
	if err != nil {
		fmt.Fprintln(os.Stderr, "twofold-load tests:", err)
		return 1
	}
	defer remove()
	serverBinary = bin
	return m.Run()
}

// smokeTimeout only bounds a hang: the two tiny runs take seconds on an idle machine.
const smokeTimeout = 10 * time.Minute

// TestSmoke runs the load generator's main path with tiny numbers on the server TestMain
// built: a full run that seeds 20 accounts and signs 10 in, then a verify run on the same
// folder that reuses the 10 accounts not yet used in this TOTP step, then a token run of 10
// code and 10 refresh grants, two at once and paced at 200 a second after a warm-up of about
// as many grants that the report must not count, on grants seeded for it; then the baseline
// server in place of Twofold, in the verify and forward modes; last, a paced verify run. One sign-in at a time,
// so that no password step ever waits for a hashing worker (a loaded machine would otherwise
// meet the server's 503 after its bounded wait); -count ends every run, -duration only
// bounds them.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the server: skipped with -short")
	}
	ctx, cancel := context.WithTimeout(t.Context(), smokeTimeout)
	defer cancel()
	bin, data := serverBinary, filepath.Join(t.TempDir(), "data")
	t.Setenv("TWOFOLD_SECRET_KEY", "") // the key comes from DATA/secret.key

	var out, errOut bytes.Buffer
	args := []string{"-server-binary", bin, "-data", data, "-mode", "full", "-accounts", "20", "-count", "10",
		"-concurrency", "1", "-duration", smokeTimeout.String()}
	if err := run(ctx, args, &out, &errOut); err != nil {
		t.Fatalf("full run: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	for _, want := range []string{"(stopped by count)", "20 load accounts in the database (20 seeded now",
		"sign-in (both steps) (10): ok: 10", "password step (10): 200: 10", "verify step (10): 200: 10", "idle VmRSS"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("full run report lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String()+errOut.String(), "Temporary password") {
		t.Error("the bootstrap admin's temporary password was printed")
	}

	out.Reset()
	args = []string{"-server-binary", bin, "-data", data, "-mode", "verify", "-count", "10",
		"-concurrency", "1", "-duration", smokeTimeout.String()}
	if err := run(ctx, args, &out, &errOut); err != nil {
		t.Fatalf("verify run: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	// The 10 accounts used a moment ago are skipped unless a new 30-second step began.
	if !strings.Contains(out.String(), "verify step (10): 200: 10") {
		t.Errorf("verify run did not sign 10 in:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "20 load accounts in the database; ") {
		t.Errorf("verify run seeded accounts again:\n%s", out.String())
	}
	// The server's own account of the load, from its /metrics.
	for _, want := range []string{"POST /api/v1/signin/mfa/verify: 10 answered, mean ", "SQLite writes: ",
		"waiting for the WAL sync        mean ", "WAL syncs: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("verify run report lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	args = []string{"-server-binary", bin, "-data", data, "-mode", "token", "-count", "20",
		"-concurrency", "2", "-rate", "200", "-warmup", "100ms", "-duration", "5m"} // at most 25m in token mode
	if err := run(ctx, args, &out, &errOut); err != nil {
		t.Fatalf("token run: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	for _, want := range []string{"paced at 200 a second, each timed from its scheduled start, after a 100ms warm-up not counted", "(stopped by count)", "20 load accounts in the database; 8 ready",
		"grants: 21 codes (finished requests) and 21 refresh tokens of client twofold-load", // 20, and the warm-up's 20 and 2
		"token endpoint /oidc/token (from discovery)", "token (both grants) (20): 200: 20",
		"code grant (10): 200: 10", "refresh grant (10): 200: 10", "token endpoint p99 "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("token run report lacks %q:\n%s", want, out.String())
		}
	}

	// The baseline: the tool itself as the server, for 10 verify steps (on 10 more accounts:
	// the tool does not know that the baseline spends no code) and 20 reverse-proxy checks.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-mode", "verify", "-accounts", "30", "-count", "10"}, "verify step (10): 200: 10"},
		{[]string{"-mode", "forward", "-count", "20", "-rate", "500", "-warmup", "20ms"}, "forward auth (20): 200: 20"},
	} {
		out.Reset()
		args = append([]string{"-baseline", "-data", data, "-concurrency", "2", "-duration", "5m"}, c.args...)
		if err := run(ctx, args, &out, &errOut); err != nil {
			t.Fatalf("baseline run %v: %v\nstdout:\n%s\nstderr:\n%s", c.args, err, out.String(), errOut.String())
		}
		for _, want := range []string{"(the baseline: no work behind its answers, not Twofold)", c.want,
			"SPEC §6 targets: not compared; the baseline server answered, not Twofold"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("baseline run %v: report lacks %q:\n%s", c.args, want, out.String())
			}
		}
		if strings.Contains(out.String(), "MISSED") || strings.Contains(out.String(), ": met") {
			t.Errorf("baseline run %v compared with the targets:\n%s", c.args, out.String())
		}
	}

	// A paced verify run: its warm-up signs in on accounts of its own (a code spent in the
	// warm-up would be refused as used again in the run).
	out.Reset()
	args = []string{"-server-binary", bin, "-data", data, "-mode", "verify", "-accounts", "45", "-count", "5",
		"-concurrency", "2", "-rate", "200", "-warmup", "50ms", "-duration", smokeTimeout.String()}
	if err := run(ctx, args, &out, &errOut); err != nil {
		t.Fatalf("paced verify run: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	for _, want := range []string{"paced at 200 a second, each timed from its scheduled start, after a 50ms warm-up not counted",
		"verify step (5): 200: 5", "POST /api/v1/signin/mfa/verify: 5 answered"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("paced verify run report lacks %q:\n%s", want, out.String())
		}
	}
}

// BenchmarkArgon2Floor measures the argon2id floor of SPEC §6: hashes a second at the default
// cost with one hashing goroutine per core (b.RunParallel runs GOMAXPROCS goroutines).
func BenchmarkArgon2Floor(b *testing.B) {
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := password.Hash(loadPassword, password.DefaultParams, rand.Reader); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
}
