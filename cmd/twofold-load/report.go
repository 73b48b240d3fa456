package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// SPEC §6 targets.
const (
	targetFloorShare  = 0.90                  // full sign-ins a second, as a share of the argon2id floor
	targetVerifyP99   = 5 * time.Millisecond  // second-factor step alone, 8 at once
	targetVerifyRate  = 1500.0                // second-factor steps a second
	targetTokenP99    = 10 * time.Millisecond // token endpoint, code and refresh grants, 8 at once
	targetTokenRate   = 1000.0                // grants a second
	targetForwardP99  = 2 * time.Millisecond  // the reverse-proxy check with a valid session, 16 at once
	targetForwardRate = 5000.0                // checks a second
	targetIdleMiB     = 40.0                  // resident memory when idle
	targetPeakMiB     = 150.0                 // peak resident memory through a sign-in flood
)

// stepStats counts the answers of one step (or of whole sign-ins) and keeps the latency of
// every success and of every 503.
type stepStats struct {
	ok           []time.Duration // latencies of the answers that did what was expected
	busy         []time.Duration // latencies of 503 answers
	outcomes     map[string]int  // answers by outcome ("200", "503 unavailable", ...)
	busyNoRetry  int             // 503 answers without Retry-After
	transportErr string          // the first transport error, as an example
}

// count adds one answer of the named outcome.
func (s *stepStats) count(outcome string) {
	if s.outcomes == nil {
		s.outcomes = map[string]int{}
	}
	s.outcomes[outcome]++
}

// addOK adds one success that took d.
func (s *stepStats) addOK(d time.Duration) {
	s.ok = append(s.ok, d)
	s.count("ok")
}

// add adds one API answer; a 2xx answer counts as a success when its next step is want.
func (s *stepStats) add(a answer, want string) {
	switch {
	case a.ok() && a.next == want:
		s.ok = append(s.ok, a.took)
		s.count(a.outcome())
	case a.ok():
		s.count(fmt.Sprintf("%d but next is %q", a.status, a.next))
	case a.status == 503:
		s.busy = append(s.busy, a.took)
		if !a.retryAfter {
			s.busyNoRetry++
		}
		s.count(a.outcome())
	default:
		if a.err != nil && s.transportErr == "" {
			s.transportErr = a.err.Error()
		}
		s.count(a.outcome())
	}
}

// merge adds o's counts and samples to s.
func (s *stepStats) merge(o *stepStats) {
	s.ok = append(s.ok, o.ok...)
	s.busy = append(s.busy, o.busy...)
	for k, n := range o.outcomes {
		if s.outcomes == nil {
			s.outcomes = map[string]int{}
		}
		s.outcomes[k] += n
	}
	s.busyNoRetry += o.busyNoRetry
	if s.transportErr == "" {
		s.transportErr = o.transportErr
	}
}

// total answers how many answers were counted.
func (s *stepStats) total() int {
	n := 0
	for _, c := range s.outcomes {
		n += c
	}
	return n
}

// summary answers the latency figures of samples, which it sorts.
type summary struct {
	n                  int
	p50, p90, p99, max time.Duration
}

func summarize(samples []time.Duration) summary {
	slices.Sort(samples)
	return summary{n: len(samples), p50: percentile(samples, 50), p90: percentile(samples, 90),
		p99: percentile(samples, 99), max: percentile(samples, 100)}
}

// percentile answers the p-th percentile (0 < p <= 100) of sorted samples by the nearest-rank
// method: the smallest sample that at least p% of all samples are at or below. It answers 0 for
// no samples; p <= 0 answers the smallest.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n))) // 1-based
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// ms formats a duration in milliseconds with two decimals.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// mib formats kB (as /proc gives them) in MiB.
func mib(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }

// perSecond answers n a second over d.
func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// namedStep is one row of the report.
type namedStep struct {
	name string
	s    *stepStats
}

// memory is the server's resident memory, in kB.
type memory struct {
	pid       int
	idleKB    int64 // VmRSS before the load
	peakKB    int64 // VmHWM after the load (reset before it)
	sampledKB int64 // the largest VmRSS sampled every 50 ms during the load
	afterKB   int64 // VmRSS after the load
	note      string
}

// report is everything a load run prints.
type report struct {
	mode         string
	concurrency  int
	rate         float64       // -rate: requests started a second, 0 in a closed loop
	warmup       time.Duration // -warmup: the same load first, not counted
	baseline     bool          // the server was the baseline (baseline.go), not Twofold
	server       string
	seed         seedResult
	total        int // load accounts in the database
	picked       int // accounts ready for this run
	sessionSeed  time.Duration
	grantPairs   int           // token mode: codes (and as many refresh tokens) seeded
	grantSeed    time.Duration // how long seeding the client and the grants took
	endpoint     string        // token mode: the token endpoint's path, from discovery
	elapsed      time.Duration
	stopped      string
	steps        []namedStep
	mem          *memory
	floor        float64    // argon2id hashes/s given with -floor
	cpu          *cpuShare  // where the CPU time went during the load
	serverTimes  histograms // what the server's /metrics observed during the load
	sharedServer bool       // the server was running already (-addr): others may use it
	warnings     []string
}

// writeReport prints a load run: what ran, the latency table, the answers, memory and targets.
func writeReport(w io.Writer, r *report) {
	pacing := "a closed loop"
	if r.rate > 0 {
		pacing = fmt.Sprintf("paced at %g a second, each timed from its scheduled start", r.rate)
	}
	if r.warmup > 0 {
		pacing += fmt.Sprintf(", after a %s warm-up not counted", r.warmup)
	}
	fmt.Fprintf(w, "twofold-load: mode %s, %d at once, %s, %.1fs (stopped by %s)\n",
		r.mode, r.concurrency, pacing, r.elapsed.Seconds(), r.stopped)
	fmt.Fprintf(w, "server: %s\n", r.server)
	fmt.Fprintf(w, "accounts: %d load accounts in the database", r.total)
	if r.seed.made > 0 {
		fmt.Fprintf(w, " (%d seeded now in %.1fs, %.0f/s)", r.seed.made, r.seed.took.Seconds(), r.seed.rate())
	}
	fmt.Fprintf(w, "; %d ready for this run", r.picked)
	if r.sessionSeed > 0 {
		fmt.Fprintf(w, "; their sign-ins seeded in %s", ms(r.sessionSeed))
	}
	fmt.Fprintln(w)
	if r.mode == "forward" && r.endpoint != "" {
		fmt.Fprintf(w, "forward auth: %s\n", r.endpoint)
	}
	if r.grantPairs > 0 {
		fmt.Fprintf(w, "grants: %d codes (finished requests) and %d refresh tokens of client %s seeded in %s (%.0f rows/s); token endpoint %s (from discovery)\n",
			r.grantPairs, r.grantPairs, loadClientID, ms(r.grantSeed), perSecond(2*r.grantPairs, r.grantSeed), r.endpoint)
	}

	fmt.Fprintln(w)
	writeLatencies(w, r.steps, r.elapsed)
	fmt.Fprintln(w)
	writeOutcomes(w, r.steps)
	if r.cpu != nil {
		fmt.Fprintf(w, "\nCPU during the load: %s\n", r.cpu)
		if r.cpu.knownServer && len(r.steps) > 0 && len(r.steps[0].s.ok) > 0 {
			fmt.Fprintf(w, "server CPU per success: %.2f ms; server minor page faults: %d (%.0f per success)\n",
				r.cpu.server*float64(r.cpu.cores)*r.elapsed.Seconds()*1000/float64(len(r.steps[0].s.ok)),
				r.cpu.serverFaults, float64(r.cpu.serverFaults)/float64(len(r.steps[0].s.ok)))
		}
	}
	writeServerTimes(w, r.serverTimes, r.sharedServer)
	if r.mem != nil {
		fmt.Fprintln(w)
		writeMemory(w, r.mem)
	}
	fmt.Fprintln(w)
	writeTargets(w, r)
	if len(r.warnings) > 0 {
		fmt.Fprintf(w, "\nserver warnings and errors (last %d):\n", len(r.warnings))
		for _, l := range r.warnings {
			fmt.Fprintln(w, "  "+l)
		}
	}
}

// writeLatencies prints the table of successes: count, rate and latency percentiles.
func writeLatencies(w io.Writer, steps []namedStep, elapsed time.Duration) {
	const row = "%-22s %8s %11s %11s %11s %11s %11s\n"
	fmt.Fprintf(w, row, "", "ok", "per second", "p50", "p90", "p99", "max")
	for _, st := range steps {
		s := summarize(st.s.ok)
		fmt.Fprintf(w, row, st.name, fmt.Sprint(s.n), fmt.Sprintf("%.1f", perSecond(s.n, elapsed)),
			ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max))
	}
}

// writeOutcomes prints every step's answers: 2xx, 503 (with how many lacked Retry-After) and
// every other outcome by name.
func writeOutcomes(w io.Writer, steps []namedStep) {
	fmt.Fprintln(w, "answers:")
	for _, st := range steps {
		s := st.s
		keys := make([]string, 0, len(s.outcomes))
		for k := range s.outcomes {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s: %d", k, s.outcomes[k]))
		}
		if len(parts) == 0 {
			parts = append(parts, "none")
		}
		fmt.Fprintf(w, "  %s (%d): %s\n", st.name, s.total(), strings.Join(parts, ", "))
		if len(s.busy) > 0 {
			b := summarize(s.busy)
			fmt.Fprintf(w, "    503 unavailable: %d, %d without Retry-After; answered after p50 %s, p99 %s, max %s\n",
				b.n, s.busyNoRetry, ms(b.p50), ms(b.p99), ms(b.max))
		}
		if s.transportErr != "" {
			fmt.Fprintf(w, "    first transport error: %s\n", s.transportErr)
		}
	}
}

// writeMemory prints the server's resident memory.
func writeMemory(w io.Writer, m *memory) {
	fmt.Fprintf(w, "memory (server pid %d): idle VmRSS %s; peak during the load VmHWM %s (largest 50 ms sample of VmRSS %s); VmRSS after %s\n",
		m.pid, mib(m.idleKB), mib(m.peakKB), mib(m.sampledKB), mib(m.afterKB))
	if m.note != "" {
		fmt.Fprintf(w, "  note: %s\n", m.note)
	}
}

// verdict answers "met" or "MISSED".
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// writeTargets compares the run with the SPEC §6 targets that apply to its mode.
func writeTargets(w io.Writer, r *report) {
	if r.baseline {
		fmt.Fprintln(w, "SPEC §6 targets: not compared; the baseline server answered, not Twofold")
		return
	}
	fmt.Fprintln(w, "SPEC §6 targets:")
	var first *stepStats
	if len(r.steps) > 0 {
		first = r.steps[0].s
	}
	switch {
	case r.mode == "full" && first != nil && r.floor > 0:
		rate := perSecond(len(first.ok), r.elapsed)
		want := targetFloorShare * r.floor
		fmt.Fprintf(w, "  full sign-ins %.1f/s vs 90%% of the %.1f hashes/s floor = %.1f/s (%.0f%% of the floor): %s\n",
			rate, r.floor, want, 100*rate/r.floor, verdict(rate >= want))
	case r.mode == "full" && first != nil:
		fmt.Fprintln(w, "  full sign-ins: give -floor (from -mode floor) to compare with 90% of the argon2id floor")
	case r.mode == "verify" && first != nil:
		s := summarize(first.ok)
		rate := perSecond(s.n, r.elapsed)
		fmt.Fprintf(w, "  verify p99 %s (target < %s): %s\n", ms(s.p99), ms(targetVerifyP99), verdict(s.n > 0 && s.p99 < targetVerifyP99))
		fmt.Fprintf(w, "  verify rate %.0f/s (target >= %.0f/s): %s\n", rate, targetVerifyRate, verdict(rate >= targetVerifyRate))
	case r.mode == "forward" && first != nil:
		s := summarize(first.ok)
		rate := perSecond(s.n, r.elapsed)
		fmt.Fprintf(w, "  reverse-proxy check p99 %s (target < %s at 16 at once): %s\n", ms(s.p99), ms(targetForwardP99), verdict(s.n > 0 && s.p99 < targetForwardP99))
		fmt.Fprintf(w, "  reverse-proxy check rate %.0f/s (target >= %.0f/s): %s\n", rate, targetForwardRate, verdict(rate >= targetForwardRate))
		if r.concurrency != 16 {
			fmt.Fprintf(w, "  note: the target is for 16 at once; this run had %d\n", r.concurrency)
		}
	case r.mode == "token" && first != nil:
		s := summarize(first.ok)
		rate := perSecond(s.n, r.elapsed)
		fmt.Fprintf(w, "  token endpoint p99 %s, both grants (target < %s at 8 at once): %s\n", ms(s.p99), ms(targetTokenP99), verdict(s.n > 0 && s.p99 < targetTokenP99))
		fmt.Fprintf(w, "  token endpoint rate %.0f/s, both grants (target >= %.0f/s): %s\n", rate, targetTokenRate, verdict(rate >= targetTokenRate))
		if r.concurrency != 8 {
			fmt.Fprintf(w, "  note: the target is for 8 at once; this run had %d\n", r.concurrency)
		}
	}
	if r.mem != nil {
		idle := float64(r.mem.idleKB) / 1024
		peak := float64(r.mem.peakKB) / 1024
		fmt.Fprintf(w, "  idle memory %.1f MiB (target < %.0f MiB): %s\n", idle, targetIdleMiB, verdict(idle < targetIdleMiB))
		fmt.Fprintf(w, "  peak memory %.1f MiB during this %s load (target < %.0f MiB through a flood): %s\n",
			peak, r.mode, targetPeakMiB, verdict(peak < targetPeakMiB))
	}
}

// writeFloor prints -mode floor.
func writeFloor(w io.Writer, r floorResult) {
	s := summarize(r.latencies)
	rate := r.rate()
	impl := "x/crypto's IDKey"
	if r.own {
		impl = "Twofold's argon2id, memory kept"
	}
	fmt.Fprintf(w, "argon2id floor (%s at %s, %d goroutines): %d hashes in %.1fs = %.1f hashes/s\n",
		impl, r.params, r.goroutines, r.hashes, r.elapsed.Seconds(), rate)
	fmt.Fprintf(w, "one hash: p50 %s, p99 %s, max %s\n", ms(s.p50), ms(s.p99), ms(s.max))
	if r.cpu != nil {
		fmt.Fprintf(w, "CPU while hashing: %s\n", r.cpu)
	}
	fmt.Fprintf(w, "full sign-in target (90%% of the floor): %.1f sign-ins/s; pass -floor %.1f to -mode full\n",
		targetFloorShare*rate, rate)
}

// writeSeed prints -mode seed.
func writeSeed(w io.Writer, r seedResult, batch int) {
	fmt.Fprintf(w, "accounts: %d existed, %d seeded in %.1fs (%.0f/s, %d a transaction); %d in all\n",
		r.existing, r.made, r.took.Seconds(), r.rate(), batch, r.existing+r.made)
}
