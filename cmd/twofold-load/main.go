// Command twofold-load is the load generator behind docs/PERFORMANCE.md: it drives a running
// Twofold server through its JSON API and its OpenID Connect token endpoint, over loopback
// only, and prints what it measured against the targets of SPEC §6.
//
// To have many enrolled accounts without hours of argon2id, it seeds them straight into the
// server's SQLite database with the project's own packages: accounts named load-0000000,
// load-0000001, ... with one known password (hashed once, the PHC string reused), a TOTP key
// sealed under the server key (DATA/secret.key or TWOFOLD_SECRET_KEY) and no temporary
// password. It seeds only the accounts the data folder lacks, so a large database is seeded
// once and reused. A sign-in computes the current TOTP code locally, and since the server
// refuses a code of a step it already accepted for an account, every account is used at most
// once per run (accounts used in the current 30-second step are skipped).
//
// Modes:
//
//	full    password step then second-factor step, -concurrency at once (default 8)
//	verify  the second-factor step alone, on sign-in sessions seeded in the database right
//	        before the measurement (so no argon2id is spent)
//	flood   full sign-ins at a high concurrency (default 200): counts 2xx, 503 and others
//	token   the OpenID Connect provider's token endpoint (SPEC §6 "Applications"): code and
//	        refresh grants in turn, -concurrency at once (default 8), with HTTP basic client
//	        authentication, at the token endpoint that discovery names. Each code and refresh
//	        token is used once; they are seeded in the database right before the measurement:
//	        the tool's own confidential client "twofold-load" (made afresh, which removes what
//	        an earlier run left), and per pair of grants one finished authorization request of
//	        one of 8 load accounts (scopes openid and offline_access, amr pwd otp mfa, a session
//	        id of its own) with a code valid for -duration and a minute, and one refresh token
//	        of that request's family. -duration is at most 25m here (the server sweeps requests
//	        30 minutes after they were made).
//	forward the reverse-proxy check (SPEC §6 "Applications", §8): nginx's endpoint
//	        /api/v1/authz/auth-request asked about one address, -concurrency at once (default
//	        16), with the cookie of one finished session with a second factor seeded in the
//	        database right before the measurement; the server the tool starts gets
//	        --trusted-proxies 127.0.0.1/32 (a running one needs it too). The data folder must
//	        hold no bypass rule; accessDefaultPolicy is set to -policy (default two_factor).
//	seed    only make sure -accounts accounts exist, and say how long that took
//	floor   no server: argon2id hashes a second, one goroutine per core, with the reference
//	        implementation (golang.org/x/crypto/argon2, fresh memory per hash), or with
//	        -floor-own Twofold's own argon2id with its memory kept, as the server hashes
//
// -db postgres://... seeds and runs against a PostgreSQL database instead (serve --db; the
// environment's TWOFOLD_SECRET_KEY is the server key of both).
//
// -argon2 m=KIB,t=N,p=N sets the argon2id cost of everything (default m=19456,t=2,p=1): the
// floor's, the seeded accounts' password hash, and serve --argon2 of a server the tool starts.
//
// The server is either started by the tool (-server-binary PATH: it runs PATH serve --addr
// 127.0.0.1:0 --data DIR, on a temporary folder unless -data is given) or already running
// (-addr http://127.0.0.1:PORT -data DIR, with -pid PID for the memory figures). With a pid,
// the report gives the idle VmRSS before the load and the peak VmHWM during it.
//
// Examples:
//
//	go build -o /tmp/twofold ./cmd/twofold && go build -o /tmp/twofold-load ./cmd/twofold-load
//	/tmp/twofold-load -mode floor -duration 10s
//	/tmp/twofold-load -server-binary /tmp/twofold -mode full -duration 20s -floor 80
//	/tmp/twofold-load -mode floor -argon2 m=65536,t=3,p=4 -duration 10s
//	/tmp/twofold-load -server-binary /tmp/twofold -mode full -argon2 m=65536,t=3,p=4 -floor 10
//	/tmp/twofold-load -server-binary /tmp/twofold -mode verify -duration 10s
//	/tmp/twofold-load -server-binary /tmp/twofold -mode verify -duration 20s -rate 1500
//	/tmp/twofold-load -baseline -mode verify -duration 20s -rate 1500
//	/tmp/twofold-load -server-binary /tmp/twofold -mode token -duration 10s
//	/tmp/twofold-load -server-binary /tmp/twofold -mode forward -duration 10s
//	/tmp/twofold-load -server-binary /tmp/twofold -mode flood -concurrency 200 -duration 20s
//	/tmp/twofold-load -data /tmp/big -mode seed -accounts 1000000
//	/tmp/twofold-load -server-binary /tmp/twofold -data /tmp/big -mode verify -accounts 1000000
//
// Every run also prints the server's own account of the load, from its /metrics read right
// before and right after: its time per route and, on SQLite, what its writes waited for (the
// writer, the batch, the sync of the WAL) and how long the syncs took.
//
// -baseline starts, in place of Twofold, a server that answers every verify step or
// reverse-proxy check with its success and does no work (this tool run as a process of its
// own, see baseline.go): the same load against it measures what the machine and the tool add
// to any request.
//
// -rate R starts R requests a second (sign-ins in full mode, grants in token mode) on a fixed
// schedule, whatever the answers, with at most -concurrency at once, and times each from its
// scheduled start, so that a stall counts for every request that falls due during it (see
// pace.go). Without it the workers are a closed loop. -warmup D sends the same load for D
// first and counts none of it (default 2s with -rate, none without); the server's figures,
// CPU and peak memory are read over the measured run only.
//
// Every loop is bounded by -count, -duration and the accounts (or, in token mode, the grants)
// seeded; the tool stops by itself, and stops the server it started.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/twofold-auth/twofold/internal/password"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "twofold-load:", err)
		}
		os.Exit(1)
	}
}

// config is the parsed command line.
type config struct {
	mode         string
	serverBinary string          // start this server binary
	baseline     bool            // or start the baseline server (baseline.go)
	addr         string          // or use the server at this base URL
	pid          int             // the server's process, for memory figures
	data         string          // the server's data folder
	keep         bool            // keep a temporary data folder
	accounts     int             // make sure this many load accounts exist (0: as many as the run needs)
	concurrency  int             // requests at once (0: the mode's default)
	rate         float64         // requests (sign-ins, grants) started a second; 0: a closed loop (pace.go)
	warmup       time.Duration   // the same load, not counted, right before the measured run
	duration     time.Duration   // how long to send
	count        int             // at most this many sign-ins or grants (0: no limit but -duration)
	batch        int             // accounts (or pairs of grants) per seeding transaction
	floor        float64         // the argon2id floor in hashes/s, for the full-mode target
	policy       string          // forward mode: accessDefaultPolicy for the run
	db           string          // the server's database URL (serve --db), "" for SQLite in the data folder
	floorOwn     bool            // floor mode: Twofold's own argon2id instead of x/crypto's
	argon2       string          // -argon2 as given
	hashing      password.Params // the argon2id cost: the floor's, the seeded accounts' and serve --argon2
}

const (
	defaultDuration = 20 * time.Second
	defaultBatch    = 50_000
	maxRate         = 100_000 // requests a second: far above what two cores answer
	// defaultPacedWarmup is the warm-up of a paced run: a server that just started, or a
	// cache still cold, answers its first requests slowly, and a paced run counts every
	// request that falls due meanwhile (a closed loop only the few in flight).
	defaultPacedWarmup = 2 * time.Second
	maxWarmup          = 5 * time.Minute
)

// parseConfig reads the command line.
func parseConfig(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	f := flag.NewFlagSet("twofold-load", flag.ContinueOnError)
	f.SetOutput(stderr)
	f.StringVar(&c.mode, "mode", "full", "full, verify, flood, token, forward, seed or floor")
	f.StringVar(&c.serverBinary, "server-binary", "", "start this twofold binary (serve --addr 127.0.0.1:0)")
	f.BoolVar(&c.baseline, "baseline", false, "verify and forward modes: start the baseline server instead of Twofold, this tool as a process of its own answering every request at once with no work behind it, to measure what the machine and the tool add to any request")
	f.StringVar(&c.addr, "addr", "", "base URL of a running server, on loopback (http://127.0.0.1:PORT)")
	f.IntVar(&c.pid, "pid", 0, "process id of the running server, for memory figures")
	f.StringVar(&c.data, "data", "", "the server's data folder (default: a temporary one with -server-binary)")
	f.BoolVar(&c.keep, "keep", false, "keep the temporary data folder")
	f.IntVar(&c.accounts, "accounts", 0, "make sure this many load accounts exist (default: what the run needs)")
	f.IntVar(&c.concurrency, "concurrency", 0, "requests at once (default 8; flood 200; floor one per core)")
	f.Float64Var(&c.rate, "rate", 0, "start this many requests a second (sign-ins in full mode, grants in token mode), each timed from its scheduled start, with at most -concurrency at once (default: a closed loop, each worker's next request when its last is answered)")
	f.DurationVar(&c.warmup, "warmup", -1, "send the same load for this long first, and count none of it (default: 2s with -rate, none without)")
	f.DurationVar(&c.duration, "duration", defaultDuration, "how long to send requests")
	f.IntVar(&c.count, "count", 0, "at most this many sign-ins, or grants in token mode (default: no limit but -duration)")
	f.IntVar(&c.batch, "batch", defaultBatch, "accounts, or code and refresh token pairs in token mode, per seeding transaction")
	f.StringVar(&c.policy, "policy", "two_factor", "forward mode: accessDefaultPolicy for the run, one_factor or two_factor")
	f.StringVar(&c.db, "db", "", "the server's database, as serve --db (postgres://...; default SQLite in the data folder); TWOFOLD_SECRET_KEY must be set for PostgreSQL")
	f.BoolVar(&c.floorOwn, "floor-own", false, "floor mode: hash with Twofold's own argon2id, one kept memory per goroutine, instead of x/crypto's")
	f.StringVar(&c.argon2, "argon2", password.DefaultParams.String(),
		"argon2id cost m=KIB,t=N,p=N: of the floor, of the seeded accounts, and serve --argon2 for a server the tool starts")
	f.Float64Var(&c.floor, "floor", 0, "argon2id floor in hashes/s (from -mode floor), to check the full sign-in target")
	if err := f.Parse(args); err != nil {
		return nil, err
	}
	if f.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", f.Args())
	}
	return c, c.check()
}

// check refuses settings that cannot run, and fills in the mode's defaults.
func (c *config) check() error {
	var err error
	if c.hashing, err = password.ParseParams(c.argon2); err != nil {
		return fmt.Errorf("-argon2: %w", err)
	}
	if c.warmup < 0 {
		c.warmup = 0
		if c.rate > 0 {
			c.warmup = defaultPacedWarmup
		}
	}
	switch c.mode {
	case "full", "verify", "token", "seed":
		c.concurrency = orDefault(c.concurrency, 8)
	case "flood":
		c.concurrency = orDefault(c.concurrency, 200)
		if c.rate != 0 {
			return errors.New("-rate: the flood mode sends as fast as it can")
		}
	case "forward":
		c.concurrency = orDefault(c.concurrency, 16)
		if err := checkPolicy(c.policy); err != nil {
			return err
		}
	case "floor":
		c.concurrency = orDefault(c.concurrency, runtime.NumCPU())
		if c.rate != 0 {
			return errors.New("-rate: the floor mode hashes as fast as it can")
		}
		return c.checkBounds()
	default:
		return fmt.Errorf("-mode: give full, verify, flood, token, forward, seed or floor, not %q", c.mode)
	}
	if c.batch < 1 {
		return errors.New("-batch must be at least 1")
	}
	if c.mode == "seed" {
		if c.data == "" || c.accounts < 1 {
			return errors.New("-mode seed needs -data DIR and -accounts N")
		}
		return nil
	}
	switch {
	case c.baseline && (c.serverBinary != "" || c.addr != "" || c.pid != 0):
		return errors.New("-baseline starts the baseline server: give no -server-binary, -addr or -pid")
	case c.baseline && !baselineModes[c.mode]:
		return fmt.Errorf("-baseline: the baseline server answers the verify and forward modes, not %s", c.mode)
	case c.baseline:
		// the tool starts it
	case c.serverBinary != "" && c.addr != "":
		return errors.New("give -server-binary or -addr, not both")
	case c.serverBinary == "" && c.addr == "":
		return errors.New("give -server-binary PATH (the tool starts the server) or -addr URL -data DIR (a running one)")
	case c.addr != "" && c.data == "":
		return errors.New("-addr needs -data DIR, the running server's data folder, to seed accounts")
	case c.serverBinary != "" && c.pid != 0:
		return errors.New("-pid is for a running server; with -server-binary the tool knows the pid")
	}
	if c.addr != "" {
		if _, err := loopbackURL(c.addr); err != nil {
			return err
		}
	}
	if c.mode == "token" && c.warmup+c.duration > tokenMaxDuration {
		return fmt.Errorf("-mode token: -warmup and -duration must be at most %s together (the server sweeps authorization requests 30 minutes after they were made)", tokenMaxDuration)
	}
	return c.checkBounds()
}

// checkBounds makes sure every loop has an end.
func (c *config) checkBounds() error {
	switch {
	case c.concurrency < 1 || c.concurrency > 2000:
		return errors.New("-concurrency must be 1 to 2000")
	case c.duration <= 0 || c.duration > time.Hour:
		return errors.New("-duration must be more than 0 and at most 1h")
	case c.count < 0:
		return errors.New("-count must not be negative")
	case c.accounts < 0:
		return errors.New("-accounts must not be negative")
	case !(c.rate == 0 || c.rate >= 1 && c.rate <= maxRate): // refuses NaN too
		return fmt.Errorf("-rate must be 0 (a closed loop) or 1 to %d", maxRate)
	case c.warmup > maxWarmup:
		return fmt.Errorf("-warmup must be at most %s", maxWarmup)
	}
	return nil
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// needed answers how many unused accounts a run needs: -count, or what the mode can use within
// -duration at a generous rate; the token mode spreads its grants over a few accounts.
func (c *config) needed() int {
	switch c.mode {
	case "token":
		return tokenAccountCount // the grants are seeded apart (grantPairs)
	case "forward":
		return 1 // one session, asked about again and again
	}
	if c.count > 0 {
		return c.count + c.warmupNeeds()
	}
	return c.startsWithin(c.duration) + c.warmupNeeds()
}

// warmupNeeds answers how many sign-ins, or grants in token mode, the warm-up may start.
func (c *config) warmupNeeds() int {
	if c.warmup == 0 {
		return 0
	}
	return c.startsWithin(c.warmup)
}

// startsWithin answers the most sign-ins, or grants in token mode, a run may start within d:
// what -rate schedules, or a generous bound on what the mode answers in a closed loop.
func (c *config) startsWithin(d time.Duration) int {
	if c.rate > 0 {
		return int(math.Ceil(c.rate*d.Seconds())) + c.concurrency
	}
	secs := int(d.Seconds() + 1)
	switch {
	case c.mode == "verify" || c.mode == "token":
		return 3000 * secs // well above the 1,500/s and 1,000/s targets
	default:
		return 200*secs + c.concurrency // well above two cores' argon2id rate
	}
}

// grantPairs answers how many codes, and as many refresh tokens, a token run seeds: half (rounded
// up) of what the warm-up may use and of -count, or of what the run can use within -duration.
func (c *config) grantPairs() int {
	n := c.warmupNeeds()
	if c.count > 0 {
		n += c.count
	} else {
		n += c.startsWithin(c.duration)
	}
	return (n + 1) / 2
}

// run parses the command line and runs the mode.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if isBaselineRun(args) {
		return serveBaseline(ctx, args[1:], stderr)
	}
	c, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	switch c.mode {
	case "floor":
		r, err := measureFloor(ctx, c.hashing, c.floorOwn, c.concurrency, c.duration)
		if err != nil {
			return err
		}
		writeFloor(stdout, r)
		return nil
	case "seed":
		return seedOnly(ctx, c, stdout)
	}
	return runLoad(ctx, c, stdout, stderr)
}
