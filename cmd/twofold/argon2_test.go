package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twofold-auth/twofold/internal/app/apptest"
	"github.com/twofold-auth/twofold/internal/store/sqlite"
)

// storedHash answers the PHC string the database holds for username.
func storedHash(t *testing.T, data, username string) string {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(data, "twofold.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.UserByName(ctx, username)
	if err != nil {
		t.Fatal(err)
	}
	return u.PasswordHash
}

// TestServeArgon2Cost: TWOFOLD_ARGON2 (or --argon2) raises the cost of new hashes, and the
// hash an earlier server made at the default cost is replaced at the account's next right
// password (SPEC §5); a cost below the minimum is refused before anything starts.
func TestServeArgon2Cost(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	srv := startServer(t, data)
	pw := srv.bootstrapPassword()
	srv.stop(t)
	if h := storedHash(t, data, "admin"); !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("the default server hashed at %s", h)
	}

	srv = &server{Serving: apptest.StartServe(t, hang, binary, apptest.ProcessEnv("TWOFOLD_ARGON2=m=20480,t=3,p=1"),
		"serve", "--addr", "127.0.0.1:0", "--data", data)}
	srv.addr, srv.base = srv.Addr, "http://"+srv.Addr
	defer srv.stop(t)
	c := newClient(&srv)
	expect(t, c.call(t, "POST", "/api/v1/signin", creds("admin", "a wrong password here")), http.StatusUnauthorized, "invalid_credentials")
	if h := storedHash(t, data, "admin"); !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("a wrong password changed the hash to %s", h)
	}
	expectStep(t, c.call(t, "POST", "/api/v1/signin", creds("admin", pw)), "mfa_enroll")
	if h := storedHash(t, data, "admin"); !strings.HasPrefix(h, "$argon2id$v=19$m=20480,t=3,p=1$") {
		t.Fatalf("after the right password the hash is %s, want one at m=20480,t=3,p=1", h)
	}
	expectStep(t, newClient(&srv).call(t, "POST", "/api/v1/signin", creds("admin", pw)), "mfa_enroll")

	for _, bad := range []string{"m=19455,t=2,p=1", "m=19456,t=1,p=1", "m=19456,t=2", "fast"} {
		r := runCLI(t, "", "serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--argon2", bad)
		if r.code != 2 || !strings.Contains(r.stderr, "--argon2") {
			t.Errorf("serve --argon2 %s: exit %d, stderr %q; want 2 and the reason", bad, r.code, r.stderr)
		}
	}
}

// TestServeRuntimeSettings: serve sets Go's soft memory limit (96 MiB) and GOGC (400) unless
// the environment sets them, as its /metrics report.
func TestServeRuntimeSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env                 []string
		wantGOGC, wantLimit string
	}{
		{nil, "400", "1.00663296e+08"},
		{[]string{"GOGC=150", "GOMEMLIMIT=200MiB"}, "150", "2.097152e+08"},
	} {
		srv := &server{Serving: apptest.StartServe(t, hang, binary, apptest.ProcessEnv(tc.env...),
			"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir())}
		srv.addr, srv.base = srv.Addr, "http://"+srv.Addr
		resp, err := http.Get(srv.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]string{"go_gc_gogc_percent": tc.wantGOGC, "go_gc_gomemlimit_bytes": tc.wantLimit} {
			if !strings.Contains(string(body), "\n"+name+" "+want+"\n") {
				t.Errorf("environment %q: /metrics has no %s %s", tc.env, name, want)
			}
		}
		srv.stop(t)
	}
}
