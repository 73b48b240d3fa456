package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The server's own account of where its time went: the histograms of its /metrics, read right
// before and right after the load, so that a run says how long the server spent on each answer
// (twofold_http_request_duration_seconds, by route) and, on SQLite, what a write waited for
// (twofold_sqlite_write_seconds by stage, twofold_sqlite_wal_sync_seconds). The load is the
// only traffic of a server the tool started, so the difference is the load's; a running server
// given with -addr may have other clients, and the report says so.

// histogram is one histogram of /metrics: its count, its sum in seconds, and its cumulative
// bucket counts by upper bound, ascending.
type histogram struct {
	count, sum float64
	bounds     []float64
	cum        []float64
}

// histograms are the histograms of one reading of /metrics, by name and labels:
// `twofold_sqlite_write_seconds{stage="sync"}`.
type histograms map[string]histogram

// readHistograms reads the server's /metrics.
func (c *client) readHistograms(ctx context.Context) (histograms, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("/metrics: %w", err)
	}
	return histogramsOf(fams), nil
}

// histogramsOf keeps the histograms of parsed metric families.
func histogramsOf(fams map[string]*dto.MetricFamily) histograms {
	out := histograms{}
	for name, f := range fams {
		if f.GetType() != dto.MetricType_HISTOGRAM {
			continue
		}
		for _, m := range f.GetMetric() {
			h := m.GetHistogram()
			var hist histogram
			hist.count, hist.sum = float64(h.GetSampleCount()), h.GetSampleSum()
			for _, b := range h.GetBucket() {
				if math.IsInf(b.GetUpperBound(), 1) {
					continue // the count is that bucket
				}
				hist.bounds = append(hist.bounds, b.GetUpperBound())
				hist.cum = append(hist.cum, float64(b.GetCumulativeCount()))
			}
			out[name+labelText(m.GetLabel())] = hist
		}
	}
	return out
}

// labelText writes labels as /metrics does: {a="x",b="y"}, sorted; "" for none.
func labelText(labels []*dto.LabelPair) string {
	if len(labels) == 0 {
		return ""
	}
	parts := make([]string, 0, len(labels))
	for _, l := range labels {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	slices.Sort(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

// since answers what was observed between before and h; a histogram missing before counts from
// zero.
func (h histograms) since(before histograms) histograms {
	out := histograms{}
	for k, after := range h {
		b, ok := before[k]
		d := histogram{count: after.count, sum: after.sum, bounds: after.bounds, cum: slices.Clone(after.cum)}
		if ok && slices.Equal(b.bounds, after.bounds) {
			d.count -= b.count
			d.sum -= b.sum
			for i := range d.cum {
				d.cum[i] -= b.cum[i]
			}
		}
		if d.count > 0 {
			out[k] = d
		}
	}
	return out
}

// mean answers the mean observation.
func (h histogram) mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.sum / h.count * float64(time.Second))
}

// bound answers the upper bound of the bucket that holds the q-quantile (0 < q <= 1): at
// least q of the observations were at most it. It answers +Inf when that is past the last
// bucket.
func (h histogram) bound(q float64) float64 {
	want := q * h.count
	for i, c := range h.cum {
		if c >= want {
			return h.bounds[i]
		}
	}
	return math.Inf(1)
}

// boundText formats bound's answer: "<= 2.00 ms", or "> 1000 ms" past the last bucket.
func (h histogram) boundText(q float64) string {
	b := h.bound(q)
	if math.IsInf(b, 1) {
		last := 0.0
		if len(h.bounds) > 0 {
			last = h.bounds[len(h.bounds)-1]
		}
		return "> " + ms(time.Duration(last*float64(time.Second)))
	}
	return "<= " + ms(time.Duration(b*float64(time.Second)))
}

// writeServerTimes prints the server's account of the load, when its /metrics were read;
// shared says that the server was not started by the tool, so that others' requests count too.
func writeServerTimes(w io.Writer, h histograms, shared bool) {
	if len(h) == 0 {
		return
	}
	fmt.Fprintln(w, "\nthe server's own account (its /metrics, over the load; p99 is the upper bound of the bucket that holds it):")
	if shared {
		fmt.Fprintln(w, "  (a server the tool did not start: requests of other clients meanwhile count here too)")
	}
	var routes []string
	const route = "twofold_http_request_duration_seconds"
	for k := range h {
		if strings.HasPrefix(k, route+"{") {
			routes = append(routes, k)
		}
	}
	slices.Sort(routes)
	for _, k := range routes {
		r := h[k]
		fmt.Fprintf(w, "  %s: %.0f answered, mean %s in the server, p99 %s\n",
			strings.TrimSuffix(strings.TrimPrefix(k, route+`{route="`), `"}`), r.count, ms(r.mean()), r.boundText(0.99))
	}
	const write = "twofold_sqlite_write_seconds"
	stages := []struct{ label, says string }{
		{"queue", "waiting for the writer"}, {"run", "running in its batch to COMMIT"}, {"sync", "waiting for the WAL sync"}}
	if q, ok := h[write+`{stage="queue"}`]; ok {
		fmt.Fprintf(w, "  SQLite writes: %.0f\n", q.count)
		for _, s := range stages {
			st, ok := h[fmt.Sprintf(`%s{stage=%q}`, write, s.label)]
			if !ok {
				continue
			}
			fmt.Fprintf(w, "    %-31s mean %s, p99 %s\n", s.says, ms(st.mean()), st.boundText(0.99))
		}
	}
	if s, ok := h["twofold_sqlite_wal_sync_seconds"]; ok {
		fmt.Fprintf(w, "  WAL syncs: %.0f, mean %s, p99 %s", s.count, ms(s.mean()), s.boundText(0.99))
		if q, ok := h[write+`{stage="queue"}`]; ok {
			fmt.Fprintf(w, ", %.1f writes each", q.count/s.count)
		}
		fmt.Fprintln(w)
	}
}
