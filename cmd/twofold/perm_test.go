package main

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/emersion/go-smtp"
)

// TestDataFilesOwnerOnly checks SPEC §5 at rest: under umask 022 and in a data folder that
// existed with mode 0755, every file Twofold writes there (the database, the server key, outbox
// mail, the SMTP queue with its retry state and sent log) is mode 0600 and every folder it makes
// is 0700. The folder that existed keeps its mode (docs/DESIGN.md, Decisions).
func TestDataFilesOwnerOnly(t *testing.T) {
	// Not parallel: the umask is the whole process's, and the commands run in this process.
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	var names []string
	check := func() {
		t.Helper()
		err := filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(data, p)
			names = append(names, rel)
			want := fs.FileMode(0o600)
			switch {
			case p == data:
				want = fs.ModeDir | 0o755
			case d.IsDir():
				want = fs.ModeDir | 0o700
			}
			if info.Mode() != want {
				t.Errorf("%s has mode %v, want %v", rel, info.Mode(), want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if out, errOut, code := mailCLI(t, "user", "add", "alice", "--email", "alice@example.org", "--data", data); code != 0 {
		t.Fatalf("user add: %d %s %s", code, out, errOut)
	}
	// The SMTP queue: one try with the relay down (retry state written), then delivered.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	smtpArgs := []string{"--data", data, "--mail", "smtp://" + addr + "?tls=none", "--mail-from", "Twofold <twofold@example.org>"}
	if out, errOut, code := mailCLI(t, append([]string{"user", "add", "bert", "--email", "bert@example.org"}, smtpArgs...)...); code != 0 {
		t.Fatalf("user add with the relay down: %d %s %s", code, out, errOut)
	}
	check() // the retry state is there until delivery
	srv := smtp.NewServer(&relayBackend{})
	srv.Domain = "localhost"
	if ln, err = net.Listen("tcp", addr); err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	if out, errOut, code := mailCLI(t, append([]string{"mail", "deliver"}, smtpArgs...)...); code != 0 {
		t.Fatalf("mail deliver: %d %s %s", code, out, errOut)
	}

	check()
	all := strings.Join(names, " ")
	for _, want := range []string{"twofold.db", "secret.key", ".eml", ".json", "sent.log"} {
		if !strings.Contains(all, want) {
			t.Errorf("no %s among the files written: %s", want, all)
		}
	}
}
