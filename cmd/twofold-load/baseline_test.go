package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestBaselineHandler(t *testing.T) {
	srv := httptest.NewServer(baselineHandler("load-0000007"))
	defer srv.Close()
	cl := newClient(srv.URL, 1)
	defer cl.close()

	if a := cl.verify(t.Context(), "token", "123456"); a.status != 200 || a.next != stepDone {
		t.Errorf("verify: %d next %q; want 200 %q", a.status, a.next, stepDone)
	}
	if a := cl.ask(t.Context(), "token", "load-0000007"); a.status != 200 || a.code != "" {
		t.Errorf("check: %d %q; want 200 naming load-0000007", a.status, a.code)
	}
	if a := cl.ask(t.Context(), "token", "load-0000001"); a.code == "" {
		t.Error("a check naming another account was taken as a success")
	}
	if err := cl.healthz(t.Context()); err != nil {
		t.Errorf("healthz: %v", err)
	}
	if _, err := cl.readHistograms(t.Context()); err == nil {
		t.Error("the baseline answered /metrics: a report would give it server figures")
	}
	resp, err := http.Post(srv.URL+"/api/v1/signin", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("password step: %d; the baseline answers only the verify step and the check", resp.StatusCode)
	}
}

func TestBaselineConfig(t *testing.T) {
	for _, bad := range [][]string{
		{"-baseline", "-server-binary", "x", "-mode", "verify"},
		{"-baseline", "-addr", "http://127.0.0.1:1", "-data", "d", "-mode", "verify"},
		{"-baseline", "-pid", "1", "-mode", "forward"},
		{"-baseline", "-mode", "token"},
		{"-baseline", "-mode", "full"},
	} {
		if _, err := parseConfig(bad, io.Discard); err == nil || !strings.Contains(err.Error(), "-baseline") {
			t.Errorf("%v: err = %v, want a -baseline error", bad, err)
		}
	}
	for _, mode := range []string{"verify", "forward"} {
		if _, err := parseConfig([]string{"-baseline", "-mode", mode}, io.Discard); err != nil {
			t.Errorf("-baseline -mode %s: %v", mode, err)
		}
	}
	if !isBaselineRun([]string{"serve", "--addr", "127.0.0.1:0"}) || isBaselineRun([]string{"-mode", "verify"}) {
		t.Error("isBaselineRun")
	}
}
