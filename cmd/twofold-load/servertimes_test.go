package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parseHistograms parses a /metrics text.
func parseHistograms(t *testing.T, text string) histograms {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return histogramsOf(fams)
}

// exposition writes the histograms the server's /metrics has, with the given cumulative counts
// of the buckets 0.001, 0.005 and +Inf and sums.
func exposition(verify [3]int, verifySum float64, sync [3]int, syncSum float64) string {
	var b strings.Builder
	hist := func(name, labels string, c [3]int, sum float64) {
		lb := func(le string) string {
			if labels == "" {
				return `{le="` + le + `"}`
			}
			return "{" + labels + `,le="` + le + `"}`
		}
		b.WriteString("# TYPE " + name + " histogram\n")
		for i, le := range []string{"0.001", "0.005", "+Inf"} {
			b.WriteString(name + "_bucket" + lb(le) + " " + strconv.Itoa(c[i]) + "\n")
		}
		braces := ""
		if labels != "" {
			braces = "{" + labels + "}"
		}
		b.WriteString(name + "_sum" + braces + " " + strconv.FormatFloat(sum, 'g', -1, 64) + "\n")
		b.WriteString(name + "_count" + braces + " " + strconv.Itoa(c[2]) + "\n")
	}
	hist("twofold_http_request_duration_seconds", `route="POST /api/v1/signin/mfa/verify"`, verify, verifySum)
	hist("twofold_sqlite_wal_sync_seconds", "", sync, syncSum)
	b.WriteString("# TYPE twofold_http_requests_total counter\ntwofold_http_requests_total{code=\"200\",route=\"GET /healthz\"} 3\n")
	return b.String()
}

// TestServerTimes: what the report says of the server's histograms is what was observed between
// the two readings, and a quantile is the upper bound of the bucket that holds it.
func TestServerTimes(t *testing.T) {
	before := parseHistograms(t, exposition([3]int{5, 5, 5}, 0.002, [3]int{1, 1, 1}, 0.0005))
	// 100 more verifications: 50 under 1 ms, 49 more under 5 ms, 1 beyond; sum 0.3 s.
	after := parseHistograms(t, exposition([3]int{55, 104, 105}, 0.302, [3]int{1, 1, 41}, 0.4005))
	d := after.since(before)
	v := d[`twofold_http_request_duration_seconds{route="POST /api/v1/signin/mfa/verify"}`]
	if v.count != 100 || v.mean().Microseconds() != 3000 {
		t.Errorf("verify since: count %v, mean %v; want 100 and 3 ms", v.count, v.mean())
	}
	if got := v.bound(0.5); got != 0.001 {
		t.Errorf("p50 bound %v, want 0.001", got)
	}
	if got := v.bound(0.99); got != 0.005 {
		t.Errorf("p99 bound %v, want 0.005", got)
	}
	s := d["twofold_sqlite_wal_sync_seconds"]
	if s.count != 40 || s.boundText(0.99) != "> 5.00 ms" {
		t.Errorf("syncs since: count %v, p99 %s; want 40 and past the last bucket", s.count, s.boundText(0.99))
	}
	var out bytes.Buffer
	writeServerTimes(&out, d, false)
	for _, want := range []string{"POST /api/v1/signin/mfa/verify: 100 answered, mean 3.00 ms in the server, p99 <= 5.00 ms",
		"WAL syncs: 40, mean 10.00 ms, p99 > 5.00 ms"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	// Nothing observed during the load: nothing printed.
	out.Reset()
	writeServerTimes(&out, after.since(after), true)
	if out.Len() != 0 {
		t.Errorf("an idle server's account: %q", out.String())
	}
}
