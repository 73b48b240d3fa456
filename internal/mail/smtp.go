package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/twofold-auth/twofold/internal/loopback"
)

// TLSMode is how the connection to the SMTP server is protected.
type TLSMode int

const (
	// StartTLS connects in plain text and must then switch to TLS with STARTTLS before anything
	// else is said (smtp://). A server that does not offer it is refused.
	StartTLS TLSMode = iota
	// ImplicitTLS speaks TLS from the first byte (smtps://, port 465).
	ImplicitTLS
	// NoTLS never encrypts (smtp://...?tls=none): only for a relay on the same host or network.
	NoTLS
)

func (m TLSMode) String() string {
	return [...]string{"starttls", "implicit tls", "none"}[m]
}

// SMTP sends messages to one SMTP server (RFC 5321) with net/smtp: STARTTLS or implicit TLS,
// with the system's certificate roots, and AUTH PLAIN only over TLS (or to a loopback relay).
type SMTP struct {
	Host     string
	Port     string
	Username string
	Password string
	TLS      TLSMode
	// TLSConfig overrides the TLS settings (tests trust their own certificate); nil verifies
	// the server's certificate for Host against the system roots.
	TLSConfig *tls.Config
	// LocalName is the name given in EHLO; empty means this host's name.
	LocalName string
	// Timeout bounds one whole delivery, connection included; zero means one minute.
	Timeout time.Duration
}

// ParseSMTPURL reads smtp://USER:PASS@HOST:PORT (STARTTLS required; port 587 by default),
// smtps://USER:PASS@HOST:PORT (implicit TLS; port 465) or smtp://HOST:PORT?tls=none (a local
// relay, no TLS). The user and password are optional and percent-decoded. Its errors never
// quote the password.
func ParseSMTPURL(raw string) (*SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("mail: the SMTP URL is not a URL (give smtp://USER:PASS@HOST:PORT)")
	}
	s := &SMTP{Host: u.Hostname(), Port: u.Port()}
	switch u.Scheme {
	case "smtp":
		s.TLS, s.Port = StartTLS, orString(s.Port, "587")
	case "smtps":
		s.TLS, s.Port = ImplicitTLS, orString(s.Port, "465")
	default:
		return nil, errors.New("mail: the SMTP URL must start with smtp:// or smtps://")
	}
	if s.Host == "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" || u.Opaque != "" {
		return nil, errors.New("mail: give the SMTP server as smtp://USER:PASS@HOST:PORT")
	}
	if u.User != nil {
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
	}
	q := u.Query()
	for k := range q {
		if k != "tls" {
			return nil, fmt.Errorf("mail: unknown SMTP URL parameter %q (only tls=none is known)", k)
		}
	}
	switch q.Get("tls") {
	case "", "starttls":
	case "none":
		if s.TLS == ImplicitTLS {
			return nil, errors.New("mail: smtps:// is TLS; tls=none goes with smtp://")
		}
		s.TLS = NoTLS
		if s.Username != "" && !loopback.Host(s.Host) {
			return nil, errors.New("mail: with tls=none the password would cross the network in clear: use STARTTLS, smtps://, or a relay on this host")
		}
	default:
		return nil, errors.New("mail: tls must be none (for a local relay) or left out")
	}
	return s, nil
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// String describes the server without its password.
func (s *SMTP) String() string {
	user := ""
	if s.Username != "" {
		user = s.Username + ":[redacted]@"
	}
	return fmt.Sprintf("smtp %s%s (%s)", user, net.JoinHostPort(s.Host, s.Port), s.TLS)
}

// LogValue makes log/slog show String, never the password.
func (s *SMTP) LogValue() slog.Value { return slog.StringValue(s.String()) }

// GoString shows String for %#v too.
func (s *SMTP) GoString() string { return s.String() }

// Deliver hands one message to the server, for every recipient in to. It answers nil only
// once the server accepted the message (its reply to the end of DATA).
func (s *SMTP) Deliver(ctx context.Context, from string, to []string, msg []byte) error {
	timeout := s.Timeout
	if timeout == 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := net.JoinHostPort(s.Host, s.Port)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", addr, err)
	}
	defer conn.Close()
	// net/smtp knows no contexts: the deadline bounds every read and write, and a cancelled
	// context closes the connection.
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if s.TLS == ImplicitTLS {
		tc := tls.Client(conn, s.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS with %s: %w", addr, err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.Host)
	if err != nil {
		return fmt.Errorf("greeting of %s: %w", addr, err)
	}
	defer c.Close()
	if err := c.Hello(s.localName()); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if s.TLS == StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("%s does not offer STARTTLS, which is required (give smtps:// for implicit TLS, or ?tls=none for a local relay)", addr)
		}
		if err := c.StartTLS(s.tlsConfig()); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if s.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("%s does not offer AUTH, but a user and password are configured", addr)
		}
		// PlainAuth itself refuses to send the password without TLS, except to a loopback host.
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, s.Host)); err != nil {
			return fmt.Errorf("AUTH PLAIN: %w", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return fmt.Errorf("RCPT TO <%s>: %w", rcpt, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of DATA: %w", err)
	}
	_ = c.Quit() // accepted already: a failed goodbye changes nothing
	return nil
}

func (s *SMTP) tlsConfig() *tls.Config {
	if s.TLSConfig != nil {
		c := s.TLSConfig.Clone()
		if c.ServerName == "" {
			c.ServerName = s.Host
		}
		return c
	}
	return &tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12}
}

func (s *SMTP) localName() string {
	if s.LocalName != "" {
		return s.LocalName
	}
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \r\n") {
		return h
	}
	return "localhost"
}
