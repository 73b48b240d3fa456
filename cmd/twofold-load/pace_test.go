package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// fakeClock is a pacer's clock: sleeping moves it on by exactly the time asked.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time                           { return c.t }
func (c *fakeClock) sleep(_ context.Context, d time.Duration) { c.t = c.t.Add(d) }

func fakePacer(c *fakeClock, d time.Duration, rate float64) *pacer {
	p := newPacer(c.t, d, rate)
	p.now, p.sleep = c.now, c.sleep
	return p
}

func TestPacerSchedulesAndCountsLateness(t *testing.T) {
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	c := &fakeClock{t: start}
	p := fakePacer(c, 10*time.Millisecond, 1000) // starts at 0, 1, ..., 9 ms

	for i := range 3 {
		late, ok := p.due(t.Context())
		if !ok || late != 0 {
			t.Fatalf("start %d: late %v, ok %v; want on time", i, late, ok)
		}
		if want := start.Add(time.Duration(i) * time.Millisecond); !c.t.Equal(want) {
			t.Fatalf("start %d sent at %v, want its schedule %v", i, c.t.Sub(start), want.Sub(start))
		}
	}
	// Every worker was held up until 7.5 ms: the starts due at 3 to 7 ms go at once, each
	// counting how late it is; the one at 8 ms waits for its time.
	c.t = start.Add(7500 * time.Microsecond)
	for i := 3; i <= 7; i++ {
		late, ok := p.due(t.Context())
		if want := 7500*time.Microsecond - time.Duration(i)*time.Millisecond; !ok || late != want {
			t.Fatalf("start %d: late %v, ok %v; want %v late", i, late, ok, want)
		}
		if !c.t.Equal(start.Add(7500 * time.Microsecond)) {
			t.Fatalf("start %d waited though it was late", i)
		}
	}
	if late, ok := p.due(t.Context()); !ok || late != 0 || !c.t.Equal(start.Add(8*time.Millisecond)) {
		t.Fatalf("start 8: late %v, ok %v at %v", late, ok, c.t.Sub(start))
	}
	// The run's end is 10 ms: 9 ms is the last start, though the clock is past the end by
	// then (a backlog is sent, not dropped).
	c.t = start.Add(20 * time.Millisecond)
	if late, ok := p.due(t.Context()); !ok || late != 11*time.Millisecond {
		t.Fatalf("start 9: late %v, ok %v; want 11ms late", late, ok)
	}
	if _, ok := p.due(t.Context()); ok {
		t.Fatal("a start at the run's end was handed out")
	}
}

func TestPacerClosedLoop(t *testing.T) {
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	c := &fakeClock{t: start}
	p := fakePacer(c, time.Second, 0)
	for range 100 {
		if late, ok := p.due(t.Context()); !ok || late != 0 || !c.t.Equal(start) {
			t.Fatalf("closed loop: late %v, ok %v, slept to %v", late, ok, c.t.Sub(start))
		}
	}
	c.t = start.Add(time.Second)
	if _, ok := p.due(t.Context()); ok {
		t.Fatal("a closed loop went on past its end")
	}
}

func TestPacerStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, rate := range []float64{0, 0.001} { // a closed loop; a start every 1,000 s
		if _, ok := newPacer(time.Now(), time.Hour, rate).due(ctx); ok {
			t.Errorf("rate %v: a start was handed out after the context ended", rate)
		}
	}
	if got := endReason(ctx); got != "interrupted" {
		t.Errorf("endReason = %q", got)
	}
}

func TestRateConfig(t *testing.T) {
	for _, bad := range [][]string{
		{"-mode", "verify", "-rate", "-1"},
		{"-mode", "verify", "-rate", "NaN"},
		{"-mode", "verify", "-rate", "1e6"},
		{"-mode", "verify", "-rate", "1e-300"}, // a start every 1e291 s: more than a Duration holds
		{"-mode", "flood", "-rate", "100"},
		{"-mode", "floor", "-rate", "100"},
	} {
		if _, err := parseConfig(append([]string{"-server-binary", "x"}, bad...), io.Discard); err == nil || !strings.Contains(err.Error(), "-rate") {
			t.Errorf("%v: err = %v, want a -rate error", bad, err)
		}
	}
	if _, err := parseConfig([]string{"-server-binary", "x", "-mode", "verify", "-warmup", "6m"}, io.Discard); err == nil || !strings.Contains(err.Error(), "-warmup") {
		t.Errorf("a 6-minute warm-up: err = %v", err)
	}
	if _, err := parseConfig([]string{"-server-binary", "x", "-mode", "token", "-warmup", "5m", "-duration", "21m"}, io.Discard); err == nil || !strings.Contains(err.Error(), "-warmup") {
		t.Errorf("a token run of 26 minutes with its warm-up: err = %v", err)
	}
	c, err := parseConfig([]string{"-server-binary", "x", "-mode", "verify", "-rate", "4000", "-duration", "10s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// 10 s and a 2 s warm-up at 4,000 a second: the run's accounts and the warm-up's.
	if c.rate != 4000 || c.warmup != defaultPacedWarmup || c.needed() < 48000 {
		t.Errorf("rate %v, warm-up %v, accounts needed %d; want 4000, %v and at least 48,000", c.rate, c.warmup, c.needed(), defaultPacedWarmup)
	}
	c, err = parseConfig([]string{"-server-binary", "x", "-mode", "verify", "-rate", "4000", "-warmup", "0", "-duration", "10s"}, io.Discard)
	if err != nil || c.warmup != 0 || c.needed() != 40008 { // what the schedule starts, and one more a worker
		t.Errorf("-warmup 0: %v, warm-up %v, accounts needed %d", err, c.warmup, c.needed())
	}
	c, err = parseConfig([]string{"-server-binary", "x", "-mode", "verify", "-duration", "10s"}, io.Discard)
	if err != nil || c.warmup != 0 || c.needed() != 33000 {
		t.Errorf("closed loop: %v, warm-up %v, accounts needed %d; want none and 33,000", err, c.warmup, c.needed())
	}
	c, err = parseConfig([]string{"-server-binary", "x", "-mode", "token", "-rate", "8000", "-duration", "10s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.grantPairs() < 48000 {
		t.Errorf("grant pairs %d at 8,000 grants a second for 10 s and 2 s of warm-up; want at least 48,000", c.grantPairs())
	}
}

func TestWriteReportPaced(t *testing.T) {
	var v stepStats
	v.add(answer{status: 200, next: "done", took: time.Millisecond}, "done")
	var buf bytes.Buffer
	writeReport(&buf, &report{mode: "verify", concurrency: 8, rate: 1500, warmup: 2 * time.Second,
		elapsed: time.Second, stopped: "duration", steps: []namedStep{{"verify step", &v}}})
	if want := "mode verify, 8 at once, paced at 1500 a second, each timed from its scheduled start, after a 2s warm-up not counted, 1.0s (stopped by duration)"; !strings.Contains(buf.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, buf.String())
	}
}
