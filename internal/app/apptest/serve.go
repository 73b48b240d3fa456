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

// Process is a program a test runs (Twofold, a proxy, an application) until the test ends.
type Process struct {
	Cmd *exec.Cmd
	// Name names the program in the test's messages.
	Name string
	// out keeps what the program printed when the caller gave it nowhere else to print.
	out  *Logs
	done chan struct{}
}

// StartProcess starts cmd; the end of the test stops it (Stop). When cmd has neither Stdout
// nor Stderr, what the program prints is kept, and the test's log shows it should the test
// fail.
func StartProcess(t testing.TB, hang time.Duration, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{Cmd: cmd, Name: name, done: make(chan struct{})}
	if cmd.Stdout == nil && cmd.Stderr == nil {
		p.out = &Logs{}
		cmd.Stdout, cmd.Stderr = p.out, p.out
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop(t, hang)
		if t.Failed() && p.out != nil {
			t.Logf("%s printed:\n%s", name, p.out)
		}
	})
	return p
}

// Done is closed once the process has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// Kill sends SIGKILL, as a crash would, without waiting, so that it can cut a load at an exact
// point; it is safe from any goroutine.
func (p *Process) Kill() error {
	if err := p.Cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

// Stop ends the process with SIGTERM (a clean shutdown), or SIGKILL when it has not ended within
// hang; it does nothing when the process has ended.
func (p *Process) Stop(t testing.TB, hang time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(hang):
		t.Errorf("%s did not stop within %s of SIGTERM", p.Name, hang)
		p.Cmd.Process.Kill()
		<-p.done
	}
}

// Serving is a `twofold serve` process that a test started with StartServe.
type Serving struct {
	*Process
	// Addr is HOST:PORT, from the process's "twofold listening" log line.
	Addr string
	log  *processLog
}

// StartServe runs binary with args (serve and its flags) in env, keeps what it logs line by
// line and waits, at most hang, for it to log that it listens. The end of the test stops it.
func StartServe(t testing.TB, hang time.Duration, binary string, env []string, args ...string) *Serving {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	s := &Serving{log: &processLog{listening: make(chan string, 1)}}
	cmd.Stdout = io.Discard
	cmd.Stderr = s.log
	s.Process = StartProcess(t, hang, "server", cmd)
	select {
	case s.Addr = <-s.log.listening:
	case <-s.Done():
		t.Fatalf("server exited before listening:\n%s", strings.Join(s.Lines(), "\n"))
	case <-time.After(hang):
		t.Fatalf("server did not log \"twofold listening\" within %s:\n%s", hang, strings.Join(s.Lines(), "\n"))
	}
	return s
}

// Lines answers what the process logged so far, a line each.
func (s *Serving) Lines() []string { return s.log.Lines() }

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
