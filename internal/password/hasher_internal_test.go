package password

import (
	"context"
	"crypto/rand"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/argon2id"
)

var tinyParams = Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

// guard fails the test if ch does not deliver soon; it only fires when the code under test hangs.
func guard[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still blocked after 10s", what)
		panic("unreachable")
	}
}

// occupy takes every worker slot, as callers in the middle of a hash would, and answers the
// function that frees them.
func occupy(h *Hasher) (free func()) {
	n := cap(h.slots)
	for range n {
		h.admit <- struct{}{}
		h.slots <- struct{}{}
	}
	return func() {
		for range n {
			h.release()
		}
	}
}

// withWaitSignal makes h report on the returned channel each time a caller starts waiting.
func withWaitSignal(h *Hasher) <-chan struct{} {
	ch := make(chan struct{}, cap(h.admit))
	h.onWait = func() { ch <- struct{}{} }
	return ch
}

func TestHasherRoundTrip(t *testing.T) {
	h := NewHasher(tinyParams, 2, time.Second, rand.Reader)
	ctx := context.Background()
	phc, err := h.Hash(ctx, "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		pw   string
		want bool
	}{
		{"right", "a long enough password", true},
		{"wrong", "a long enough passworD", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ok, replace, err := h.Verify(ctx, c.pw, phc)
			if err != nil || ok != c.want || replace {
				t.Errorf("Verify = %v, %v, %v; want %v, false", ok, replace, err, c.want)
			}
		})
	}
	if _, _, err := h.Verify(ctx, "x", "$argon2id$garbage"); !errors.Is(err, ErrMalformedHash) {
		t.Errorf("Verify(malformed) error = %v", err)
	}
	if err := h.VerifyDummy(ctx, "a long enough password"); err != nil {
		t.Errorf("VerifyDummy: %v", err)
	}
	if h.Params() != tinyParams {
		t.Errorf("Params = %+v", h.Params())
	}
	if h.InFlight() != 0 || h.Waiting() != 0 || len(h.admit) != 0 {
		t.Errorf("after the calls: InFlight %d, Waiting %d, admitted %d; want 0", h.InFlight(), h.Waiting(), len(h.admit))
	}
}

// TestHasherVerifyReplace: Verify asks for a stored hash to be replaced only when the password
// is right and the hash was made at a lower cost than the Hasher's (SPEC §5).
func TestHasherVerifyReplace(t *testing.T) {
	const pw = "a long enough password"
	raised := tinyParams
	raised.Memory, raised.Time = 128, 2
	stronger := raised
	stronger.Time = 3
	h := NewHasher(raised, 1, time.Second, rand.Reader)
	ctx := context.Background()
	hash := func(p Params) string {
		t.Helper()
		phc, err := Hash(pw, p, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return phc
	}
	weak := hash(tinyParams)
	cases := []struct {
		name        string
		pw, phc     string
		ok, replace bool
	}{
		{"weaker, right password", pw, weak, true, true},
		{"weaker, wrong password", pw + "!", weak, false, false},
		{"the Hasher's cost", pw, hash(raised), true, false},
		{"stronger", pw, hash(stronger), true, false},
	}
	for _, c := range cases {
		ok, replace, err := h.Verify(ctx, c.pw, c.phc)
		if err != nil || ok != c.ok || replace != c.replace {
			t.Errorf("%s: Verify = %v, %v, %v; want %v, %v", c.name, ok, replace, err, c.ok, c.replace)
		}
	}
}

func TestHasherDummyMatchesParams(t *testing.T) {
	// VerifyDummy must cost what a real Verify costs: its hash must carry the Hasher's params.
	h := NewHasher(DefaultParams, 1, time.Second, rand.Reader)
	p, _, _, err := decode(h.dummy)
	if err != nil {
		t.Fatal(err)
	}
	if p != DefaultParams {
		t.Errorf("dummy params = %+v, want %+v", p, DefaultParams)
	}
}

func TestHasherWorkersDefault(t *testing.T) {
	h := NewHasher(tinyParams, 0, time.Second, nil)
	if cap(h.slots) < 1 || cap(h.admit) != cap(h.slots)*(1+waitersPerWorker) {
		t.Errorf("slots %d, admit %d", cap(h.slots), cap(h.admit))
	}
}

func TestHasherQueueBound(t *testing.T) {
	h := NewHasher(tinyParams, 1, time.Hour, rand.Reader)
	waits := withWaitSignal(h)
	free := occupy(h)

	// Fill the queue: each waiter blocks until the worker frees up.
	const waiters = waitersPerWorker
	results := make(chan error, waiters)
	for range waiters {
		go func() {
			_, err := h.Hash(context.Background(), "queued password")
			results <- err
		}()
	}
	for i := range waiters {
		guard(t, waits, "waiter "+string(rune('a'+i)))
	}
	if h.Waiting() != waiters || h.InFlight() != 1 {
		t.Fatalf("Waiting %d, InFlight %d; want %d, 1", h.Waiting(), h.InFlight(), waiters)
	}

	// The queue is full: one more caller of each kind is refused at once, without waiting.
	refused := make(chan error, 3)
	go func() { _, err := h.Hash(context.Background(), "one too many"); refused <- err }()
	go func() { _, _, err := h.Verify(context.Background(), "one too many", h.dummy); refused <- err }()
	go func() { refused <- h.VerifyDummy(context.Background(), "one too many") }()
	for range 3 {
		if err := guard(t, refused, "refused caller"); !errors.Is(err, ErrBusy) {
			t.Errorf("caller beyond the queue: %v, want ErrBusy", err)
		}
	}

	// Freeing the worker lets every waiter through, one at a time.
	free()
	for range waiters {
		if err := guard(t, results, "waiter result"); err != nil {
			t.Errorf("queued caller: %v", err)
		}
	}
	if h.InFlight() != 0 || h.Waiting() != 0 || len(h.admit) != 0 {
		t.Errorf("after the flood: InFlight %d, Waiting %d, admitted %d; want 0", h.InFlight(), h.Waiting(), len(h.admit))
	}
}

func TestHasherMaxWait(t *testing.T) {
	h := NewHasher(tinyParams, 1, time.Hour, rand.Reader)
	waits := withWaitSignal(h)
	fire := make(chan time.Time)
	var asked time.Duration
	h.newTimer = func(d time.Duration) (<-chan time.Time, func() bool) {
		asked = d
		return fire, func() bool { return true }
	}
	free := occupy(h)
	defer free()

	done := make(chan error, 1)
	go func() { _, err := h.Hash(context.Background(), "patient password"); done <- err }()
	guard(t, waits, "waiter")
	if asked != time.Hour {
		t.Errorf("timer set for %v, want maxWait %v", asked, time.Hour)
	}
	close(fire) // maxWait elapses
	if err := guard(t, done, "timed-out caller"); !errors.Is(err, ErrBusy) {
		t.Errorf("after maxWait: %v, want ErrBusy", err)
	}
	if len(h.admit) != 1 || h.Waiting() != 0 {
		t.Errorf("the timed-out caller kept its place: admitted %d, waiting %d", len(h.admit), h.Waiting())
	}
}

func TestHasherMaxWaitRealTimer(t *testing.T) {
	// The one test on the real clock: only a lower bound, which timers guarantee.
	const maxWait = 20 * time.Millisecond
	h := NewHasher(tinyParams, 1, maxWait, rand.Reader)
	free := occupy(h)
	defer free()
	start := time.Now()
	_, err := h.Hash(context.Background(), "patient password")
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("Hash = %v, want ErrBusy", err)
	}
	if waited := time.Since(start); waited < maxWait {
		t.Errorf("gave up after %v, before maxWait %v", waited, maxWait)
	}
}

func TestHasherNoWait(t *testing.T) {
	h := NewHasher(tinyParams, 1, 0, rand.Reader)
	h.onWait = func() { t.Error("a Hasher with maxWait 0 waited") }
	free := occupy(h)
	defer free()
	if _, err := h.Hash(context.Background(), "impatient password"); !errors.Is(err, ErrBusy) {
		t.Errorf("Hash = %v, want ErrBusy", err)
	}
}

func TestHasherContext(t *testing.T) {
	t.Run("ended before", func(t *testing.T) {
		h := NewHasher(tinyParams, 1, time.Hour, rand.Reader)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := h.Hash(ctx, "some password"); !errors.Is(err, context.Canceled) {
			t.Errorf("Hash = %v, want context.Canceled", err)
		}
	})
	t.Run("ends while waiting", func(t *testing.T) {
		h := NewHasher(tinyParams, 1, time.Hour, rand.Reader)
		waits := withWaitSignal(h)
		free := occupy(h)
		defer free()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { _, _, err := h.Verify(ctx, "some password", h.dummy); done <- err }()
		guard(t, waits, "waiter")
		cancel()
		if err := guard(t, done, "cancelled caller"); !errors.Is(err, context.Canceled) {
			t.Errorf("Verify = %v, want context.Canceled", err)
		}
		if len(h.admit) != 1 {
			t.Errorf("the cancelled caller kept its place: admitted %d", len(h.admit))
		}
	})
}

func TestHasherSharedReader(t *testing.T) {
	// A reader that is not safe for concurrent use is serialised by the Hasher (run with -race).
	h := NewHasher(tinyParams, 4, time.Minute, &countingReader{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := h.Hash(context.Background(), "concurrent password"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// countingReader is a deterministic, unsynchronised byte source.
type countingReader struct{ n byte }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		r.n++
		p[i] = r.n
	}
	return len(p), nil
}

// held answers how many bytes the workers' memories that no hash is using hold.
func (h *Hasher) held(t *testing.T) int {
	t.Helper()
	total := 0
	var ms []*argon2id.Memory
	for range cap(h.mems) {
		m := guard(t, h.mems, "a worker's memory")
		total += m.Size()
		ms = append(ms, m)
	}
	for _, m := range ms {
		h.mems <- m
	}
	return total
}

// TestHasherKeepsMemoryUntilIdle: the workers' argon2id buffers stay mapped between hashes,
// and are given back once no hash has ended for IdleRelease (SPEC §6, idle memory); a hash
// after that maps them again and still verifies.
func TestHasherKeepsMemoryUntilIdle(t *testing.T) {
	h := NewHasher(tinyParams, 2, time.Second, rand.Reader)
	now := time.Date(2031, 3, 14, 9, 0, 0, 0, time.UTC)
	var scheduled []func()
	var delays []time.Duration
	h.now = func() time.Time { return now }
	h.afterFunc = func(d time.Duration, f func()) { delays, scheduled = append(delays, d), append(scheduled, f) }
	runNext := func() {
		t.Helper()
		if len(scheduled) == 0 {
			t.Fatal("no release scheduled")
		}
		f := scheduled[0]
		scheduled = scheduled[1:]
		f()
	}
	ctx := context.Background()
	if h.held(t) != 0 {
		t.Fatal("a new Hasher holds memory before any hash")
	}
	phc, err := h.Hash(ctx, "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	perHash := int(tinyParams.Memory) * 1024
	if got := h.held(t); got != perHash {
		t.Fatalf("after one hash the workers hold %d bytes, want %d", got, perHash)
	}
	if len(scheduled) != 1 || delays[0] != IdleRelease {
		t.Fatalf("after one hash: %d releases scheduled (%v), want one after %s", len(scheduled), delays, IdleRelease)
	}

	// Another hash 3 s later: the release due at 5 s finds the Hasher busy 2 s ago and waits 3 s more.
	now = now.Add(3 * time.Second)
	if ok, _, err := h.Verify(ctx, "a long enough password", phc); !ok || err != nil {
		t.Fatalf("Verify: %v %v", ok, err)
	}
	if len(scheduled) != 1 {
		t.Fatalf("a second hash scheduled another release while one was pending: %d", len(scheduled))
	}
	now = now.Add(2 * time.Second)
	runNext()
	if got := h.held(t); got == 0 {
		t.Fatal("memory released 2 s after a hash")
	}
	if len(scheduled) != 1 || delays[1] != 3*time.Second {
		t.Fatalf("the release was not put off by 3 s: %v", delays)
	}
	now = now.Add(3 * time.Second)
	runNext()
	if got := h.held(t); got != 0 {
		t.Fatalf("after %s idle the workers still hold %d bytes", IdleRelease, got)
	}
	if len(scheduled) != 0 {
		t.Fatal("an idle Hasher keeps scheduling releases")
	}

	// Hashing again maps memory again, and schedules its release.
	if ok, _, err := h.Verify(ctx, "a long enough password", phc); !ok || err != nil {
		t.Fatalf("Verify after the release: %v %v", ok, err)
	}
	if h.held(t) == 0 || len(scheduled) != 1 {
		t.Fatalf("after a hash following a release: %d bytes held, %d releases scheduled", h.held(t), len(scheduled))
	}
}

// TestHasherReleaseSparesMemoryInUse: the idle release gives back only the memories no hash
// holds; one taken by a hash meanwhile is left to it.
func TestHasherReleaseSparesMemoryInUse(t *testing.T) {
	h := NewHasher(tinyParams, 2, time.Second, rand.Reader)
	var sweep func()
	h.afterFunc = func(_ time.Duration, f func()) { sweep = f }
	h.now = func() time.Time { return time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC) }
	ctx := context.Background()
	for range 2 {
		if _, err := h.Hash(ctx, "a long enough password"); err != nil {
			t.Fatal(err)
		}
	}
	busy := <-h.mems // as a hash in progress holds it
	busy.Key([]byte("pw"), []byte("saltsalt"), 1, 64, 1, 32)
	h.now = func() time.Time { return time.Date(2031, 1, 1, 0, 1, 0, 0, time.UTC) }
	sweep()
	if busy.Size() == 0 {
		t.Fatal("the release took the memory of a hash in progress")
	}
	h.mems <- busy
}

// TestHasherReleaseNow: Release gives the workers' memory back at once, without waiting for
// the idle delay, and the next hash still works.
func TestHasherReleaseNow(t *testing.T) {
	h := NewHasher(tinyParams, 2, time.Second, rand.Reader)
	h.afterFunc = func(time.Duration, func()) {}
	ctx := context.Background()
	phc, err := h.Hash(ctx, "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	if h.held(t) == 0 {
		t.Fatal("no memory held after a hash")
	}
	h.Release()
	if got := h.held(t); got != 0 {
		t.Fatalf("after Release the workers hold %d bytes", got)
	}
	if ok, _, err := h.Verify(ctx, "a long enough password", phc); !ok || err != nil {
		t.Fatalf("Verify after Release: %v %v", ok, err)
	}
}

// TestDefaultWorkers: by default one hash runs per p.Threads cores, at least one, so that a
// cost of several lanes does not map a buffer per core for no gain.
func TestDefaultWorkers(t *testing.T) {
	cpus := runtime.NumCPU()
	for _, c := range []struct {
		threads uint8
		want    int
	}{{1, cpus}, {2, max(1, cpus/2)}, {4, max(1, cpus/4)}, {64, max(1, cpus/64)}} {
		p := DefaultParams
		p.Threads = c.threads
		h := NewHasher(p, 0, time.Second, rand.Reader)
		if got := cap(h.slots); got != c.want {
			t.Errorf("p=%d on %d CPUs: %d workers, want %d", c.threads, cpus, got, c.want)
		}
		if got := cap(h.mems); got != c.want {
			t.Errorf("p=%d: %d memories for %d workers", c.threads, got, c.want)
		}
	}
}
