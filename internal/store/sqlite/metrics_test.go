package sqlite

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/sqlstore"
)

// TestWriteMetrics: every write that succeeded is counted once in each stage, a refused one in
// none, and the time a write waits for a held sync of the WAL shows in its sync stage and in
// the sync's own histogram.
func TestWriteMetrics(t *testing.T) {
	ctx := context.Background()
	db, path := openFile(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(db.Collectors()...)
	const held = 30 * time.Millisecond
	_, release, resA, resB := commitBehindHeldSync(t, db, nil)
	time.Sleep(held) // the sync cannot end before release: a lower bound, not a measure of speed
	close(release)
	for _, res := range []chan error{resA, resB} {
		if err := <-res; err != nil {
			t.Fatal(err)
		}
	}
	refused := errors.New("refused")
	if err := db.inTx(ctx, func(q sqlstore.Queries) error {
		if err := q.AddEvent(ctx, &store.Event{At: time.Unix(3, 0), Action: "c"}); err != nil {
			return err
		}
		return refused
	}); !errors.Is(err, refused) {
		t.Fatalf("the refused write answered %v", err)
	}
	stages := map[string]*dto.Histogram{}
	var walSync *dto.Histogram
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "twofold_sqlite_write_seconds":
				stages[m.GetLabel()[0].GetValue()] = m.GetHistogram()
			case "twofold_sqlite_wal_sync_seconds":
				walSync = m.GetHistogram()
			}
		}
	}
	for _, stage := range []string{"queue", "run", "sync"} {
		if h := stages[stage]; h == nil || h.GetSampleCount() != 2 {
			t.Errorf("stage %s: %v, want the two writes that succeeded", stage, h)
		}
	}
	if h := stages["sync"]; h != nil && h.GetSampleSum() < held.Seconds() {
		t.Errorf("the writes waited %.3f s in all for a sync held %s", h.GetSampleSum(), held)
	}
	if walSync == nil || walSync.GetSampleCount() == 0 || walSync.GetSampleSum() < held.Seconds() {
		t.Errorf("WAL syncs: %v, want the held one", walSync)
	}
	eventActions(t, db, path)
}
