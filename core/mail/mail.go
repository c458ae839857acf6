// Package mail writes e-mail messages (RFC 5322, MIME multipart/alternative
// of RFC 2046) and sends them to the configured submission server over
// SMTP (net/smtp) with STARTTLS (RFC 3207) or implicit TLS (RFC 8314).
//
// Nothing taken from input reaches a header unchecked: addresses are parsed
// by net/mail and written back by it, the subject is one line encoded with
// mime.QEncoding, and a CR or LF anywhere in a header value is refused.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
)

// ErrHeader is an address or subject that cannot go into a header.
var ErrHeader = errors.New("mail: not allowed in a header")

// Address parses one address (net/mail, RFC 5322 §3.4) and returns its
// addr-spec alone: a display name or a CR/LF is refused with the rest.
func Address(s string) (string, error) {
	if strings.ContainsAny(s, "\r\n") {
		return "", fmt.Errorf("%w: address %q has a line break", ErrHeader, s)
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", fmt.Errorf("%w: address %q: %v", ErrHeader, s, err)
	}
	if a.Name != "" || a.Address != s {
		return "", fmt.Errorf("%w: address %q: want a bare address such as user@example.com", ErrHeader, s)
	}
	return a.Address, nil
}

// Message is an e-mail with a text and an HTML alternative.
type Message struct {
	From    string // an RFC 5322 address, a display name allowed
	To      string // a bare address (Address)
	Subject string
	Text    string
	HTML    string
	Date    time.Time
}

// Bytes writes the message: headers, then multipart/alternative with the
// text part first and the HTML part last (RFC 2046 §5.1.4: the preferred
// part comes last), each quoted-printable.
func (m Message) Bytes() ([]byte, error) {
	from, err := mail.ParseAddress(m.From)
	if err != nil || strings.ContainsAny(m.From, "\r\n") {
		return nil, fmt.Errorf("%w: from %q", ErrHeader, m.From)
	}
	to, err := Address(m.To)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return nil, fmt.Errorf("%w: the subject has a line break", ErrHeader)
	}
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", from.String())
	h("To", (&mail.Address{Address: to}).String())
	h("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	h("Date", m.Date.Format(time.RFC1123Z))
	h("Message-ID", "<"+randomID()+"@"+domain(from.Address)+">")
	h("MIME-Version", "1.0")
	h("Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies
	h("Content-Type", `multipart/alternative; boundary="`+mw.Boundary()+`"`)
	b.WriteString("\r\n")
	for _, p := range []struct{ ctype, body string }{
		{"text/plain; charset=utf-8", m.Text},
		{"text/html; charset=utf-8", m.HTML},
	} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(pw)
		if _, err := qp.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(p.body, "\r\n", "\n"), "\n", "\r\n"))); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func domain(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return "localhost"
}

// Sender sends messages to one submission server. Safe for concurrent use:
// each Send is its own connection.
type Sender struct {
	cfg  config.SMTP
	from string // the envelope sender, a bare address
	helo string
	tls  *tls.Config
	// timeout bounds one Send, connection to QUIT.
	timeout time.Duration
}

// NewSender checks cfg (config validation has already) and reads ca_file.
func NewSender(cfg config.SMTP, helo string, timeout time.Duration) (*Sender, error) {
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mail: from %q: %w", cfg.From, err)
	}
	tc := &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mail: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mail: ca_file %s holds no PEM certificate", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	if cfg.HeloName != "" {
		helo = cfg.HeloName
	}
	if helo == "" {
		helo = "localhost"
	}
	return &Sender{cfg: cfg, from: from.Address, helo: helo, tls: tc, timeout: timeout}, nil
}

// From is the From header's address as configured.
func (s *Sender) From() string { return s.cfg.From }

// Error is the server's answer to a command: Permanent for a 5xx reply
// (RFC 5321 §4.2.1), which no retry will change.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string   { return e.Err.Error() }
func (e *Error) Unwrap() error   { return e.Err }
func (e *Error) Permanent() bool { return e.Code >= 500 }

// Permanent reports whether err is a refusal no retry will change: a 5xx
// reply or an address that cannot be written.
func Permanent(err error) bool {
	var e *Error
	return errors.Is(err, ErrHeader) || (errors.As(err, &e) && e.Permanent())
}

// Send delivers msg (a whole message, as Message.Bytes writes it) to one
// recipient. The dial is bound to ctx, and the connection has a deadline of
// the sender's timeout (or ctx's deadline, if sooner); ctx ending closes
// it.
func (s *Sender) Send(ctx context.Context, to string, msg []byte) (err error) {
	rcpt, err := Address(to)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Address())
	if err != nil {
		return fmt.Errorf("mail: dial %s: %w", s.cfg.Address(), err)
	}
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		conn.Close()
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if s.cfg.TLS == config.SMTPImplicit {
		tc := tls.Client(conn, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fmt.Errorf("mail: TLS with %s: %w", s.cfg.Address(), err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		conn.Close()
		return reply("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(s.helo); err != nil {
		return reply("EHLO", err)
	}
	if s.cfg.TLS == config.SMTPStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return &Error{Code: 554, Err: fmt.Errorf("mail: %s does not offer STARTTLS: not sending in plain text", s.cfg.Address())}
		}
		if err := c.StartTLS(s.tls); err != nil {
			return reply("STARTTLS", err)
		}
	}
	if s.cfg.Username != "" {
		// net/smtp's PLAIN refuses a connection without TLS, but to localhost.
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host)); err != nil {
			return reply("AUTH", err)
		}
	}
	if err := c.Mail(s.from); err != nil {
		return reply("MAIL FROM", err)
	}
	if err := c.Rcpt(rcpt); err != nil {
		return reply("RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return reply("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return reply("DATA", err)
	}
	if err := w.Close(); err != nil {
		return reply("DATA", err)
	}
	// The server has the message: a failed QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// reply wraps the server's answer to a command, keeping its code.
func reply(cmd string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		return &Error{Code: te.Code, Err: fmt.Errorf("mail: %s: %w", cmd, err)}
	}
	return fmt.Errorf("mail: %s: %w", cmd, err)
}
