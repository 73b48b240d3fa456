package apptest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Serving is a `twofold serve` process that a test started with StartServe.
type Serving struct {
	Cmd *exec.Cmd
	// Addr is HOST:PORT, from the process's "twofold listening" log line.
	Addr string
	log  *processLog
	done chan struct{}
}

// StartServe runs binary with args (serve and its flags) in env, keeps what it logs line by
// line and waits, at most hang, for it to log that it listens. The end of the test stops it.
func StartServe(t testing.TB, hang time.Duration, binary string, env []string, args ...string) *Serving {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	s := &Serving{Cmd: cmd, log: &processLog{listening: make(chan string, 1)}, done: make(chan struct{})}
	cmd.Stdout = io.Discard
	cmd.Stderr = s.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start server: %v", err)
	}
	go func() { cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { s.Stop(t, hang) })
	select {
	case s.Addr = <-s.log.listening:
	case <-s.done:
		t.Fatalf("server exited before listening:\n%s", strings.Join(s.Lines(), "\n"))
	case <-time.After(hang):
		t.Fatalf("server did not log \"twofold listening\" within %s:\n%s", hang, strings.Join(s.Lines(), "\n"))
	}
	return s
}

// Done is closed once the process has ended.
func (s *Serving) Done() <-chan struct{} { return s.done }

// Lines answers what the process logged so far, a line each.
func (s *Serving) Lines() []string { return s.log.Lines() }

// Kill sends SIGKILL, as a crash would, without waiting, so that it can cut a load at an exact
// point; it is safe from any goroutine.
func (s *Serving) Kill() error {
	if err := s.Cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

// Stop ends the process with SIGTERM (a clean shutdown), or SIGKILL when it has not ended within
// hang; it does nothing when the process has ended.
func (s *Serving) Stop(t testing.TB, hang time.Duration) {
	select {
	case <-s.done:
		return
	default:
	}
	s.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(hang):
		t.Errorf("server did not stop within %s of SIGTERM", hang)
		s.Cmd.Process.Kill()
		<-s.done
	}
}

// processLog collects a process's standard error line by line and notices the listening line.
type processLog struct {
	mu        sync.Mutex
	partial   []byte
	lines     []string
	listening chan string
}

func (l *processLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		l.lines = append(l.lines, line)
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "twofold listening" && rec.Addr != "" {
			select {
			case l.listening <- rec.Addr:
			default:
			}
		}
	}
	return len(p), nil
}

func (l *processLog) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]string(nil), l.lines...)
	if len(l.partial) > 0 {
		out = append(out, string(l.partial))
	}
	return out
}
