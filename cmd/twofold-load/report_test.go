package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"strings"
	"testing"
	"time"
)

func durations(ms ...int) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, m := range ms {
		out[i] = time.Duration(m) * time.Millisecond
	}
	return out
}

func TestPercentileNearestRank(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond // 1..100 ms
	}
	cases := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample, any p", durations(7), 99, 7 * time.Millisecond},
		{"p50 of 1..100", hundred, 50, 50 * time.Millisecond},
		{"p90 of 1..100", hundred, 90, 90 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"p100 is the max", hundred, 100, 100 * time.Millisecond},
		{"p0 is the min", hundred, 0, 1 * time.Millisecond},
		{"p50 of four rounds up the rank", durations(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p51 of four", durations(1, 2, 3, 4), 51, 3 * time.Millisecond},
		{"p99 of ten is the max", durations(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"above 100 is the max", durations(1, 2), 150, 2 * time.Millisecond},
	}
	for _, c := range cases {
		if got := percentile(c.sorted, c.p); got != c.want {
			t.Errorf("%s: percentile(%v) = %v, want %v", c.name, c.p, got, c.want)
		}
	}
}

func TestSummarizeSortsEverySample(t *testing.T) {
	s := summarize(durations(5, 1, 4, 2, 3))
	if s.n != 5 || s.p50 != 3*time.Millisecond || s.max != 5*time.Millisecond || s.p99 != 5*time.Millisecond {
		t.Errorf("summarize = %+v", s)
	}
	if z := summarize(nil); z != (summary{}) {
		t.Errorf("summarize(nil) = %+v, want zero", z)
	}
}

func TestStepStatsCountsOutcomes(t *testing.T) {
	var a, b stepStats
	a.add(answer{status: 200, next: "done", took: time.Millisecond}, "done")
	a.add(answer{status: 200, next: "change_password"}, "done")
	a.add(answer{status: 503, code: "unavailable", retryAfter: true, took: 2 * time.Second}, "done")
	b.add(answer{status: 503, code: "unavailable"}, "done")
	b.add(answer{status: 401, code: "invalid_code"}, "done")
	b.add(answer{err: io.ErrUnexpectedEOF}, "done")
	a.merge(&b)

	if len(a.ok) != 1 || a.ok[0] != time.Millisecond {
		t.Errorf("ok latencies = %v, want the one success", a.ok)
	}
	if len(a.busy) != 2 || a.busyNoRetry != 1 {
		t.Errorf("busy = %v, without Retry-After %d; want 2 and 1", a.busy, a.busyNoRetry)
	}
	want := map[string]int{"200": 1, `200 but next is "change_password"`: 1, "503 unavailable": 2,
		"401 invalid_code": 1, "transport error": 1}
	for k, n := range want {
		if a.outcomes[k] != n {
			t.Errorf("outcomes[%q] = %d, want %d (all: %v)", k, a.outcomes[k], n, a.outcomes)
		}
	}
	if a.total() != 6 {
		t.Errorf("total = %d, want 6", a.total())
	}
	if a.transportErr == "" {
		t.Error("the transport error was not kept")
	}
}

func TestWriteReport(t *testing.T) {
	var whole, verify stepStats
	for _, d := range durations(10, 20, 30, 40) {
		whole.addOK(d)
	}
	verify.add(answer{status: 200, next: "done", took: 2 * time.Millisecond}, "done")
	verify.add(answer{status: 503, code: "unavailable", retryAfter: true, took: time.Second}, "done")
	r := &report{mode: "full", concurrency: 8, server: "pid 42", total: 1000, picked: 200,
		seed: seedResult{existing: 0, made: 1000, took: 2 * time.Second}, elapsed: 2 * time.Second,
		stopped: "duration", floor: 2.5,
		steps: []namedStep{{"sign-in (both steps)", &whole}, {"verify step", &verify}},
		mem:   &memory{pid: 42, idleKB: 30 * 1024, peakKB: 160 * 1024, sampledKB: 150 * 1024, afterKB: 60 * 1024},
	}
	var buf bytes.Buffer
	writeReport(&buf, r)
	out := buf.String()
	for _, want := range []string{
		"mode full, 8 at once, a closed loop, 2.0s (stopped by duration)",
		"1000 load accounts in the database (1000 seeded now in 2.0s, 500/s); 200 ready",
		"sign-in (both steps)          4         2.0    20.00 ms    40.00 ms    40.00 ms    40.00 ms",
		"verify step (2): 200: 1, 503 unavailable: 1",
		"503 unavailable: 1, 0 without Retry-After",
		"idle VmRSS 30.0 MiB; peak during the load VmHWM 160.0 MiB",
		"full sign-ins 2.0/s vs 90% of the 2.5 hashes/s floor = 2.2/s (80% of the floor): MISSED",
		"idle memory 30.0 MiB (target < 40 MiB): met",
		"peak memory 160.0 MiB during this full load (target < 150 MiB through a flood): MISSED",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteReportVerifyTargets(t *testing.T) {
	var v stepStats
	for range 3000 {
		v.add(answer{status: 200, next: "done", took: time.Millisecond}, "done")
	}
	var buf bytes.Buffer
	writeReport(&buf, &report{mode: "verify", concurrency: 8, elapsed: time.Second, stopped: "duration",
		steps: []namedStep{{"verify step", &v}}})
	for _, want := range []string{"verify p99 1.00 ms (target < 5.00 ms): met", "verify rate 3000/s (target >= 1500/s): met"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestProcStatus(t *testing.T) {
	text := "Name:\ttwofold\nVmPeak:\t  812345 kB\nVmHWM:\t   98765 kB\nVmRSS:\t   34567 kB\nThreads:\t7\n"
	got := procStatus(text, "VmRSS", "VmHWM", "Threads", "Missing")
	if got["VmRSS"] != 34567 || got["VmHWM"] != 98765 || got["Threads"] != 7 || len(got) != 3 {
		t.Errorf("procStatus = %v", got)
	}
}

func TestLoopbackURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":  "http://127.0.0.1:8080",
		"127.0.0.1:8080":         "http://127.0.0.1:8080",
		"http://127.0.0.1:9/":    "http://127.0.0.1:9",
		"http://[::1]:8080/path": "http://[::1]:8080",
	} {
		if got, err := loopbackURL(in); err != nil || got != want {
			t.Errorf("loopbackURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"http://10.0.0.1:8080", "http://localhost:8080", "https://127.0.0.1:8443", "http://example.com"} {
		if _, err := loopbackURL(in); err == nil {
			t.Errorf("loopbackURL(%q) accepted an address that is not a loopback IP over http", in)
		}
	}
}

// TestNewTokenMatchesTheService checks that seeded cookies look like the service's own: 43
// characters of base64url without padding, stored as the SHA-256 of the cookie text.
func TestNewTokenMatchesTheService(t *testing.T) {
	token, hash, err := newToken()
	if err != nil {
		t.Fatal(err)
	}
	if len(token) != 43 {
		t.Errorf("token has %d characters, want 43", len(token))
	}
	if b, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(b) != 32 {
		t.Errorf("token does not decode to 32 bytes: %v", err)
	}
	want := sha256.Sum256([]byte(token))
	if !bytes.Equal(hash, want[:]) {
		t.Error("hash is not the SHA-256 of the token text")
	}
}

func TestConfigDefaultsAndBounds(t *testing.T) {
	c, err := parseConfig([]string{"-server-binary", "/bin/true", "-mode", "flood"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.concurrency != 200 || c.duration != defaultDuration {
		t.Errorf("flood defaults: concurrency %d, duration %v", c.concurrency, c.duration)
	}
	if n := c.needed(); n < 200*20 {
		t.Errorf("flood needs %d accounts, fewer than 200 a second for 20s", n)
	}
	c, err = parseConfig([]string{"-server-binary", "/bin/true", "-mode", "verify", "-count", "10"}, io.Discard)
	if err != nil || c.concurrency != 8 || c.needed() != 10 {
		t.Errorf("verify with -count 10: %+v, %v", c, err)
	}
	for _, args := range [][]string{
		{"-mode", "full"}, // no server
		{"-mode", "nope", "-server-binary", "x"},
		{"-addr", "http://127.0.0.1:1"}, // no -data
		{"-addr", "http://192.0.2.1:80", "-data", "d"},
		{"-server-binary", "x", "-duration", "0s"},
		{"-server-binary", "x", "-concurrency", "100000"},
		{"-mode", "seed", "-data", "d"}, // no -accounts
	} {
		if _, err := parseConfig(args, io.Discard); err == nil {
			t.Errorf("parseConfig(%q) accepted", args)
		}
	}
}

func TestAccountNamesAreValidUsernames(t *testing.T) {
	for _, i := range []int{0, 42, 999_999, 12_345_678} {
		n := accountName(i)
		if len(n) > 64 || strings.ToLower(n) != n || strings.Trim(n, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			t.Errorf("accountName(%d) = %q is not a lower-case username", i, n)
		}
	}
}

func TestCPUParsing(t *testing.T) {
	total, idle, err := machineTicks("cpu  100 5 50 800 20 3 2 10 7 0\ncpu0 1 2 3 4\n")
	if err != nil || total != 100+5+50+800+20+3+2+10 || idle != 820 {
		t.Errorf("machineTicks = %d, %d, %v", total, idle, err)
	}
	if _, _, err := machineTicks("intr 1 2 3"); err == nil {
		t.Error("machineTicks accepted a file without the cpu line")
	}
	ticks, flt, err := statTicks("4097 (a (weird) name) R 4088 4088 21908 0 -1 4194304 124 0 0 0 17 4 0 0 20 0 1")
	if err != nil || ticks != 21 || flt != 124 {
		t.Errorf("statTicks = %d, %d, %v; want 17+4 and 124", ticks, flt, err)
	}
	a := cpuSample{total: 1000, idle: 500, server: 100, self: 50}
	b := cpuSample{total: 2000, idle: 600, server: 700, self: 150}
	s := b.shareSince(a, true)
	if s.server != 0.6 || s.self != 0.1 || s.idle != 0.1 || s.other < 0.199 || s.other > 0.201 {
		t.Errorf("shareSince = %+v", s)
	}
	if !strings.Contains(s.String(), "server 60%, twofold-load 10%, other processes 20%, idle 10%") {
		t.Errorf("String = %q", s.String())
	}
}
