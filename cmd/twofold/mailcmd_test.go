package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
)

// relayBackend is a local relay without TLS or AUTH (tls=none) that keeps what it accepts.
type relayBackend struct {
	mu   sync.Mutex
	msgs []string
}

type relaySession struct{ b *relayBackend }

func (b *relayBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return relaySession{b}, nil }
func (relaySession) Mail(string, *smtp.MailOptions) error           { return nil }
func (relaySession) Rcpt(string, *smtp.RcptOptions) error           { return nil }
func (relaySession) Reset()                                         {}
func (relaySession) Logout() error                                  { return nil }
func (s relaySession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, string(b))
	s.b.mu.Unlock()
	return err
}

func mailCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// TestMailQueueFromTheCommandLine: mail that a command wrote while the SMTP relay was down
// waits, `mail status` shows it with its error, and `mail deliver` sends it once the relay is up.
func TestMailQueueFromTheCommandLine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	data := t.TempDir()
	common := []string{"--data", data, "--mail", "smtp://" + addr + "?tls=none", "--mail-from", "Twofold <twofold@example.org>"}

	if out, errOut, code := mailCLI(t, append([]string{"user", "add", "alice", "--email", "alice@example.org"}, common...)...); code != 0 {
		t.Fatalf("user add: %d %s %s", code, out, errOut)
	} else if !strings.Contains(errOut, "mail waits in the queue") {
		t.Errorf("no word that mail waits: %s", errOut)
	} else if !strings.Contains(out, `"Password Generated" and "New Password" emails to alice@example.org wait in the queue for smtp `+addr) {
		t.Errorf("user add does not say that both emails wait for the relay: %s", out)
	}
	out, _, code := mailCLI(t, append([]string{"mail", "status", "--json"}, common...)...)
	var st struct {
		Count   int
		Waiting []struct {
			Subject   string
			Attempts  int
			LastError string `json:"last_error"`
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Count != 2 {
		t.Fatalf("mail status: %d %s", code, out)
	}
	for _, w := range st.Waiting {
		if w.Attempts != 1 || !strings.Contains(w.LastError, "connect") {
			t.Errorf("waiting %+v", w)
		}
	}
	if out, _, _ := mailCLI(t, append([]string{"mail", "status"}, common...)...); !strings.Contains(out, "Waiting: 2") ||
		!strings.Contains(out, "New Password") {
		t.Errorf("mail status:\n%s", out)
	}
	if _, _, code := mailCLI(t, append([]string{"mail", "deliver"}, common...)...); code != 1 {
		t.Errorf("mail deliver with the relay down: exit %d", code)
	}

	relay := &relayBackend{}
	srv := smtp.NewServer(relay)
	srv.Domain = "localhost"
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	if out, errOut, code := mailCLI(t, append([]string{"mail", "deliver"}, common...)...); code != 0 || !strings.Contains(out, "Delivered 2") {
		t.Fatalf("mail deliver: %d %s %s", code, out, errOut)
	}
	relay.mu.Lock()
	got := strings.Join(relay.msgs, "\n")
	n := len(relay.msgs)
	relay.mu.Unlock()
	if n != 2 || !strings.Contains(got, "Username: alice") || !strings.Contains(got, "Temporary password: ") {
		t.Errorf("the relay got %d messages:\n%s", n, got)
	}
	if out, _, _ := mailCLI(t, append([]string{"mail", "status"}, common...)...); !strings.Contains(out, "Waiting: none") ||
		!strings.Contains(out, "Delivered: 2") {
		t.Errorf("mail status after delivery:\n%s", out)
	}
	// With the relay up, user add says where the emails went.
	if out, errOut, code := mailCLI(t, append([]string{"user", "add", "bert", "--email", "bert@example.org"}, common...)...); code != 0 ||
		!strings.Contains(out, `"Password Generated" and "New Password" emails were sent to bert@example.org through smtp `+addr) {
		t.Errorf("user add with the relay up: %d %s %s", code, out, errOut)
	}
}

func TestMailAndSSOSettingsChecked(t *testing.T) {
	data := t.TempDir()
	for _, args := range [][]string{
		{"mail", "status", "--mail", "smtp://u:pw@mail.example.org?tls=none"},
		{"user", "list", "--mail", "smtp://u:pw@mail.example.org?tls=none"},
		{"user", "list", "--mail-from", "not an address"},
	} {
		if _, errOut, code := mailCLI(t, append(args, "--data", data)...); code == 0 || strings.Contains(errOut, ":pw@") {
			t.Errorf("%v: exit %d, %s", args, code, errOut)
		}
	}
	if _, errOut, code := mailCLI(t, "serve", "--addr", "127.0.0.1:0", "--data", data, "--sso-client-id", "x"); code != 2 ||
		!strings.Contains(errOut, "--sso-issuer") {
		t.Errorf("serve with SSO settings but no issuer: exit %d, %s", code, errOut)
	}
}
