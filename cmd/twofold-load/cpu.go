package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// The machine is shared (other people's tests may run beside a measurement), so every run says
// where the CPU time went while it measured: the server, the load generator itself, every other
// process, and idle. All figures are clock ticks from /proc.

// cpuSample is one reading of the machine's and two processes' CPU time.
type cpuSample struct {
	total, idle int64 // every CPU together, from /proc/stat
	server      int64 // utime+stime of the server (0 when unknown)
	serverFlt   int64 // minor page faults of the server
	self        int64 // utime+stime of the load generator
}

// sampleCPU reads /proc/stat, the server's /proc/PID/stat (when pid is not 0) and our own.
func sampleCPU(pid int) (cpuSample, error) {
	var s cpuSample
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s, err
	}
	if s.total, s.idle, err = machineTicks(string(b)); err != nil {
		return s, err
	}
	if s.self, _, err = processTicks("/proc/self/stat"); err != nil {
		return s, err
	}
	if pid != 0 {
		if s.server, s.serverFlt, err = processTicks(fmt.Sprintf("/proc/%d/stat", pid)); err != nil {
			return s, err
		}
	}
	return s, nil
}

// machineTicks parses the aggregate "cpu" line of /proc/stat: the sum of its fields, and idle
// plus iowait. Guest time is already counted in user time, so those fields are left out.
func machineTicks(text string) (total, idle int64, err error) {
	line, _, _ := strings.Cut(text, "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	for i, v := range f[1:min(len(f), 9)] { // user nice system idle iowait irq softirq steal
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		total += n
		if i == 3 || i == 4 {
			idle += n
		}
	}
	return total, idle, nil
}

// processTicks answers utime+stime and the minor page faults from a /proc/PID/stat file.
func processTicks(path string) (ticks, minflt int64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	return statTicks(string(b))
}

// statTicks parses minflt (field 10) and utime+stime (fields 14 and 15) of a /proc/PID/stat
// line. The command name in parentheses may hold spaces, so fields are counted after its
// closing parenthesis.
func statTicks(text string) (ticks, minflt int64, err error) {
	i := strings.LastIndexByte(text, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("stat: no command name in %q", text)
	}
	f := strings.Fields(text[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("stat: too few fields in %q", text)
	}
	flt, err0 := strconv.ParseInt(f[7], 10, 64)
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err0 != nil || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("stat: bad minflt, utime or stime in %q", text)
	}
	return utime + stime, flt, nil
}

// cpuShare is where the machine's CPU time went between two samples, each a share of all
// cores together (so 1.0 is every core busy).
type cpuShare struct {
	server, self, other, idle float64
	knownServer               bool
	cores                     int
	serverFaults              int64 // the server's minor page faults
}

// shareSince answers the shares between an earlier sample a and b.
func (b cpuSample) shareSince(a cpuSample, knownServer bool) cpuShare {
	total := float64(b.total - a.total)
	if total <= 0 {
		return cpuShare{}
	}
	s := cpuShare{
		server:       float64(b.server-a.server) / total,
		self:         float64(b.self-a.self) / total,
		idle:         float64(b.idle-a.idle) / total,
		knownServer:  knownServer,
		cores:        runtime.NumCPU(),
		serverFaults: b.serverFlt - a.serverFlt,
	}
	s.other = max(0, 1-s.idle-s.server-s.self)
	return s
}

// String says the shares in percent of all cores.
func (s cpuShare) String() string {
	server := fmt.Sprintf("server %.0f%%, ", 100*s.server)
	if !s.knownServer {
		server = ""
	}
	return fmt.Sprintf("%stwofold-load %.0f%%, other processes %.0f%%, idle %.0f%% (100%% = all %d cores)",
		server, 100*s.self, 100*s.other, 100*s.idle, s.cores)
}
