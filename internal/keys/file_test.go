package keys

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

const fileHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

func TestLoadOrCreateFileCreates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.key")
	k, created, err := LoadOrCreateFile(path, rand.Reader)
	if err != nil || !created {
		t.Fatalf("LoadOrCreateFile = %v, created %v, %v", k, created, err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode %04o, want 0600", perm)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}\n$`).Match(text) {
		t.Errorf("file holds %q, want 64 hex characters and a newline", text)
	}
	fromText, err := Parse(string(text))
	if err != nil || fromText.Check() != k.Check() {
		t.Errorf("the file's key is not the key answered: %v", err)
	}

	again, created, err := LoadOrCreateFile(path, rand.Reader)
	if err != nil || created {
		t.Fatalf("second LoadOrCreateFile: created %v, %v", created, err)
	}
	if again.Check() != k.Check() {
		t.Error("reloading gave another key")
	}
}

func TestLoadOrCreateFileDeterministic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.key")
	k, created, err := LoadOrCreateFile(path, bytes.NewReader(bytes.Repeat([]byte{0xcd}, 32)))
	if err != nil || !created {
		t.Fatalf("LoadOrCreateFile: created %v, %v", created, err)
	}
	if text, _ := os.ReadFile(path); string(text) != strings.Repeat("cd", 32)+"\n" {
		t.Errorf("file holds %q", text)
	}
	if want, _ := Parse(strings.Repeat("cd", 32)); k.Check() != want.Check() {
		t.Error("answered key is not the one written")
	}
}

func TestLoadOrCreateFileRandFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.key")
	if _, _, err := LoadOrCreateFile(path, bytes.NewReader(make([]byte, 10))); err == nil {
		t.Fatal("LoadOrCreateFile with an exhausted reader succeeded")
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed creation left a file behind: %v", err)
	}
}

func TestLoadOrCreateFileRefuses(t *testing.T) {
	cases := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr string
	}{
		{"world-readable", fileHex + "\n", 0o644, "chmod 600"},
		{"group-readable", fileHex + "\n", 0o640, "chmod 600"},
		{"group-writable", fileHex + "\n", 0o620, "chmod 600"},
		{"empty", "", 0o600, "empty or cut short"},
		{"cut short", fileHex[:40], 0o600, "empty or cut short"},
		{"not hex", strings.Repeat("z", 64) + "\n", 0o600, "hexadecimal"},
		{"too long", strings.Repeat(fileHex, 20), 0o600, "too long"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "secret.key")
			if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, c.mode); err != nil { // not subject to the umask
				t.Fatal(err)
			}
			_, _, err := LoadOrCreateFile(path, rand.Reader)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("LoadOrCreateFile = %v, want an error saying %q", err, c.wantErr)
			}
			if strings.Contains(err.Error(), fileHex) {
				t.Errorf("error %q quotes the key", err)
			}
			if text, _ := os.ReadFile(path); string(text) != c.content {
				t.Error("a refused file was changed")
			}
		})
	}
}

func TestLoadOrCreateFileNotRegular(t *testing.T) {
	path := t.TempDir() // a directory
	if _, _, err := LoadOrCreateFile(path, rand.Reader); err == nil {
		t.Error("LoadOrCreateFile accepted a directory")
	}
}

func TestLoadOrCreateFileNoDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "secret.key")
	if _, _, err := LoadOrCreateFile(path, rand.Reader); err == nil {
		t.Error("LoadOrCreateFile succeeded without its directory")
	}
}

func TestLoadOrCreateFileLosesRace(t *testing.T) {
	// Another process creates the file between our look and our create: we use its key.
	path := filepath.Join(t.TempDir(), "secret.key")
	beforeCreate = func() {
		if err := os.WriteFile(path, []byte(fileHex+"\n"), 0o600); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { beforeCreate = nil })
	k, created, err := LoadOrCreateFile(path, rand.Reader)
	if err != nil || created {
		t.Fatalf("LoadOrCreateFile: created %v, %v", created, err)
	}
	if want, _ := Parse(fileHex); k.Check() != want.Check() {
		t.Error("the loser did not take the winner's key")
	}
}

func TestLoadOrCreateFileConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.key")
	const n = 8
	checks := make([]string, n)
	made := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, created, err := LoadOrCreateFile(path, rand.Reader)
			if err != nil {
				t.Error(err)
				return
			}
			checks[i], made[i] = k.Check(), created
		})
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if made[i] {
			creators++
		}
		if checks[i] != checks[0] {
			t.Errorf("caller %d got another key", i)
		}
	}
	if creators != 1 {
		t.Errorf("%d callers created the file, want 1", creators)
	}
}

// TestLoadFileMissing: LoadFile answers a missing file as fs.ErrNotExist and makes none.
func TestLoadFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.key")
	if _, err := LoadFile(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadFile of a missing file = %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadFile made %s (%v)", path, err)
	}
}
