package main

import (
	"context"
	"sync/atomic"
	"time"
)

// When requests start.
//
// Without -rate the workers are a closed loop: each sends its next request when its last is
// answered, so the rate is whatever the server answers. A stall then holds up only the
// requests in flight (8 at the default concurrency), and the requests that would have arrived
// meanwhile are never sent, so a closed loop's p99 leaves out most of the time a stall keeps
// people waiting.
//
// With -rate R the requests are scheduled 1/R seconds apart from the start of the run, as
// people arriving are, whatever the answers. A worker takes the next scheduled start, waits
// for it, and sends. When every worker is still waiting for an answer, the requests that fall
// due meanwhile start late, and a request's time counts from its scheduled start: the wait is
// part of what it measures. When the server cannot keep up, the run still sends every request
// scheduled before its end, each counted from its schedule.

// pacer hands out starts.
type pacer struct {
	start  time.Time
	every  time.Duration // 0: a closed loop
	stopAt time.Time     // no request is scheduled at or after this
	n      atomic.Int64  // starts handed out

	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration)
}

// newPacer schedules rate requests a second (a closed loop when rate is 0) from start until
// start plus d.
func newPacer(start time.Time, d time.Duration, rate float64) *pacer {
	p := &pacer{start: start, stopAt: start.Add(d), now: time.Now, sleep: sleepCtx}
	if rate > 0 {
		p.every = time.Duration(float64(time.Second) / rate)
	}
	return p
}

// due waits for the next request's scheduled start and answers how late the request starts
// against it (always 0 in a closed loop), or false when the run's time is up (in a closed
// loop when the run's end has passed, paced when the next start falls at or after it) or ctx
// has ended.
func (p *pacer) due(ctx context.Context) (late time.Duration, ok bool) {
	if ctx.Err() != nil {
		return 0, false
	}
	if p.every == 0 {
		return 0, p.now().Before(p.stopAt)
	}
	at := p.start.Add(time.Duration(p.n.Add(1)-1) * p.every)
	if !at.Before(p.stopAt) {
		return 0, false
	}
	if d := at.Sub(p.now()); d > 0 {
		p.sleep(ctx, d)
	}
	if ctx.Err() != nil {
		return 0, false
	}
	return max(p.now().Sub(at), 0), true
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// endReason names the bound that made due answer false.
func endReason(ctx context.Context) string {
	if ctx.Err() != nil {
		return "interrupted"
	}
	return "duration"
}
