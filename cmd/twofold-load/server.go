package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// loopbackURL checks that raw is an http URL whose host is a loopback IP literal (no name is
// looked up), and answers it without a trailing slash.
func loopbackURL(raw string) (string, error) {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return "", fmt.Errorf("-addr: give http://127.0.0.1:PORT, not %q", raw)
	}
	ip, err := netip.ParseAddr(u.Hostname())
	if err != nil || !ip.IsLoopback() {
		return "", fmt.Errorf("-addr: only a loopback address such as 127.0.0.1 is allowed, not %q", u.Host)
	}
	return "http://" + u.Host, nil
}

// server is a Twofold server process that the tool started.
type server struct {
	cmd  *exec.Cmd
	addr string // base URL
	done chan struct{}

	mu   sync.Mutex
	logs []string // the server's last warning and error log lines
	err  error    // how the process ended
}

// maxLogs bounds the server log lines kept for the report.
const maxLogs = 20

// startServer runs bin serve --addr 127.0.0.1:0 --data data and waits for its "twofold
// listening" log line. Only JSON log lines of level WARN or ERROR are kept; nothing else the
// server writes (such as the first admin's temporary password) is printed.
func startServer(ctx context.Context, bin, data string, extra ...string) (*server, error) {
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data}, extra...)...)
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	s := &server{cmd: cmd, done: make(chan struct{})}
	listening := make(chan string, 1)
	go s.readLogs(stderr, listening)
	go func() {
		err := cmd.Wait()
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.done)
	}()
	select {
	case addr := <-listening:
		base, err := loopbackURL(addr)
		if err != nil {
			s.stop()
			return nil, fmt.Errorf("server listens on %q: %w", addr, err)
		}
		s.addr = base
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("server exited before listening: %v; log: %s", s.exitErr(), strings.Join(s.warnings(), " | "))
	case <-time.After(30 * time.Second):
		s.stop()
		return nil, errors.New("server did not log \"twofold listening\" within 30s")
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
}

// readLogs reads the server's JSON log lines until the pipe closes, sending the listen address
// once and keeping the last warnings and errors.
func (s *server) readLogs(r io.Reader, listening chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sent := false
	for sc.Scan() {
		var line struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Addr  string `json:"addr"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue // not a log line (the bootstrap's password notice, for one): never kept
		}
		if line.Msg == "twofold listening" && !sent {
			listening <- line.Addr
			sent = true
		}
		if line.Level == "WARN" || line.Level == "ERROR" {
			s.mu.Lock()
			s.logs = append(s.logs, sc.Text())
			if len(s.logs) > maxLogs {
				s.logs = s.logs[len(s.logs)-maxLogs:]
			}
			s.mu.Unlock()
		}
	}
	io.Copy(io.Discard, r)
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) warnings() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.logs...)
}

func (s *server) exitErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// stop ends the server: SIGTERM, then after 15 seconds SIGKILL, on its own pid only.
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// waitHealthy asks /healthz until it answers, for at most 10 seconds.
func waitHealthy(ctx context.Context, c *client) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := c.healthz(ctx); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("server at %s does not answer /healthz: %w", c.base, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// procStatus parses the "Name:   value kB" lines of /proc/PID/status into kB (or plain
// numbers), keeping the fields asked for.
func procStatus(text string, fields ...string) map[string]int64 {
	out := map[string]int64{}
	for _, line := range strings.Split(text, "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		for _, f := range fields {
			if name != f {
				continue
			}
			parts := strings.Fields(value)
			if len(parts) == 0 {
				continue
			}
			if n, err := strconv.ParseInt(parts[0], 10, 64); err == nil {
				out[name] = n
			}
		}
	}
	return out
}

// readMemory answers the process's current (VmRSS) and peak (VmHWM) resident memory in kB.
func readMemory(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	m := procStatus(string(b), "VmRSS", "VmHWM")
	if _, ok := m["VmRSS"]; !ok {
		return 0, 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
	}
	return m["VmRSS"], m["VmHWM"], nil
}

// resetPeak starts the process's VmHWM again from its current VmRSS (writing 5 to clear_refs,
// Linux 4.0 and later), so that the peak read after the load is the load's own.
func resetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// memoryWatch samples a process's VmRSS every interval until stopped, keeping the largest.
type memoryWatch struct {
	stopc chan struct{}
	done  chan struct{}
	max   int64
}

func watchMemory(pid int, interval time.Duration) *memoryWatch {
	w := &memoryWatch{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if rss, _, err := readMemory(pid); err == nil {
				w.max = max(w.max, rss)
			}
			select {
			case <-w.stopc:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// stop ends the sampling and answers the largest VmRSS seen, in kB.
func (w *memoryWatch) stop() int64 {
	close(w.stopc)
	<-w.done
	return w.max
}
