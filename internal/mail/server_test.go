package mail_test

// A real SMTP server inside the test process (emersion/go-smtp): STARTTLS or implicit TLS with a
// certificate made here, AUTH PLAIN, and a record of every message it accepted.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

const (
	smtpUser     = "twofold@example.org"
	smtpPassword = "relay password 42"
)

// testCert is a self-signed certificate for 127.0.0.1 and localhost, and a pool that trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtp test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

type serverTLS int

const (
	plainServer    serverTLS = iota // no TLS at all
	startTLSServer                  // offers STARTTLS
	implicitServer                  // TLS from the first byte
)

// received is a message the server accepted.
type received struct {
	from string
	to   []string
	data []byte
	tls  bool
	user string
}

type smtpServer struct {
	addr string
	srv  *smtp.Server

	mu       sync.Mutex
	msgs     []received
	authSeen int
}

// newSMTPServer serves on addr ("" for any free port); auth requires AUTH PLAIN.
func newSMTPServer(t *testing.T, addr string, mode serverTLS, auth bool, cert tls.Certificate) *smtpServer {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{addr: ln.Addr().String()}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		base := &session{s: s, conn: c, needAuth: auth}
		if auth {
			return &authSession{base}, nil
		}
		return base, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout, s.srv.WriteTimeout = hang, hang
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	switch mode {
	case startTLSServer:
		s.srv.TLSConfig = cfg
	case implicitServer:
		s.srv.TLSConfig = cfg
		ln = tls.NewListener(ln, cfg)
	case plainServer:
		s.srv.AllowInsecureAuth = true
	}
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

func (s *smtpServer) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

func (s *smtpServer) auths() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authSeen
}

// waitFor waits (at most hang) until the server holds n messages.
func (s *smtpServer) waitFor(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.Now().Add(hang)
	for time.Now().Before(deadline) {
		if m := s.messages(); len(m) >= n {
			return m
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the SMTP server holds %d messages, want %d", len(s.messages()), n)
	return nil
}

type session struct {
	s        *smtpServer
	conn     *smtp.Conn
	needAuth bool
	user     string
	from     string
	to       []string
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.needAuth && x.user == "" {
		return smtp.ErrAuthRequired
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := x.conn.TLSConnectionState()
	x.s.mu.Lock()
	x.s.msgs = append(x.s.msgs, received{from: x.from, to: x.to, data: b, tls: isTLS, user: x.user})
	x.s.mu.Unlock()
	return nil
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

type authSession struct{ *session }

func (a *authSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (a *authSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		a.s.mu.Lock()
		a.s.authSeen++
		a.s.mu.Unlock()
		if user != smtpUser || pass != smtpPassword {
			return errors.New("wrong user or password")
		}
		a.user = user
		return nil
	}), nil
}
