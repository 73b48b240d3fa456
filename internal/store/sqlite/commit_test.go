package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
)

// TestGroupCommitIsolation sends many transactions at once, so that they share commits: every
// one that fails or panics leaves nothing behind, and every one that succeeds is kept.
func TestGroupCommitIsolation(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "twofold.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	errRefused := errors.New("refused")
	const n = 200
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if v := recover(); v != nil {
					results[i] = fmt.Errorf("panic: %v", v)
				}
			}()
			results[i] = db.Update(ctx, func(q store.Queries) error {
				if err := q.AddEvent(ctx, &store.Event{At: time.Unix(int64(i), 0), Actor: "t", Action: fmt.Sprint(i)}); err != nil {
					return err
				}
				switch i % 3 {
				case 1:
					return errRefused
				case 2:
					panic("boom")
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i, err := range results {
		switch {
		case i%3 == 0 && err != nil:
			t.Errorf("transaction %d: %v", i, err)
		case i%3 == 1 && !errors.Is(err, errRefused):
			t.Errorf("transaction %d answered %v, want its own error", i, err)
		case i%3 == 2 && (err == nil || err.Error() != "panic: boom"):
			t.Errorf("transaction %d answered %v, want its panic again", i, err)
		}
	}
	// Read back after reopening: what was answered as committed is on disk, nothing else.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	events, err := db.Events(ctx, store.EventFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]bool{}
	for _, e := range events {
		kept[e.Action] = true
	}
	for i := range n {
		if want := i%3 == 0; kept[fmt.Sprint(i)] != want {
			t.Errorf("event of transaction %d kept = %v, want %v", i, !want, want)
		}
	}
}

// TestClosedStoreRefusesWrites checks that a write after Close fails instead of waiting.
func TestClosedStoreRefusesWrites(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "twofold.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := db.SetOption(ctx, "k", "v"); err == nil {
		t.Fatal("a write after Close succeeded")
	}
}
