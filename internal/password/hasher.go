package password

import (
	"context"
	"errors"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twofold-auth/twofold/internal/argon2id"
)

// ErrBusy means every worker is busy and the caller could not wait (the queue is full) or
// waited its maxWait in vain. Servers answer it as "unavailable, retry later".
var ErrBusy = errors.New("password: hashing is saturated")

// waitersPerWorker bounds the queue: beyond workers*waitersPerWorker waiting callers, new
// callers get ErrBusy at once, so a flood costs goroutines and memory in proportion to workers.
const waitersPerWorker = 16

// IdleRelease is how long the workers' argon2id buffers are kept after the last hash: a server
// that signs people in keeps them (no allocation, zeroing or page faults per hash), an idle one
// gives them back to the operating system (SPEC §6: under 40 MiB idle). A serving app waits as
// long after its last request before it gives back its free heap.
const IdleRelease = 5 * time.Second

// Hasher bounds how many hashes run at once so that a flood cannot exhaust memory (each argon2id
// hash needs Params.Memory KiB), and keeps one argon2id buffer per worker between hashes, given
// back to the operating system after IdleRelease without a hash. It is safe for concurrent use.
type Hasher struct {
	params  Params
	rand    io.Reader
	maxWait time.Duration
	dummy   string // a PHC string under params that no password matches, for VerifyDummy

	// admit holds one token per caller that is working or waiting; slots one per caller that
	// is working. Buffered channels are the semaphores.
	admit   chan struct{}
	slots   chan struct{}
	waiting atomic.Int64

	// mems holds the workers' memories that no hash is using: a caller holding a slot takes
	// one (there is always one for each slot) and puts it back before freeing the slot.
	mems chan *argon2id.Memory
	// idle guards lastUse and sweeping: lastUse is when a memory was last put back, and
	// sweeping says a call of sweep is scheduled.
	idle     sync.Mutex
	lastUse  time.Time
	sweeping bool
	now      func() time.Time
	// afterFunc schedules sweep (time.AfterFunc; tests run it by hand).
	afterFunc func(time.Duration, func())

	// Test hooks: newTimer replaces time.NewTimer; onWait runs when a caller starts waiting,
	// its timer set.
	newTimer func(time.Duration) (<-chan time.Time, func() bool)
	onWait   func()
}

// defaultWorkers is one hash at a time per p.Threads cores (at least one): a hash of several
// lanes computes them on as many goroutines, so more workers than that would only hold more
// memory, not hash faster.
func defaultWorkers(p Params) int {
	return max(1, runtime.NumCPU()/max(1, int(p.Threads)))
}

// NewHasher returns a Hasher that hashes new passwords under p, runs at most workers hashes at
// once (one per p.Threads cores when workers <= 0) and lets a caller wait at most maxWait for a free
// worker (with maxWait <= 0, a caller that finds every worker busy gets ErrBusy at once). Salts
// come from rand (crypto/rand.Reader when nil), which the Hasher serialises, so it need not be
// safe for concurrent use.
func NewHasher(p Params, workers int, maxWait time.Duration, rand io.Reader) *Hasher {
	if workers <= 0 {
		workers = defaultWorkers(p)
	}
	// A dummy of zero salt and zero hash costs exactly the work of a real Verify, and a password
	// matches it with probability 2^-(8*KeyLen); it needs no randomness, so it can be made here.
	dummy := encode(p, make([]byte, p.SaltLen), make([]byte, p.KeyLen))
	mems := make(chan *argon2id.Memory, workers)
	for range workers {
		mems <- new(argon2id.Memory) // maps nothing until its first hash
	}
	return &Hasher{
		mems:      mems,
		now:       time.Now,
		afterFunc: func(d time.Duration, f func()) { time.AfterFunc(d, f) },
		params:    p,
		rand:      &lockedReader{r: orDefault(rand)},
		maxWait:   maxWait,
		dummy:     dummy,
		admit:     make(chan struct{}, workers*(1+waitersPerWorker)),
		slots:     make(chan struct{}, workers),
		newTimer: func(d time.Duration) (<-chan time.Time, func() bool) {
			t := time.NewTimer(d)
			return t.C, t.Stop
		},
	}
}

// Params answers the parameters the Hasher uses for new hashes.
func (h *Hasher) Params() Params { return h.params }

// InFlight answers how many hashes are running now, for metrics.
func (h *Hasher) InFlight() int { return len(h.slots) }

// Waiting answers how many callers are waiting for a worker now, for metrics.
func (h *Hasher) Waiting() int { return int(h.waiting.Load()) }

// Hash is the package-level Hash under the Hasher's params and bound. It answers ErrBusy when
// no worker frees up in time, or ctx's error when ctx ends first.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	m := <-h.mems
	defer h.putBack(m)
	return hashIn(m, pw, h.params, h.rand)
}

// Verify is the package-level Verify under the Hasher's bound. A stored string's own parameters
// apply, so hashes made under older params keep verifying. replace reports that pw is right and
// phc was made at a lower cost than the Hasher's params (Params.Weaker): the caller should store
// a new hash of pw (SPEC §5).
func (h *Hasher) Verify(ctx context.Context, pw, phc string) (ok, replace bool, err error) {
	// Parse first: a malformed string should not take a worker, nor wait for one.
	p, salt, want, err := decode(phc)
	if err != nil {
		return false, false, err
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return false, false, err
	}
	defer release()
	m := <-h.mems
	defer h.putBack(m)
	ok = matches(m, pw, p, salt, want)
	return ok, ok && p.Weaker(h.params), nil
}

// putBack returns m to the workers' memories and schedules their release for when the
// Hasher has been idle for IdleRelease.
func (h *Hasher) putBack(m *argon2id.Memory) {
	h.mems <- m
	h.idle.Lock()
	defer h.idle.Unlock()
	h.lastUse = h.now()
	if !h.sweeping {
		h.sweeping = true
		h.afterFunc(IdleRelease, h.sweep)
	}
}

// sweep releases the memories of the workers once no hash has ended for IdleRelease, or
// schedules itself again for when that will be so.
func (h *Hasher) sweep() {
	h.idle.Lock()
	defer h.idle.Unlock()
	if wait := IdleRelease - h.now().Sub(h.lastUse); wait > 0 {
		h.afterFunc(wait, h.sweep)
		return
	}
	h.sweeping = false
	h.Release()
}

// Release gives back to the operating system the memory of every worker that is not hashing
// now, as an idle Hasher does on its own after IdleRelease; a later hash maps it again. A
// server calls it after a hash at start (the first admin's password), so that it idles small
// from the start.
func (h *Hasher) Release() {
	// Only the memories no hash is using are in mems; a hash that starts meanwhile waits for
	// its memory the moment it takes to unmap them.
	var held []*argon2id.Memory
	for range cap(h.mems) {
		select {
		case m := <-h.mems:
			m.Release()
			held = append(held, m)
		default:
		}
	}
	for _, m := range held {
		h.mems <- m
	}
}

// VerifyDummy spends the same work as a Verify against a hash under the Hasher's params, under
// the same bound, and discards the answer. Sign-in calls it when the account does not exist, so
// that the answer takes about as long as for an account that does.
func (h *Hasher) VerifyDummy(ctx context.Context, pw string) error {
	_, _, err := h.Verify(ctx, pw, h.dummy)
	return err
}

// acquire takes a worker slot, waiting within the bounds, and answers the function that gives
// it back.
func (h *Hasher) acquire(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case h.admit <- struct{}{}:
	default:
		return nil, ErrBusy // the queue is full: refuse before holding any resource
	}
	select {
	case h.slots <- struct{}{}:
		return h.release, nil
	default:
	}
	if h.maxWait <= 0 {
		<-h.admit
		return nil, ErrBusy
	}
	h.waiting.Add(1)
	defer h.waiting.Add(-1)
	timeout, stop := h.newTimer(h.maxWait)
	defer stop()
	if h.onWait != nil {
		h.onWait()
	}
	select {
	case h.slots <- struct{}{}:
		return h.release, nil
	case <-timeout:
		<-h.admit
		return nil, ErrBusy
	case <-ctx.Done():
		<-h.admit
		return nil, ctx.Err()
	}
}

func (h *Hasher) release() {
	<-h.slots
	<-h.admit
}

// lockedReader serialises reads so that one io.Reader can serve concurrent hashes.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}
