package mail_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/mail"
)

// TestOutboxFolderMadePrivate: an outbox that an earlier version left at mode 0755, holding a
// message readable by others, is made 0700 when the outbox opens, which the log says, so that
// no other user can reach the message; a new outbox is made 0700 whatever the umask.
func TestOutboxFolderMadePrivate(t *testing.T) {
	// Not parallel: the umask is the whole process's.
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	now := func() time.Time { return time.Date(2031, 3, 14, 9, 0, 0, 0, time.UTC) }
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))

	dir := filepath.Join(t.TempDir(), "outbox")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "old.eml"), []byte("Subject: temporary password\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := mail.NewOutbox(dir, "Twofold <twofold@localhost>", now, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Send(context.Background(), mail.Message{To: "kim@example.org", Subject: "s", Body: "b"}); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("an outbox found at 0755 is %v after opening (%v), want 0700", info.Mode().Perm(), err)
	}
	if !strings.Contains(logged.String(), "made a mail folder private") || !strings.Contains(logged.String(), "was=0755") {
		t.Errorf("the change is not logged: %q", logged.String())
	}

	logged.Reset()
	fresh := filepath.Join(t.TempDir(), "outbox")
	if _, err := mail.NewOutbox(fresh, "Twofold <twofold@localhost>", now, log); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(fresh); err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("a new outbox has mode %v (%v), want 0700", info.Mode().Perm(), err)
	}
	if logged.Len() != 0 {
		t.Errorf("a new outbox logged a change: %q", logged.String())
	}
}

// TestQueueFoldersMadePrivate: the SMTP queue's folders follow the outbox's rule: one an
// earlier version left open to other users is made 0700 when the queue opens.
func TestQueueFoldersMadePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "queue")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := mail.NewQueue(mail.QueueConfig{Dir: dir, From: "Twofold <twofold@localhost>", Transport: &mail.SMTP{Host: "127.0.0.1", Port: "1"},
		Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	folders := []string{dir}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			folders = append(folders, filepath.Join(dir, e.Name()))
		}
	}
	for _, d := range folders {
		if info, err := os.Stat(d); err != nil || info.Mode().Perm() != 0o700 {
			t.Errorf("%s is %v (%v), want 0700", d, info.Mode().Perm(), err)
		}
	}
}
