package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/twofold-auth/twofold/internal/argon2id"
	"github.com/twofold-auth/twofold/internal/otp"
	"github.com/twofold-auth/twofold/internal/password"
)

// Sign-in steps the server answers (SPEC §4).
const (
	stepVerify = "mfa_verify"
	stepDone   = "done"
)

// runLoad is the full, verify, flood and token modes: seed, start or find the server, measure,
// report.
func runLoad(ctx context.Context, c *config, stdout, stderr io.Writer) error {
	data, cleanup, err := dataFolder(c, stdout)
	if err != nil {
		return err
	}
	defer cleanup() // last: after the server stopped and the database closed
	db, err := openDatabase(ctx, data, c.db)
	if err != nil {
		return err
	}
	defer db.Close()
	db.hashing = c.hashing
	if err := db.requireMFA(ctx, stderr); err != nil {
		return err
	}

	rep := &report{mode: c.mode, concurrency: c.concurrency, rate: c.rate, floor: c.floor}
	need := c.needed()
	if rep.seed, err = db.ensureAccounts(ctx, max(c.accounts, need), c.batch, stderr); err != nil {
		return err
	}
	rep.total = rep.seed.existing + rep.seed.made
	var accts []*loadAccount
	if c.mode == "token" || c.mode == "forward" {
		accts, err = db.tokenAccounts(ctx, rep.total, need) // any account: no TOTP code is spent
	} else {
		accts, err = db.pickAccounts(ctx, rep.total, need)
	}
	if err != nil {
		return err
	}
	if len(accts) == 0 && (c.mode == "token" || c.mode == "forward") {
		return errors.New("every load account is disabled")
	}
	if len(accts) == 0 {
		return errors.New("no load account can sign in now (all used in this 30-second step?)")
	}
	rep.picked = len(accts)

	if err := measure(ctx, c, db, data, accts, rep, stderr); err != nil {
		return err
	}
	writeReport(stdout, rep)
	return nil
}

// dataFolder answers -data, or a new temporary folder that cleanup removes unless -keep.
func dataFolder(c *config, stdout io.Writer) (dir string, cleanup func(), err error) {
	if c.data != "" {
		return c.data, func() {}, nil
	}
	if dir, err = os.MkdirTemp("", "twofold-load-*"); err != nil {
		return "", nil, err
	}
	if c.keep {
		return dir, func() { fmt.Fprintf(stdout, "data folder kept: %s\n", dir) }, nil
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// measure starts the server (or finds the running one), reads its idle memory, seeds the
// sign-ins of verify mode or the grants of token mode, runs the load and reads the peak memory,
// filling in rep. A server it started is stopped before it returns.
func measure(ctx context.Context, c *config, db *database, data string, accts []*loadAccount, rep *report, log io.Writer) error {
	var base string
	pid := c.pid
	if c.serverBinary != "" || c.baseline {
		bin := c.serverBinary
		var extra []string
		if c.mode == "forward" {
			extra = forwardTrusted
		}
		if c.baseline {
			var err error
			if bin, err = baselineBinary(); err != nil {
				return err
			}
			extra = append(extra, "--remote-user", accts[0].username)
		}
		if c.db != "" {
			extra = append(extra, "--db", c.db)
		}
		if c.hashing != password.DefaultParams { // a binary from before --argon2 runs the default
			extra = append(extra, "--argon2", c.hashing.String())
		}
		srv, err := startServer(ctx, bin, data, extra...)
		if err != nil {
			return err
		}
		defer func() {
			srv.stop()
			rep.warnings = srv.warnings()
		}()
		base, pid = srv.addr, srv.pid()
		rep.server = fmt.Sprintf("pid %d, started by twofold-load on %s", pid, base)
		if c.baseline {
			rep.server += " (the baseline: no work behind its answers, not Twofold)"
			rep.baseline = true
		}
	} else {
		var err error
		if base, err = loopbackURL(c.addr); err != nil {
			return err
		}
		rep.server, rep.sharedServer = fmt.Sprintf("%s, pid %d", base, pid), true
		if pid == 0 {
			rep.server = base + " (no -pid: no memory figures)"
		}
	}
	cl := newClient(base, c.concurrency)
	defer cl.close()
	if err := waitHealthy(ctx, cl); err != nil {
		return err
	}

	var mem *memory
	if pid != 0 {
		var err error
		if mem, err = idleMemory(ctx, pid); err != nil {
			return err
		}
	}
	if c.mode == "verify" {
		// Unfinished sign-ins expire after 10 minutes: seed them right before measuring.
		start := time.Now()
		if err := db.seedSessions(ctx, accts); err != nil {
			return err
		}
		rep.sessionSeed = time.Since(start)
	}
	var tokens *tokenLoad
	if c.mode == "token" {
		var err error
		if tokens, err = prepareTokens(ctx, c, db, cl, accts, rep, log); err != nil {
			return err
		}
	}
	var forwardToken string
	if c.mode == "forward" {
		var err error
		if forwardToken, err = prepareForward(ctx, c, db, accts[0], rep); err != nil {
			return err
		}
	}
	// Everything is seeded: the tool's own connections (and its store's background checkpoint)
	// must not share the database file with the server while it is measured.
	if err := db.Close(); err != nil {
		return err
	}
	load := func(c *config, accts []*loadAccount) loadResult {
		switch {
		case tokens != nil:
			return tokens.run(ctx, c, cl)
		case c.mode == "forward":
			return forwardRun(ctx, c, cl, forwardToken, accts[0].username)
		default:
			return runWorkers(ctx, c, cl, accts)
		}
	}
	if c.warmup > 0 {
		// The same load for -warmup, on accounts (or grants) of its own, counted nowhere.
		warm := *c
		warm.duration, warm.count = c.warmup, 0
		if c.mode == "forward" || c.mode == "token" {
			load(&warm, accts) // one session asked again and again; grants from the pool
		} else { // each account signs in once
			n := min(c.warmupNeeds(), len(accts))
			load(&warm, accts[:n])
			accts = accts[n:]
		}
		rep.warmup = c.warmup
	}

	var watch *memoryWatch
	if mem != nil {
		if err := resetPeak(pid); err != nil {
			mem.note = "VmHWM could not be reset before the load (" + err.Error() + "): it is the peak since the server started"
		}
		watch = watchMemory(pid, 50*time.Millisecond)
	}
	metricsBefore, metricsErr := cl.readHistograms(ctx)
	before, cpuErr := sampleCPU(pid)
	res := load(c, accts)
	rep.elapsed, rep.stopped, rep.steps = res.elapsed, res.stopped, res.steps
	if after, err := sampleCPU(pid); err == nil && cpuErr == nil {
		share := after.shareSince(before, pid != 0)
		rep.cpu = &share
	}
	if metricsErr == nil {
		if after, err := cl.readHistograms(ctx); err == nil {
			rep.serverTimes = after.since(metricsBefore)
		}
	}

	if mem != nil {
		mem.sampledKB = watch.stop()
		var err error
		if mem.afterKB, mem.peakKB, err = readMemory(pid); err != nil {
			return err
		}
		rep.mem = mem
	}
	return nil
}

// idleMemory lets a server that just answered settle for a second, then reads its VmRSS.
func idleMemory(ctx context.Context, pid int) (*memory, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Second):
	}
	rss, _, err := readMemory(pid)
	if err != nil {
		return nil, err
	}
	return &memory{pid: pid, idleKB: rss}, nil
}

// loadResult is what the workers measured.
type loadResult struct {
	elapsed time.Duration
	stopped string // which bound ended the run
	steps   []namedStep
}

// runner hands accounts to the workers until a bound is reached.
type runner struct {
	c      *client
	mode   string
	pool   chan *loadAccount
	pace   *pacer // when each sign-in starts, and when none starts any more
	limit  int64  // at most this many sign-ins start (0: no limit)
	starts atomic.Int64

	once    sync.Once
	stopped string
}

// stop records the first bound reached.
func (r *runner) stop(why string) { r.once.Do(func() { r.stopped = why }) }

// next waits for the next sign-in's start (pace.go) and answers its account and how late it
// starts, or false when a bound is reached.
func (r *runner) next(ctx context.Context) (*loadAccount, time.Duration, bool) {
	if r.limit > 0 && r.starts.Add(1) > r.limit {
		r.stop("count")
		return nil, 0, false
	}
	late, ok := r.pace.due(ctx)
	if !ok {
		r.stop(endReason(ctx))
		return nil, 0, false
	}
	select {
	case a := <-r.pool:
		return a, late, true
	default:
		r.stop("accounts exhausted (seed more with -accounts)")
		return nil, 0, false
	}
}

// giveBack returns an account whose TOTP code was not spent (its password step was refused).
func (r *runner) giveBack(a *loadAccount) {
	select {
	case r.pool <- a:
	default:
	}
}

// workerStats are one worker's measurements, merged after the run.
type workerStats struct {
	whole, password, verify stepStats
}

// runWorkers runs -concurrency workers until a bound is reached and merges what they measured.
func runWorkers(ctx context.Context, c *config, cl *client, accts []*loadAccount) loadResult {
	r := &runner{c: cl, mode: c.mode, pool: make(chan *loadAccount, len(accts)),
		limit: int64(c.count)}
	for _, a := range accts {
		r.pool <- a
	}
	// Requests in flight when the duration ends may finish, within a hard bound.
	reqCtx, cancel := context.WithTimeout(ctx, c.duration+requestTimeout+5*time.Second)
	defer cancel()

	stats := make([]workerStats, c.concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	r.pace = newPacer(start, c.duration, c.rate)
	for i := range stats {
		wg.Go(func() { r.work(reqCtx, &stats[i]) })
	}
	wg.Wait()
	res := loadResult{elapsed: time.Since(start), stopped: r.stopped}

	var all workerStats
	for i := range stats {
		all.whole.merge(&stats[i].whole)
		all.password.merge(&stats[i].password)
		all.verify.merge(&stats[i].verify)
	}
	if c.mode == "verify" {
		res.steps = []namedStep{{"verify step", &all.verify}}
	} else {
		res.steps = []namedStep{{"sign-in (both steps)", &all.whole},
			{"password step", &all.password}, {"verify step", &all.verify}}
	}
	return res
}

// work is one worker's loop: one sign-in after another until next says stop.
func (r *runner) work(ctx context.Context, ws *workerStats) {
	for {
		a, late, ok := r.next(ctx)
		if !ok {
			return
		}
		if r.mode == "verify" {
			v := r.c.verify(ctx, a.token, otp.TOTP(a.key, time.Now(), otp.Default))
			v.took += late
			ws.verify.add(v, stepDone)
			continue
		}
		r.fullSignIn(ctx, a, late, ws)
	}
}

// fullSignIn is the password step then the second-factor step with the current code; the
// sign-in started late by late (pace.go), which its first step and the whole count.
func (r *runner) fullSignIn(ctx context.Context, a *loadAccount, late time.Duration, ws *workerStats) {
	start := time.Now().Add(-late)
	p := r.c.signIn(ctx, a.username, loadPassword)
	p.took += late
	ws.password.add(p, stepVerify)
	if !p.ok() || p.next != stepVerify || p.token == "" {
		if p.status == 503 {
			r.giveBack(a) // the code was not spent: the account can sign in later
		}
		ws.whole.count("stopped at the password step: " + p.outcome())
		return
	}
	v := r.c.verify(ctx, p.token, otp.TOTP(a.key, time.Now(), otp.Default))
	ws.verify.add(v, stepDone)
	if !v.ok() || v.next != stepDone {
		ws.whole.count("stopped at the verify step: " + v.outcome())
		return
	}
	ws.whole.addOK(time.Since(start))
}

// floorHash is one hash of the floor under p, with a fresh salt: x/crypto's argon2id with fresh
// memory when m is nil, else Twofold's own in m, kept from one hash to the next as the server's
// hashing workers keep theirs.
func floorHash(p password.Params, m *argon2id.Memory) error {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	if m == nil {
		argon2.IDKey([]byte(loadPassword), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	} else {
		m.Key([]byte(loadPassword), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	}
	return nil
}

// floorResult is the argon2id floor: hashes at one cost, one goroutine per core.
type floorResult struct {
	params     password.Params
	own        bool // Twofold's own argon2id, memory kept per goroutine, instead of x/crypto's
	goroutines int
	hashes     int
	elapsed    time.Duration
	latencies  []time.Duration
	cpu        *cpuShare // where the CPU time went while hashing
}

// measureFloor hashes under p on n goroutines for d (after one warm-up hash each) and answers
// how many hashes were done. The hash is golang.org/x/crypto/argon2's IDKey, the reference, each
// with its own fresh memory; with own, Twofold's own argon2id with one Memory per goroutine,
// as the server hashes.
func measureFloor(ctx context.Context, p password.Params, own bool, n int, d time.Duration) (floorResult, error) {
	var wg sync.WaitGroup
	lat := make([][]time.Duration, n)
	errc := make(chan error, n)
	var ready sync.WaitGroup
	ready.Add(n)
	begin := make(chan struct{})
	var start time.Time
	for i := range n {
		wg.Go(func() {
			var m *argon2id.Memory
			if own {
				m = new(argon2id.Memory)
				defer m.Release()
			}
			err := floorHash(p, m) // warm-up
			ready.Done()
			if err != nil {
				errc <- err
				return
			}
			<-begin
			deadline := start.Add(d)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t := time.Now()
				if err := floorHash(p, m); err != nil {
					errc <- err
					return
				}
				lat[i] = append(lat[i], time.Since(t))
			}
		})
	}
	ready.Wait()
	before, cpuErr := sampleCPU(0)
	start = time.Now()
	close(begin)
	wg.Wait()
	r := floorResult{params: p, own: own, goroutines: n, elapsed: time.Since(start)}
	if after, err := sampleCPU(0); err == nil && cpuErr == nil {
		share := after.shareSince(before, false)
		r.cpu = &share
	}
	select {
	case err := <-errc:
		return r, err
	default:
	}
	for _, l := range lat {
		r.latencies = append(r.latencies, l...)
	}
	r.hashes = len(r.latencies)
	return r, ctx.Err()
}

// rate answers hashes a second.
func (r floorResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.hashes) / r.elapsed.Seconds()
}
