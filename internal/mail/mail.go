// Package mail sends Twofold's messages. The default Mailer is the outbox: one RFC 5322 .eml
// file per message in a folder, written durably before the request that caused it is answered.
// With SMTP, a Queue writes each message the same way into its own folder and delivers it in
// the background, retrying with backoff until the server accepts it (see Queue).
package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Message is one plain-text email.
type Message struct {
	To      string
	Subject string
	Body    string
}

// Mailer delivers messages.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// Outbox writes each message as a .eml file into Dir.
type Outbox struct {
	Dir  string
	From string
	Now  func() time.Time
}

var _ Mailer = (*Outbox)(nil)

// NewOutbox makes the outbox folder with mode 0700 (messages hold temporary passwords), and
// makes an existing one that group or other users may enter 0700, logging the change to log
// (slog's default when nil).
func NewOutbox(dir, from string, now func() time.Time, log *slog.Logger) (*Outbox, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := privateDir(dir, log); err != nil {
		return nil, fmt.Errorf("mail: outbox: %w", err)
	}
	return &Outbox{Dir: dir, From: from, Now: now}, nil
}

// privateDir makes dir with mode 0700, or makes an existing one 0700 when group or other users
// may enter it: MkdirAll leaves an existing folder's mode as it is, and an earlier version or
// another tool may have made the folder, or files in it, readable by others (SPEC §5). A folder
// whose mode cannot be changed (another user's) is refused.
func privateDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	info, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("%s has mode %04o, which lets other users read the messages in it, and could not be made private (run: chmod 700 %s): %w", dir, perm, dir, err)
		}
		log.Warn("made a mail folder private: it let other users read the messages in it", "folder", dir, "was", fmt.Sprintf("%04o", perm), "now", "0700")
	}
	return nil
}

// Send writes m to a new file: first under a temporary name, synced, then renamed, and the
// folder synced, so that a crash leaves either the whole message or none.
func (o *Outbox) Send(_ context.Context, m Message) error {
	_, err := o.write(m)
	return err
}

// nameLayout is the time at the start of a message's file name, so that names sort by age.
const nameLayout = "20060102T150405.000000000Z"

// write is Send, answering the new file's name.
func (o *Outbox) write(m Message) (string, error) {
	now := o.Now().UTC()
	raw, id, err := Format(o.From, m, now)
	if err != nil {
		return "", err
	}
	name := now.Format(nameLayout) + "-" + id + ".eml"
	tmp := filepath.Join(o.Dir, "."+name+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("mail: outbox: %w", err)
	}
	_, werr := f.Write(raw)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, filepath.Join(o.Dir, name))
	}
	if werr != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("mail: outbox: %w", werr)
	}
	if err := syncDir(o.Dir); err != nil {
		return "", fmt.Errorf("mail: outbox: sync folder: %w", err)
	}
	return name, nil
}

// syncDir makes the renames and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return nil // a folder that cannot be opened cannot be synced either; the write stands
	}
	defer d.Close()
	return d.Sync()
}

// Format renders m as an RFC 5322 message with CRLF line ends and answers it with the random
// part of its Message-ID.
func Format(from string, m Message, now time.Time) ([]byte, string, error) {
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, "", fmt.Errorf("mail: recipient: %w", err)
	}
	sender, err := mail.ParseAddress(from)
	if err != nil {
		return nil, "", fmt.Errorf("mail: sender: %w", err)
	}
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, "", err
	}
	id := hex.EncodeToString(rnd[:])
	domain := sender.Address[strings.LastIndexByte(sender.Address, '@')+1:]
	var b strings.Builder
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", sender.String())
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", "<"+id+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	body := strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n")
	b.WriteString(body)
	if !strings.HasSuffix(body, "\r\n") {
		b.WriteString("\r\n")
	}
	return []byte(b.String()), id, nil
}
