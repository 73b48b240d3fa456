package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	msqlite "modernc.org/sqlite"

	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/sqlstore"
)

// TestGroupCommitIsolation sends many transactions at once, so that they share commits: every
// one that fails or panics leaves nothing behind, and every one that succeeds is kept.
func TestGroupCommitIsolation(t *testing.T) {
	ctx := context.Background()
	db, path := openFile(t)
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
	kept := eventActions(t, db, path)
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

// testHook is what the SQL function twofold_test_hook() calls, so that a test can act while a
// statement is running.
var (
	testHook     atomic.Pointer[func()]
	registerHook sync.Once
)

func useTestHook(t *testing.T, f func()) {
	registerHook.Do(func() {
		msqlite.MustRegisterScalarFunction("twofold_test_hook", 0, func(*msqlite.FunctionContext, []driver.Value) (driver.Value, error) {
			if f := testHook.Load(); f != nil {
				(*f)()
			}
			return int64(1), nil
		})
	})
	testHook.Store(&f)
	t.Cleanup(func() { testHook.Store(nil) })
}

// runAsBatch runs the calls as one batch, as the committer does with the transactions waiting
// at the same moment, and answers each one's error (a panic as an error).
func runAsBatch(db *DB, calls ...commitReq) []error {
	batch := make([]*commitReq, len(calls))
	for i := range calls {
		batch[i] = &commitReq{ctx: calls[i].ctx, fn: calls[i].fn, done: make(chan struct{})}
	}
	db.runBatch(batch)
	errs := make([]error, len(batch))
	for i, r := range batch {
		errs[i] = r.err
		if r.pval != nil {
			errs[i] = fmt.Errorf("panic: %v", r.pval)
		}
	}
	return errs
}

func addEvent(ctx context.Context, action string) func(q sqlstore.Queries) error {
	return func(q sqlstore.Queries) error {
		return q.AddEvent(ctx, &store.Event{At: time.Unix(1, 0), Actor: "t", Action: action})
	}
}

// openFile opens a new database file; the test closes it (eventActions does).
func openFile(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "twofold.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return db, path
}

// eventActions answers the actions of the events in the file, read back after reopening it.
func eventActions(t *testing.T, db *DB, path string) map[string]bool {
	t.Helper()
	ctx := context.Background()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, path)
	if err != nil {
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
	return kept
}

// longStatement runs for a while after calling twofold_test_hook() at its start, and writes
// one event.
const longStatement = `INSERT INTO events (at, action)
	SELECT 1, 'long' FROM (
		WITH RECURSIVE c(n) AS (SELECT twofold_test_hook() UNION ALL SELECT n + 1 FROM c WHERE n < 300000)
		SELECT max(n) FROM c)`

// TestCancelledCallerLeavesBatchAlone cancels one caller's context while its statement runs,
// in the middle of a batch: the statement is not cut short (SQLite would roll the whole shared
// transaction back), the caller's next statement is refused, its fn is rolled back to its own
// savepoint, and every other transaction of the batch is committed.
func TestCancelledCallerLeavesBatchAlone(t *testing.T) {
	bg := context.Background()
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	useTestHook(t, func() { // before Open: connections get the function when they open
		cancel()
		runtime.Gosched() // let a watcher of ctx act now, while the statement runs
	})
	db, path := openFile(t)
	errs := runAsBatch(db,
		commitReq{ctx: bg, fn: addEvent(bg, "first")},
		commitReq{ctx: bg, fn: addEvent(bg, "second")},
		commitReq{ctx: ctx, fn: func(q sqlstore.Queries) error {
			if err := addEvent(ctx, "cancelled before")(q); err != nil {
				return err
			}
			if _, err := q.Executor().Exec(ctx, longStatement); err != nil {
				return err
			}
			return addEvent(ctx, "cancelled after")(q)
		}},
		commitReq{ctx: bg, fn: addEvent(bg, "third")},
		commitReq{ctx: bg, fn: func(q sqlstore.Queries) error {
			if err := q.SetOption(bg, "k", "v"); err != nil {
				return err
			}
			return addEvent(bg, "fourth")(q)
		}},
	)
	for i, err := range errs {
		if i == 2 {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("the cancelled transaction answered %v, want context.Canceled", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("transaction %d failed beside a cancelled one: %v", i, err)
		}
	}
	// The next batch runs on a sound connection.
	if err := db.SetOption(bg, "k2", "v2"); err != nil {
		t.Fatalf("write after the batch: %v", err)
	}
	kept := eventActions(t, db, path)
	for _, a := range []string{"first", "second", "third", "fourth"} {
		if !kept[a] {
			t.Errorf("event %q of a transaction answered as committed is missing", a)
		}
	}
	for _, a := range []string{"cancelled before", "long", "cancelled after"} {
		if kept[a] {
			t.Errorf("event %q of the cancelled transaction was kept", a)
		}
	}
}

// TestCancelledBeforeStartIsSkipped checks that a caller gone before its fn starts is answered
// its context's error without its fn running, and the rest of the batch goes on.
func TestCancelledBeforeStartIsSkipped(t *testing.T) {
	bg := context.Background()
	db, path := openFile(t)
	ctx, cancel := context.WithCancel(bg)
	cancel()
	ran := false
	errs := runAsBatch(db,
		commitReq{ctx: bg, fn: addEvent(bg, "first")},
		commitReq{ctx: ctx, fn: func(q sqlstore.Queries) error { ran = true; return addEvent(bg, "skipped")(q) }},
		commitReq{ctx: bg, fn: addEvent(bg, "third")},
	)
	if ran {
		t.Error("the fn of a caller cancelled before it started ran")
	}
	if errs[0] != nil || errs[2] != nil || !errors.Is(errs[1], context.Canceled) {
		t.Errorf("answers %v, want nil, context.Canceled, nil", errs)
	}
	kept := eventActions(t, db, path)
	if !kept["first"] || !kept["third"] || kept["skipped"] {
		t.Errorf("events kept %v, want first and third only", kept)
	}
}

// TestLostTransaction ends the shared transaction from inside one fn, as SQLite does on its own
// after an I/O error, a full disk or running out of memory: the transactions that had run
// before it in the batch are answered an error (their work is gone), and those after it run in
// a new transaction and are committed.
func TestLostTransaction(t *testing.T) {
	bg := context.Background()
	db, path := openFile(t)
	errs := runAsBatch(db,
		commitReq{ctx: bg, fn: addEvent(bg, "lost")},
		commitReq{ctx: bg, fn: func(q sqlstore.Queries) error {
			if err := addEvent(bg, "ender")(q); err != nil {
				return err
			}
			_, err := q.Executor().Exec(bg, "ROLLBACK")
			return err
		}},
		commitReq{ctx: bg, fn: addEvent(bg, "after")},
		commitReq{ctx: bg, fn: addEvent(bg, "after too")},
	)
	if errs[0] == nil || errs[1] == nil {
		t.Errorf("transactions whose work was rolled back answered %v, %v; want errors", errs[0], errs[1])
	}
	if errs[2] != nil || errs[3] != nil {
		t.Errorf("transactions after the lost one answered %v, %v; want them committed", errs[2], errs[3])
	}
	// A batch of one whose fn ends the transaction: the failed ROLLBACK is answered, and the
	// connection is sound afterwards.
	errs = runAsBatch(db, commitReq{ctx: bg, fn: func(q sqlstore.Queries) error {
		if err := addEvent(bg, "alone")(q); err != nil {
			return err
		}
		_, err := q.Executor().Exec(bg, "ROLLBACK")
		return err
	}})
	if errs[0] == nil {
		t.Error("a lone transaction whose work was rolled back answered nil")
	}
	if err := db.AddEvent(bg, &store.Event{At: time.Unix(1, 0), Action: "next"}); err != nil {
		t.Fatalf("write after a lost transaction: %v", err)
	}
	kept := eventActions(t, db, path)
	for a, want := range map[string]bool{"lost": false, "ender": false, "after": true, "after too": true, "alone": false, "next": true} {
		if kept[a] != want {
			t.Errorf("event %q kept = %v, want %v", a, kept[a], want)
		}
	}
}
