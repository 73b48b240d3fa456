package apptest

import (
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BuildBinary builds the twofold command into a new temporary folder with extra go build flags,
// and answers its path and a func that removes the folder. Packages that run the binary call it
// from TestMain, so that the build stays outside every test's time bound.
func BuildBinary(flags ...string) (binary string, remove func(), err error) {
	dir, err := os.MkdirTemp("", "twofold-bin-")
	if err != nil {
		return "", nil, fmt.Errorf("temp dir: %w", err)
	}
	remove = func() { os.RemoveAll(dir) }
	binary = filepath.Join(dir, "twofold")
	args := append(append([]string{"build"}, flags...), "-o", binary, "github.com/twofold-auth/twofold/cmd/twofold")
	build := exec.Command(GoTool(), args...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		remove()
		return "", nil, fmt.Errorf("building twofold: %w", err)
	}
	return binary, remove, nil
}

// GoTool answers the go command that runs the test: the one on PATH, else its GOROOT's.
func GoTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(build.Default.GOROOT, "bin", "go")
}

// ProcessEnv is the environment of the processes a test starts: the test's own without any
// TWOFOLD_ setting, GOMEMLIMIT or GOGC that could point them elsewhere, plus extra.
func ProcessEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TWOFOLD_") && !strings.HasPrefix(kv, "GOMEMLIMIT=") && !strings.HasPrefix(kv, "GOGC=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// RunWithBinary is a TestMain's body for a package that runs the twofold binary: it builds the
// binary as BuildBinary does, sets *binary to its path, runs the tests and removes the binary,
// and answers the exit code.
func RunWithBinary(m *testing.M, binary *string, flags ...string) int {
	bin, remove, err := BuildBinary(flags...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer remove()
	*binary = bin
	return m.Run()
}
