package mail_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	stdmail "net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/app/apptest"
	"github.com/twofold-auth/twofold/internal/mail"
)

const sender = "Twofold <twofold@example.org>"

// fast keeps retries in milliseconds, so that no test waits long.
var fast = mail.Backoff{Base: 20 * time.Millisecond, Max: 80 * time.Millisecond}

// hang bounds the tests' waits and the SMTP client's exchanges: long enough that only a hang
// reaches it, never a busy machine (a timed-out exchange would be retried, and a message the
// server had taken would arrive twice).
const hang = time.Minute

func transport(addr string, pool *x509.CertPool) *mail.SMTP {
	host, port, _ := net.SplitHostPort(addr)
	return &mail.SMTP{Host: host, Port: port, Username: smtpUser, Password: smtpPassword, TLS: mail.StartTLS,
		TLSConfig: &tls.Config{RootCAs: pool}, Timeout: hang, LocalName: "twofold.test"}
}

func newQueue(t *testing.T, dir string, tr mail.Transport) *mail.Queue {
	t.Helper()
	q, err := mail.NewQueue(mail.QueueConfig{Dir: dir, From: sender, Transport: tr, Backoff: fast,
		Poll: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// run delivers in the background until the test ends.
func run(t *testing.T, q *mail.Queue) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func status(t *testing.T, dir string) *mail.Status {
	t.Helper()
	st, err := mail.ReadStatus(dir)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// eventually polls cond until it holds, for at most hang.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hang)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func parse(t *testing.T, raw []byte) (*stdmail.Message, string) {
	t.Helper()
	m, err := stdmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("malformed message: %v\n%s", err, raw)
	}
	body, _ := io.ReadAll(m.Body)
	return m, string(body)
}

// TestAccountCreationEmailsArrive: both account-creation emails reach a real SMTP server over
// STARTTLS with AUTH PLAIN, intact: the temporary password they carry signs in.
func TestAccountCreationEmailsArrive(t *testing.T) {
	cert, pool := testCert(t)
	srv := newSMTPServer(t, "", startTLSServer, true, cert)
	dir := t.TempDir()
	q := newQueue(t, filepath.Join(dir, "outbox", "queue"), transport(srv.addr, pool))
	run(t, q)

	ctx := context.Background()
	svc := apptest.Open(t, app.Config{Data: dir, SecretKey: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		BaseURL: "https://twofold.example.org", HashWait: time.Second,
		WrapMail: func(mail.Mailer) mail.Mailer { return q }}).Service
	if _, _, err := svc.CreateUser(ctx, account.CLI, account.NewUser{Username: "alice", Email: "alice@example.org", Name: "Alice Doe"}); err != nil {
		t.Fatal(err)
	}

	msgs := srv.waitFor(t, 2)
	bySubject := map[string]string{}
	for _, r := range msgs {
		if !r.tls || r.user != smtpUser || r.from != "twofold@example.org" || len(r.to) != 1 || r.to[0] != "alice@example.org" {
			t.Errorf("envelope: tls %v, user %q, from %q, to %v", r.tls, r.user, r.from, r.to)
		}
		m, body := parse(t, r.data)
		if m.Header.Get("To") != "<alice@example.org>" || m.Header.Get("Message-Id") == "" {
			t.Errorf("header: %v", m.Header)
		}
		bySubject[m.Header.Get("Subject")] = body
	}
	if !strings.Contains(bySubject[account.SubjectPasswordGenerated], "Username: alice\r\n") ||
		!strings.Contains(bySubject[account.SubjectPasswordGenerated], "https://twofold.example.org/signin") {
		t.Errorf("%q:\n%s", account.SubjectPasswordGenerated, bySubject[account.SubjectPasswordGenerated])
	}
	pw := regexp.MustCompile(`Temporary password: (\S+)\r\n`).FindStringSubmatch(bySubject[account.SubjectNewPassword])
	if pw == nil {
		t.Fatalf("%q:\n%s", account.SubjectNewPassword, bySubject[account.SubjectNewPassword])
	}
	if _, err := svc.SignIn(ctx, account.SignInRequest{Username: "alice", Password: pw[1]}); err != nil {
		t.Errorf("the mailed temporary password does not sign in: %v", err)
	}
	eventually(t, "the queue is empty and both are recorded", func() bool {
		s := status(t, q.Dir())
		return len(s.Waiting) == 0 && s.Sent == 2
	})
}

// TestServerDownThenUp: a message written while the SMTP server is down waits and is retried;
// once the server is up it arrives, once.
func TestServerDownThenUp(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for retries")
	}
	cert, pool := testCert(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there: connections are refused

	dir := t.TempDir()
	q := newQueue(t, dir, transport(addr, pool))
	run(t, q)
	if err := q.Send(context.Background(), mail.Message{To: "bob@example.org", Subject: "Hello", Body: "Username: bob\n"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "three attempts failed", func() bool {
		s := status(t, dir)
		return len(s.Waiting) == 1 && s.Waiting[0].Attempts >= 3
	})
	w := status(t, dir).Waiting[0]
	if !strings.Contains(w.LastError, "connect") || w.NextTry.IsZero() || w.Subject != "Hello" || w.To[0] != "bob@example.org" {
		t.Errorf("while down: %+v", w)
	}

	srv := newSMTPServer(t, addr, startTLSServer, true, cert)
	msgs := srv.waitFor(t, 1)
	eventually(t, "the queue is empty", func() bool { return len(status(t, dir).Waiting) == 0 })
	time.Sleep(10 * fast.Max) // several retry periods: nothing more may arrive
	if got := len(srv.messages()); got != 1 {
		t.Fatalf("%d messages arrived, want 1", got)
	}
	if _, body := parse(t, msgs[0].data); body != "Username: bob\r\n" {
		t.Errorf("body %q", body)
	}
	if s := status(t, dir); s.Sent != 1 {
		t.Errorf("sent.log records %d", s.Sent)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*", "*")); len(files) != 0 {
		t.Errorf("files left behind: %v", files)
	}
}

// TestSTARTTLSRequired: a server that does not offer STARTTLS gets neither the password nor the
// message, unless tls=none says it is a local relay.
func TestSTARTTLSRequired(t *testing.T) {
	cert, pool := testCert(t)
	srv := newSMTPServer(t, "", plainServer, false, cert)
	dir := t.TempDir()
	q := newQueue(t, dir, transport(srv.addr, pool))
	if err := q.Send(context.Background(), mail.Message{To: "carol@example.org", Subject: "S", Body: "b"}); err != nil {
		t.Fatal(err)
	}
	if n := q.Flush(context.Background()); n != 1 {
		t.Fatalf("Flush: %d waiting, want 1", n)
	}
	s := status(t, dir)
	if len(s.Waiting) != 1 || !strings.Contains(s.Waiting[0].LastError, "STARTTLS") || len(srv.messages()) != 0 || srv.auths() != 0 {
		t.Fatalf("status %+v, server got %d messages and %d AUTH", s.Waiting, len(srv.messages()), srv.auths())
	}

	relay, err := mail.ParseSMTPURL("smtp://" + srv.addr + "?tls=none")
	if err != nil {
		t.Fatal(err)
	}
	if delivered, waiting := newQueue(t, dir, relay).DeliverAll(context.Background()); delivered != 1 || waiting != 0 {
		t.Fatalf("tls=none: %d delivered, %d waiting", delivered, waiting)
	}
	if m := srv.messages(); len(m) != 1 || m[0].tls {
		t.Fatalf("relay got %+v", m)
	}
}

func TestImplicitTLS(t *testing.T) {
	cert, pool := testCert(t)
	srv := newSMTPServer(t, "", implicitServer, true, cert)
	tr := transport(srv.addr, pool)
	tr.TLS = mail.ImplicitTLS
	q := newQueue(t, t.TempDir(), tr)
	if err := q.Send(context.Background(), mail.Message{To: "dan@example.org", Subject: "S", Body: "b"}); err != nil {
		t.Fatal(err)
	}
	if n := q.Flush(context.Background()); n != 0 {
		t.Fatalf("%d waiting", n)
	}
	if m := srv.messages(); len(m) != 1 || !m[0].tls || m[0].user != smtpUser {
		t.Fatalf("got %+v", m)
	}
}

func TestWrongPasswordWaits(t *testing.T) {
	cert, pool := testCert(t)
	srv := newSMTPServer(t, "", startTLSServer, true, cert)
	tr := transport(srv.addr, pool)
	tr.Password = "wrong"
	dir := t.TempDir()
	q := newQueue(t, dir, tr)
	q.Send(context.Background(), mail.Message{To: "erin@example.org", Subject: "S", Body: "b"})
	if n := q.Flush(context.Background()); n != 1 {
		t.Fatalf("%d waiting", n)
	}
	if s := status(t, dir); !strings.Contains(s.Waiting[0].LastError, "AUTH PLAIN") {
		t.Errorf("last error %q", s.Waiting[0].LastError)
	}
}

// TestUntrustedCertificateRefused: STARTTLS with a certificate the system does not trust fails.
func TestUntrustedCertificateRefused(t *testing.T) {
	cert, _ := testCert(t)
	srv := newSMTPServer(t, "", startTLSServer, true, cert)
	tr := transport(srv.addr, nil)
	tr.TLSConfig = nil // the system roots
	err := tr.Deliver(context.Background(), "a@example.org", []string{"b@example.org"}, []byte("Subject: x\r\n\r\nx\r\n"))
	if err == nil || !strings.Contains(err.Error(), "certificate") || srv.auths() != 0 {
		t.Fatalf("err %v, %d AUTH seen", err, srv.auths())
	}
}

// TestStaleClaimSentAgain: a message left in delivery by a process that died is delivered again
// after StaleClaim, under its own Message-ID.
func TestStaleClaimSentAgain(t *testing.T) {
	cert, pool := testCert(t)
	srv := newSMTPServer(t, "", startTLSServer, true, cert)
	dir := t.TempDir()
	q := newQueue(t, dir, transport(srv.addr, pool))
	q.Send(context.Background(), mail.Message{To: "fay@example.org", Subject: "S", Body: "b"})
	name := status(t, dir).Waiting[0].Name
	id := status(t, dir).Waiting[0].MessageID
	claimed := filepath.Join(dir, "sending", name)
	if err := os.Rename(filepath.Join(dir, name), claimed); err != nil { // "claimed", then the process died
		t.Fatal(err)
	}
	old := time.Now().Add(-mail.StaleClaim - time.Minute)
	os.Chtimes(claimed, old, old)
	if s := status(t, dir); len(s.Waiting) != 1 || !s.Waiting[0].Sending {
		t.Fatalf("status %+v", s.Waiting)
	}
	if d, _ := q.DeliverAll(context.Background()); d != 1 {
		t.Fatalf("%d delivered", d)
	}
	m, _ := parse(t, srv.messages()[0].data)
	if m.Header.Get("Message-Id") != id {
		t.Errorf("Message-ID %q, want %q", m.Header.Get("Message-Id"), id)
	}
}

// TestTwoDeliverersSendOnce: a server and a command delivering from one folder at once send
// each message once.
func TestTwoDeliverersSendOnce(t *testing.T) {
	cert, pool := testCert(t)
	srv := newSMTPServer(t, "", startTLSServer, true, cert)
	dir := t.TempDir()
	a, b := newQueue(t, dir, transport(srv.addr, pool)), newQueue(t, dir, transport(srv.addr, pool))
	const n = 12
	for i := range n {
		a.Send(context.Background(), mail.Message{To: "g@example.org", Subject: fmt.Sprint(i), Body: "b"})
	}
	var wg sync.WaitGroup
	for _, q := range []*mail.Queue{a, b} {
		wg.Go(func() { q.DeliverAll(context.Background()) })
	}
	wg.Wait()
	seen := map[string]int{}
	for _, r := range srv.messages() {
		m, _ := parse(t, r.data)
		seen[m.Header.Get("Message-Id")]++
	}
	if len(seen) != n {
		t.Errorf("%d distinct messages arrived, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("%s arrived %d times", id, c)
		}
	}
}

func TestParseSMTPURL(t *testing.T) {
	good := []struct {
		url              string
		host, port, user string
		pass             string
		mode             mail.TLSMode
	}{
		{"smtp://u%40example.org:p%3Ass@mail.example.org:2525", "mail.example.org", "2525", "u@example.org", "p:ss", mail.StartTLS},
		{"smtp://mail.example.org", "mail.example.org", "587", "", "", mail.StartTLS},
		{"smtps://u:pw-secret@mail.example.org", "mail.example.org", "465", "u", "pw-secret", mail.ImplicitTLS},
		{"smtp://localhost:25?tls=none", "localhost", "25", "", "", mail.NoTLS},
		{"smtp://u:pw-secret@127.0.0.1:25?tls=none", "127.0.0.1", "25", "u", "pw-secret", mail.NoTLS},
	}
	for _, g := range good {
		s, err := mail.ParseSMTPURL(g.url)
		if err != nil {
			t.Errorf("%s: %v", g.url, err)
			continue
		}
		if s.Host != g.host || s.Port != g.port || s.Username != g.user || s.Password != g.pass || s.TLS != g.mode {
			t.Errorf("%s: %+v", g.url, s)
		}
		var logged bytes.Buffer
		slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "smtp", s)
		for _, shown := range []string{s.String(), fmt.Sprintf("%v %+v %#v", s, s, s), logged.String()} {
			if g.pass != "" && strings.Contains(shown, g.pass) {
				t.Errorf("%s: the password shows: %s", g.url, shown)
			}
		}
	}
	for _, bad := range []string{
		"smtp://u:secretpw@mail.example.org?tls=none", // a password in clear over the network
		"smtps://mail.example.org?tls=none",
		"smtp://mail.example.org?tls=maybe",
		"smtp://mail.example.org?helo=x",
		"http://mail.example.org",
		"smtp:///nohost",
		"smtp://mail.example.org/path",
	} {
		if _, err := mail.ParseSMTPURL(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		} else if strings.Contains(err.Error(), "secretpw") {
			t.Errorf("%s: the error shows the password: %v", bad, err)
		}
	}
}

func TestBackoffBounded(t *testing.T) {
	b := mail.Backoff{Base: time.Second, Max: time.Minute}
	for n := 1; n <= 64; n++ {
		full := min(time.Minute, time.Second<<min(n-1, 10))
		if d := b.Delay(n); d < full/2 || d > full {
			t.Errorf("Delay(%d) = %v, want %v to %v", n, d, full/2, full)
		}
	}
}
