package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"
)

// The baseline server (-baseline) is this tool run again as a process of its own, in place
// of Twofold: it answers every verify step and every reverse-proxy check with the success the
// mode counts, doing no work behind the answer. The same load against it measures what the
// machine and the tool add to any request (loopback, the HTTP stacks, waking threads, sharing
// the cores), which no server can go under; Twofold's figures are to be read against it.

// baselineCommand is the first argument that makes the tool the baseline server. It is what
// startServer runs a server binary with, so the tool starts its own baseline as it starts
// Twofold.
const baselineCommand = "serve"

// baselineModes are the modes a baseline run measures.
var baselineModes = map[string]bool{"verify": true, "forward": true}

// serveBaseline runs the baseline server until ctx ends: serve --addr 127.0.0.1:0 --data DIR
// --remote-user NAME, as startServer runs Twofold. It logs the address it listens on as
// Twofold does, in a JSON line on standard error.
func serveBaseline(ctx context.Context, args []string, stderr io.Writer) error {
	f := flag.NewFlagSet("twofold-load "+baselineCommand, flag.ContinueOnError)
	f.SetOutput(stderr)
	addr := f.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	f.String("data", "", "ignored: the baseline keeps nothing")
	f.String("trusted-proxies", "", "ignored: the baseline reads no address")
	f.String("db", "", "ignored: the baseline keeps nothing")
	f.String("argon2", "", "ignored: the baseline hashes nothing")
	remoteUser := f.String("remote-user", "", "the account a reverse-proxy check names")
	if err := f.Parse(args); err != nil {
		return err
	}
	if _, err := loopbackURL("http://" + *addr); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: baselineHandler(*remoteUser), ReadHeaderTimeout: 10 * time.Second}
	slog.New(slog.NewJSONHandler(stderr, nil)).Info("twofold listening", "addr", ln.Addr().String())
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// baselineHandler answers /healthz, the verify step (200 {"next":"done"}) and nginx's
// reverse-proxy check (200 with Remote-User); anything else is 404, /metrics too, so that the
// report has no server figures to give.
func baselineHandler(remoteUser string) http.Handler {
	done, _ := json.Marshal(map[string]string{"next": stepDone})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("POST /api/v1/signin/mfa/verify", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10))
		w.Header().Set("Content-Type", "application/json")
		w.Write(done)
	})
	mux.HandleFunc("GET "+forwardPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Remote-User", remoteUser)
	})
	return mux
}

// isBaselineRun reports whether args make the tool the baseline server.
func isBaselineRun(args []string) bool { return len(args) > 0 && args[0] == baselineCommand }

// baselineBinary answers the tool's own executable, for startServer.
func baselineBinary() (string, error) {
	p, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("-baseline: finding this tool's executable: %w", err)
	}
	return p, nil
}
