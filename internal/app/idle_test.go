package app

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/password"
)

// TestIdleMemory: the heap is given back once, password.IdleRelease after the last request,
// never while requests come or before any came, and again after more requests.
func TestIdleMemory(t *testing.T) {
	var m idleMemory
	h := m.count(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	request := func() { h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil)) }
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	m.changed = t0
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	for s := time.Duration(0); s <= 3*password.IdleRelease; s += time.Second {
		if m.tick(at(s)) {
			t.Fatalf("released at %s with no request yet", s)
		}
	}
	// Requests every second for a while: no release while they come.
	start := 3 * password.IdleRelease
	for s := start; s < start+10*time.Second; s += time.Second {
		request()
		if m.tick(at(s)) {
			t.Fatalf("released at %s while requests came", s)
		}
	}
	last := start + 9*time.Second // the tick that saw the last request
	var released []time.Duration
	for s := start + 10*time.Second; s <= last+4*password.IdleRelease; s += time.Second {
		if m.tick(at(s)) {
			released = append(released, s-last)
		}
	}
	if len(released) != 1 || released[0] != password.IdleRelease {
		t.Fatalf("released %v after the last request, want once, %s after it", released, password.IdleRelease)
	}
	// More requests: released again once they stop.
	request()
	next := last + 5*password.IdleRelease
	m.tick(at(next))
	if m.tick(at(next + password.IdleRelease - time.Second)) {
		t.Fatal("released before IdleRelease passed")
	}
	if !m.tick(at(next + password.IdleRelease)) {
		t.Fatal("not released after new requests stopped")
	}
}
