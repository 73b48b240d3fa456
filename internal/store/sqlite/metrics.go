package sqlite

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the writer (commit.go), for /metrics: where a write's time goes, so that an
// operator sees a slow disk, and a load test sees what a step waits for.
//
//   - twofold_sqlite_write_seconds{stage}: each write transaction that succeeded, by stage:
//     "queue", from the call until the committer ran its fn; "run", from then until its batch's
//     COMMIT returned (its own fn, the fns after it in the batch, the end of the sync before it
//     when the batch grew while that sync ran, and the COMMIT); "sync", from then until the
//     sync of the WAL that covers it ended and it was answered.
//   - twofold_sqlite_wal_sync_seconds: each sync of the WAL (fdatasync) that succeeded, however
//     many writes it covered.
type metrics struct {
	queue, run, sync prometheus.Observer
	walSync          prometheus.Histogram
	collectors       []prometheus.Collector
}

// metricBuckets span a write's stages on a fast disk (tens of microseconds) to a stalled one.
var metricBuckets = []float64{.00005, .0001, .0002, .0003, .0005, .00075, .001, .0015, .002, .003,
	.005, .0075, .01, .02, .05, .1, .25, 1}

func newMetrics() *metrics {
	write := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "twofold_sqlite_write_seconds",
		Help: "SQLite write transactions that succeeded, by stage: queue (waiting for the single writer), " +
			"run (its batch running until COMMIT returned, with the end of the sync before it when the batch grew meanwhile) and sync (waiting for the sync of the WAL that makes it durable).",
		Buckets: metricBuckets}, []string{"stage"})
	walSync := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "twofold_sqlite_wal_sync_seconds",
		Help:    "Syncs of the SQLite WAL to disk (fdatasync) that succeeded; one covers every write committed before it began.",
		Buckets: metricBuckets})
	return &metrics{queue: write.WithLabelValues("queue"), run: write.WithLabelValues("run"),
		sync: write.WithLabelValues("sync"), walSync: walSync, collectors: []prometheus.Collector{write, walSync}}
}

// Collectors answers the store's metrics, for the server to register.
func (db *DB) Collectors() []prometheus.Collector { return db.c.metrics.collectors }

// observe records the stages of r, a write that succeeded and is answered now.
func (m *metrics) observe(r *commitReq, answered time.Time) {
	m.queue.Observe(r.ran.Sub(r.queued).Seconds())
	m.run.Observe(r.committed.Sub(r.ran).Seconds())
	m.sync.Observe(answered.Sub(r.committed).Seconds())
}
