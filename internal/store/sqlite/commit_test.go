package sqlite

import (
	"bytes"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
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
	db.runBatch(&batch)
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

// syncRecorder replaces a DB's sync of the WAL. Each sync reads, as it starts, the actions of
// the events any reader sees (what was committed before it), then syncs for real unless told
// to fail; before is called first, so that a test can hold a sync.
type syncRecorder struct {
	db     *DB
	before func(n int) error // n counts the syncs begun, from 1; an error fails the sync
	mu     sync.Mutex
	begun  int
	syncs  []map[string]bool // per finished sync, the actions committed before it started
	real   func() error
}

func recordSyncs(t *testing.T, db *DB, before func(n int) error) *syncRecorder {
	t.Helper()
	s := &syncRecorder{db: db, before: before, real: db.c.syncWAL}
	db.c.syncWAL = s.sync // before any write, so the syncer sees it (see syncWAL)
	return s
}

func (s *syncRecorder) sync() error {
	s.mu.Lock()
	s.begun++
	n := s.begun
	s.mu.Unlock()
	seen, err := visibleActions(s.db)
	if err != nil {
		return err
	}
	if s.before != nil {
		if err := s.before(n); err != nil {
			return err
		}
	}
	if err := s.real(); err != nil {
		return err
	}
	s.mu.Lock()
	s.syncs = append(s.syncs, seen)
	s.mu.Unlock()
	return nil
}

// covered tells whether a sync that has finished had started after action was committed.
func (s *syncRecorder) covered(action string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, seen := range s.syncs {
		if seen[action] {
			return true
		}
	}
	return false
}

func (s *syncRecorder) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.syncs)
}

// visibleActions reads, on a reader connection, the actions of the committed events.
func visibleActions(db *DB) (map[string]bool, error) {
	rows, err := db.r.Query(`SELECT action FROM events`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		seen[a] = true
	}
	return seen, rows.Err()
}

// within waits for ch, failing the test when it does not come in a minute: a bound on a wait
// that the code under test guarantees, never a measure of its speed.
func within(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatalf("%s did not happen", what)
	}
}

// commitBehindHeldSync writes event "a" and holds the sync that covers it, db's first from
// here, until release is closed; every sync answers failWith (nil: it syncs). While that sync
// is held a second write, of event "b", runs its fn. It answers the recorder of db's syncs and
// the two writes' answers, to come.
func commitBehindHeldSync(t *testing.T, db *DB, failWith error) (rec *syncRecorder, release chan struct{}, resA, resB chan error) {
	t.Helper()
	ctx := context.Background()
	entered, release := make(chan struct{}), make(chan struct{})
	rec = recordSyncs(t, db, func(n int) error {
		if n == 1 {
			close(entered)
			<-release
		}
		return failWith
	})
	resA, resB = make(chan error, 1), make(chan error, 1)
	go func() { resA <- db.AddEvent(ctx, &store.Event{At: time.Unix(1, 0), Action: "a"}) }()
	within(t, entered, "the first sync")
	ranB := make(chan struct{})
	go func() {
		resB <- db.Update(ctx, func(q store.Queries) error {
			defer close(ranB)
			return q.AddEvent(ctx, &store.Event{At: time.Unix(2, 0), Action: "b"})
		})
	}()
	within(t, ranB, "the second transaction's fn, while the first sync is held,")
	return rec, release, resA, resB
}

// TestAnsweredAfterItsSync runs many writers at once and checks that each was answered only
// after a sync had run that started once its commit was visible: the sync covers it.
func TestAnsweredAfterItsSync(t *testing.T) {
	ctx := context.Background()
	db, path := openFile(t)
	rec := recordSyncs(t, db, nil)
	const workers, each = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				action := fmt.Sprint(w, "-", i)
				err := db.inTx(ctx, addEvent(ctx, action))
				if err == nil && !rec.covered(action) {
					err = fmt.Errorf("%s was answered before a sync that covers its commit", action)
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// One sync answers several commits under load, never the reverse.
	if n := rec.count(); n == 0 || n > workers*each {
		t.Errorf("%d syncs for %d commits", n, workers*each)
	}
	t.Logf("%d syncs for %d commits", rec.count(), workers*each)
	kept := eventActions(t, db, path)
	if len(kept) != workers*each {
		t.Errorf("%d events kept, want %d", len(kept), workers*each)
	}
}

// TestNextBatchRunsDuringSync holds the first batch's sync: the next transaction runs
// meanwhile (it commits once the sync has ended: TestBatchGrowsDuringSync), and neither caller
// is answered until the syncs that cover them are done.
func TestNextBatchRunsDuringSync(t *testing.T) {
	db, path := openFile(t)
	rec, release, resA, resB := commitBehindHeldSync(t, db, nil)
	select {
	case err := <-resA:
		close(release)
		t.Fatalf("the first write was answered (%v) while its sync was held", err)
	case err := <-resB:
		close(release)
		t.Fatalf("the second write was answered (%v) before any sync after its commit", err)
	default:
	}
	close(release)
	if err := <-resA; err != nil {
		t.Fatal(err)
	}
	if err := <-resB; err != nil {
		t.Fatal(err)
	}
	if !rec.covered("a") || !rec.covered("b") {
		t.Errorf("answered without a covering sync: a %v, b %v", rec.covered("a"), rec.covered("b"))
	}
	kept := eventActions(t, db, path)
	if !kept["a"] || !kept["b"] {
		t.Errorf("events kept %v, want a and b", kept)
	}
}

// TestBatchGrowsDuringSync holds the first batch's sync: the transactions that come meanwhile
// join one open transaction (each fn sees what the ones before it wrote, no reader sees any of
// it), which commits once, after that sync, and is answered after a sync of its own.
func TestBatchGrowsDuringSync(t *testing.T) {
	ctx := context.Background()
	db, path := openFile(t)
	rec, release, resA, resB := commitBehindHeldSync(t, db, nil)
	committed := func() uint64 {
		db.c.mu.Lock()
		defer db.c.mu.Unlock()
		return db.c.committed
	}
	before := committed()
	count := func(q sqlstore.Queries, action string) (n int, err error) {
		err = q.Executor().QueryRow(ctx, `SELECT count(*) FROM events WHERE action = ?`, action).Scan(&n)
		return n, err
	}
	resC, ranC := make(chan error, 1), make(chan struct{})
	go func() {
		resC <- db.inTx(ctx, func(q sqlstore.Queries) error {
			defer close(ranC)
			if n, err := count(q, "b"); err != nil || n != 1 {
				return fmt.Errorf("the fn after b's sees %d events b (%v), want b's own transaction's 1", n, err)
			}
			return addEvent(ctx, "c")(q)
		})
	}()
	within(t, ranC, "the third transaction's fn, while the first sync is held,")
	if seen, err := visibleActions(db); err != nil || seen["b"] || seen["c"] {
		close(release)
		t.Fatalf("readers see %v (%v) while the sync before b's transaction is held", seen, err)
	}
	close(release)
	for _, ch := range []chan error{resA, resB, resC} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	if n := committed() - before; n != 1 {
		t.Errorf("b and c were %d commits, want one", n)
	}
	if !rec.covered("b") || !rec.covered("c") {
		t.Errorf("answered without a covering sync: b %v, c %v", rec.covered("b"), rec.covered("c"))
	}
	kept := eventActions(t, db, path)
	if !kept["a"] || !kept["b"] || !kept["c"] {
		t.Errorf("events kept %v, want a, b and c", kept)
	}
}

// TestUncommittedBatchWaitsForDueSync holds a write's sync: a transaction after it that
// commits nothing (its fn fails, and may have read that write) is not answered before that
// sync either.
func TestUncommittedBatchWaitsForDueSync(t *testing.T) {
	ctx := context.Background()
	db, _ := openFile(t)
	defer db.Close()
	_, release, resA, resB := commitBehindHeldSync(t, db, nil)
	refused := errors.New("refused")
	ran := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	res := [2]chan error{make(chan error, 1), make(chan error, 1)}
	for i := range 2 {
		go func() {
			res[i] <- db.Update(ctx, func(store.Queries) error { close(ran[i]); return refused })
		}()
		within(t, ran[i], "a failing transaction's fn")
	}
	// The second one's fn ran in a later batch, so the first one's batch was handed over.
	select {
	case err := <-res[0]:
		close(release)
		t.Fatalf("a transaction that committed nothing was answered (%v) before the sync due", err)
	default:
	}
	close(release)
	for _, ch := range []chan error{resA, resB, res[0], res[1]} {
		if err := <-ch; err != nil && !errors.Is(err, refused) {
			t.Error(err)
		}
	}
}

// TestSyncFailureFailsClosed fails the first sync while a second batch commits behind it:
// both batches' callers are answered the failure, every later write is refused without its fn
// running, reads go on, and nothing reaches the database file.
func TestSyncFailureFailsClosed(t *testing.T) {
	ctx := context.Background()
	db, path := openFile(t)
	if err := db.SetOption(ctx, "before", "1"); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))
	defer slog.SetDefault(old)
	diskErr := errors.New("EIO from the disk")
	rec, release, resA, resB := commitBehindHeldSync(t, db, diskErr)
	close(release)
	for name, ch := range map[string]chan error{"a": resA, "b": resB} {
		if err := <-ch; !errors.Is(err, errSyncFailed) || !errors.Is(err, diskErr) {
			t.Errorf("write %s answered %v, want the sync's failure", name, err)
		}
	}
	// b's transaction was open behind the sync that failed: it was not committed.
	if seen, err := visibleActions(db); err != nil || seen["b"] {
		t.Errorf("readers see %v (%v): the transaction behind the failed sync was committed", seen, err)
	}
	ran := false
	err := db.Update(ctx, func(q store.Queries) error { ran = true; return nil })
	if !errors.Is(err, errSyncFailed) || ran {
		t.Errorf("Update after the failed sync answered %v (fn ran: %v), want the failure without running fn", err, ran)
	}
	if err := db.AddEvent(ctx, &store.Event{At: time.Unix(1, 0), Action: "later"}); !errors.Is(err, errSyncFailed) {
		t.Errorf("a write after the failed sync answered %v, want the failure", err)
	}
	opts, err := db.Options(ctx)
	if err != nil || opts["before"] != "1" {
		t.Errorf("a read after the failed sync answered %v, %v; want the options", opts, err)
	}
	rec.mu.Lock()
	if rec.begun != 1 {
		t.Errorf("%d syncs, want 1: nothing is synced after a failure", rec.begun)
	}
	rec.mu.Unlock()
	if !strings.Contains(logged.String(), "syncing the WAL failed") || !strings.Contains(logged.String(), diskErr.Error()) {
		t.Errorf("the failure was not logged: %q", logged.String())
	}
	// No page of unknown state reaches the database file: the background checkpoints stop on
	// their own, and Close neither checkpoints nor lets SQLite do it as its last connection
	// closes.
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan struct{})
	go func() { db.ck.wg.Wait(); close(stopped) }()
	within(t, stopped, "the background checkpoints' stop")
	if err := db.Close(); !errors.Is(err, errSyncFailed) {
		t.Errorf("Close after the failed sync answered %v, want the failure", err)
	}
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, file) {
		t.Errorf("the database file changed after the failed sync (%v)", err)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("the WAL is gone after Close: %v", err)
	}
}

// TestCloseDrains closes the store while a batch's sync is held and another batch, committed
// behind it, waits for its own: Close waits, and both callers are answered after their syncs,
// their writes kept.
func TestCloseDrains(t *testing.T) {
	ctx := context.Background()
	db, path := openFile(t)
	rec, release, resA, resB := commitBehindHeldSync(t, db, nil)
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	select {
	case err := <-resA:
		t.Fatalf("the write was answered (%v) while its sync was held", err)
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a taken write waited for its sync", err)
	default:
	}
	// The committer has stopped: what it handed over is drained by the syncer alone.
	within(t, db.c.drain, "the committer's stop")
	close(release)
	answered := make(chan struct{})
	go func() {
		for _, ch := range []chan error{closed, resA, resB} {
			if err := <-ch; err != nil {
				t.Errorf("Close or a write taken before it answered %v", err)
			}
		}
		close(answered)
	}()
	within(t, answered, "the answers to Close and to both writes")
	for _, a := range []string{"a", "b"} {
		if !rec.covered(a) {
			t.Errorf("write %s was answered without a covering sync", a)
		}
	}
	if err := db.SetOption(ctx, "k", "v"); !errors.Is(err, errClosed) {
		t.Errorf("a write after Close answered %v, want errClosed", err)
	}
	db2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if seen, err := visibleActions(db2); err != nil || !seen["a"] || !seen["b"] {
		t.Errorf("after reopening: %v, %v; want both writes kept", seen, err)
	}
}

// TestOnlyWriterLeavesSyncToSyncer checks the connections' settings: the readers (and every
// connection but the writer) sync their own commits; the writer leaves them to the syncer.
func TestOnlyWriterLeavesSyncToSyncer(t *testing.T) {
	ctx := context.Background()
	db, _ := openFile(t)
	defer db.Close()
	var reader, writer int
	if err := db.r.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&reader); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(q store.Queries) error {
		return q.(sqlstore.Queries).Executor().QueryRow(ctx, `PRAGMA synchronous`).Scan(&writer)
	}); err != nil {
		t.Fatal(err)
	}
	if reader != 2 || writer != 1 {
		t.Errorf("synchronous: readers %d, writer %d; want 2 (FULL) and 1 (NORMAL)", reader, writer)
	}
}
