package app

import (
	"net/http"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/twofold-auth/twofold/internal/password"
)

// idleMemory gives the heap the server no longer uses back to the operating system once no
// request has come for password.IdleRelease after some did (SPEC §6: under 40 MiB idle). The
// runtime keeps freed heap for minutes, and with GOGC 400 (cmd/twofold) a flood leaves tens
// of MiB of it; the hasher gives back its argon2id memory after the same delay on its own.
type idleMemory struct {
	requests atomic.Uint64 // requests begun, counted by count
	// Kept by the loop alone (tick): the count last seen and when it changed, and the count
	// at the last release.
	seen, released uint64
	changed        time.Time
}

// count counts every request h answers.
func (m *idleMemory) count(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.requests.Add(1)
		h.ServeHTTP(w, r)
	})
}

// tick looks at the count at now and answers whether to give the heap back: once requests
// came and none has for password.IdleRelease since, then not again until more come.
func (m *idleMemory) tick(now time.Time) bool {
	n := m.requests.Load()
	if n != m.seen {
		m.seen, m.changed = n, now
		return false
	}
	if n == m.released || now.Sub(m.changed) < password.IdleRelease {
		return false
	}
	m.released = n
	return true
}

// run ticks every second until done is closed, giving the heap back when tick says so.
func (m *idleMemory) run(done <-chan struct{}) {
	m.changed = time.Now()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if m.tick(time.Now()) {
				debug.FreeOSMemory()
			}
		}
	}
}
