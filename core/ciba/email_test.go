package ciba_test

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
)

const (
	smtpUser = "gatehouse"
	smtpPass = "smtp-password-for-tests"
)

// smtpServer is a mail submission server on loopback, started by the test:
// enough of RFC 5321 for net/smtp (EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT,
// DATA, RSET, NOOP, QUIT). It requires STARTTLS and authentication before
// MAIL, and answers the first `busy` MAIL commands 451 (try again later).
type smtpServer struct {
	addr   string
	caFile string // the PEM of its self-signed certificate
	tls    *tls.Config
	got    chan smtpMail

	mu       sync.Mutex
	busy     int
	attempts int // MAIL commands seen
}

type smtpMail struct {
	From, To string
	TLS      bool
	AuthUser string
	Data     []byte
}

func newSMTPServer(tb testing.TB) *smtpServer { return newSMTPServerTLS(tb, false) }

// newSMTPServerTLS starts the server; implicit: TLS from the first byte
// (RFC 8314) instead of STARTTLS.
func newSMTPServerTLS(tb testing.TB, implicit bool) *smtpServer {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "smtp test CA"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	caFile := filepath.Join(tb.TempDir(), "smtp-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &smtpServer{
		addr: ln.Addr().String(), caFile: caFile, got: make(chan smtpMail, 16),
		tls: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12},
	}
	if implicit {
		ln = tls.NewListener(ln, s.tls)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	tb.Cleanup(func() {
		close(done)
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				go func() { <-done; conn.Close() }()
				_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
				s.serve(conn, implicit)
			}()
		}
	}()
	return s
}

func (s *smtpServer) setBusy(n int) {
	s.mu.Lock()
	s.busy = n
	s.mu.Unlock()
}

func (s *smtpServer) mailAttempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

func (s *smtpServer) serve(conn net.Conn, implicit bool) {
	tp := textproto.NewConn(conn)
	m := smtpMail{TLS: implicit}
	reply := func(code int, lines ...string) {
		for i, l := range lines {
			sep := " "
			if i < len(lines)-1 {
				sep = "-"
			}
			_ = tp.PrintfLine("%d%s%s", code, sep, l)
		}
	}
	reply(220, "smtp.test ESMTP")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			if m.TLS {
				reply(250, "smtp.test", "AUTH PLAIN")
			} else {
				reply(250, "smtp.test", "STARTTLS")
			}
		case "STARTTLS":
			reply(220, "go ahead")
			tc := tls.Server(conn, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			conn, tp, m = tc, textproto.NewConn(tc), smtpMail{TLS: true}
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			raw, err := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(raw), "\x00")
			if !m.TLS || mech != "PLAIN" || err != nil || len(parts) != 3 || parts[1] != smtpUser || parts[2] != smtpPass {
				reply(535, "authentication failed")
				continue
			}
			m.AuthUser = parts[1]
			reply(235, "authenticated")
		case "MAIL":
			s.mu.Lock()
			s.attempts++
			busy := s.busy > 0
			if busy {
				s.busy--
			}
			s.mu.Unlock()
			switch {
			case !m.TLS:
				reply(530, "must issue STARTTLS first")
			case m.AuthUser == "":
				reply(530, "authentication required")
			case busy:
				reply(451, "try again later")
			default:
				m.From = arg
				reply(250, "ok")
			}
		case "RCPT":
			if strings.Contains(arg, "nobody@") {
				reply(550, "no such mailbox")
				continue
			}
			m.To = arg
			reply(250, "ok")
		case "DATA":
			if m.From == "" || m.To == "" {
				reply(503, "MAIL and RCPT first")
				continue
			}
			reply(354, "end with .")
			data, err := io.ReadAll(tp.DotReader())
			if err != nil {
				return
			}
			m.Data = data
			s.got <- m
			m = smtpMail{TLS: m.TLS, AuthUser: m.AuthUser}
			reply(250, "queued")
		case "RSET":
			m = smtpMail{TLS: m.TLS, AuthUser: m.AuthUser}
			reply(250, "ok")
		case "NOOP":
			reply(250, "ok")
		case "QUIT":
			reply(221, "bye")
			return
		default:
			reply(502, "not implemented")
		}
	}
}

func (s *smtpServer) next(tb testing.TB) smtpMail {
	tb.Helper()
	select {
	case m := <-s.got:
		return m
	case <-time.After(20 * time.Second):
		tb.Fatal("the SMTP server got no message")
	}
	return smtpMail{}
}

// none fails the test if a message arrives within a short while (the
// queue, once poked, attempts at once).
func (s *smtpServer) none(tb testing.TB) {
	tb.Helper()
	select {
	case m := <-s.got:
		tb.Fatalf("the SMTP server got a message: %s", m.Data)
	case <-time.After(500 * time.Millisecond):
	}
}

// withSMTP points the server at s and has notify-default send e-mail.
func withSMTP(s *smtpServer, pluginConfig map[string]any) func(*config.Config) {
	return func(cfg *config.Config) {
		cfg.CIBA.Delivery.SMTP = config.SMTP{
			Host: "127.0.0.1", Port: 0, From: "Gatehouse <auth@gatehouse.test>",
			Username: smtpUser, Password: smtpPass, TLS: config.SMTPStartTLS, CAFile: s.caFile,
		}
		_, p, _ := net.SplitHostPort(s.addr)
		cfg.CIBA.Delivery.SMTP.Port, _ = strconv.Atoi(p)
		settings := cfg.Plugins.Settings["notify-default"]
		c := map[string]any{"email": true}
		for k, v := range pluginConfig {
			c[k] = v
		}
		settings.Config = c
		cfg.Plugins.Settings["notify-default"] = settings
	}
}

// metric reads one series of /metrics (0 when it does not exist yet).
func (e *env) metric(tb testing.TB, series string) float64 {
	tb.Helper()
	resp, err := e.metrics()
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatalf("/metrics: %q: %v", sc.Text(), err)
			}
			return n
		}
	}
	return 0
}

// waitMetric waits until series reaches want.
func (e *env) waitMetric(tb testing.TB, series string, want float64) {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); e.metric(tb, series) < want; {
		if time.Now().After(deadline) {
			tb.Fatalf("%s never reached %v (is %v)", series, want, e.metric(tb, series))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const (
	emailDelivered = `gatehouse_ciba_deliveries_total{kind="email",outcome="delivered"}`
	emailRetry     = `gatehouse_ciba_deliveries_total{kind="email",outcome="retry"}`
	emailDead      = `gatehouse_ciba_deliveries_total{kind="email",outcome="dead"}`
	emailQueued    = `gatehouse_ciba_notifications_total{outcome="queued",type="email"}`
	emailRefused   = `gatehouse_ciba_notifications_total{outcome="refused",type="email"}`
)

// TestEmailDelivery: a CIBA request made through the real server, with
// notify-default's email option, reaches the user's mailbox over SMTP with
// STARTTLS (the test's certificate trusted through ca_file) and AUTH
// PLAIN: a multipart/alternative message whose text and HTML parts carry
// the approval link, the binding message and the client's name. A server
// that answers 451 first is tried again with the queue's backoff.
func TestEmailDelivery(t *testing.T) {
	smtpd := newSMTPServer(t)
	e := start(t, options{edit: withSMTP(smtpd, nil)})
	cl := e.client(t, "poll", "", nil)
	delivered, retried, queued := e.metric(t, emailDelivered), e.metric(t, emailRetry), e.metric(t, emailQueued)

	smtpd.setBusy(2)
	id := e.startRequest(t, cl, loginHint("alice", "user_code", aliceUserCode, "binding_message", "W4SCT 42"))
	m := smtpd.next(t)
	if n := smtpd.mailAttempts(); n != 3 {
		t.Errorf("MAIL commands: %d, want 3 (two answered 451, then sent)", n)
	}
	if !m.TLS || m.AuthUser != smtpUser {
		t.Errorf("sent without STARTTLS or AUTH: tls %v, user %q", m.TLS, m.AuthUser)
	}
	if m.From != "FROM:<auth@gatehouse.test>" || m.To != "TO:<alice@example.com>" {
		t.Errorf("envelope %q %q", m.From, m.To)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
	if err != nil {
		t.Fatalf("message: %v\n%s", err, m.Data)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"From": `"Gatehouse" <auth@gatehouse.test>`, "To": "<alice@example.com>", "MIME-Version": "1.0", "Auto-Submitted": "auto-generated",
	} {
		if got := msg.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if subject != "Approve the sign-in to CIBA test app" {
		t.Errorf("subject %q", subject)
	}
	if _, err := msg.Header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	link := e.issuer + "/oauth2/backchannel/" + id
	parts := multipart.NewReader(msg.Body, params["boundary"])
	for _, want := range []string{"text/plain", "text/html"} {
		p, err := parts.NextPart()
		if err != nil {
			t.Fatalf("part %s: %v", want, err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		body, _ := io.ReadAll(p) // quoted-printable, decoded by the reader
		if ct != want {
			t.Errorf("part: %s, want %s", ct, want)
		}
		for _, s := range []string{link, "W4SCT 42", "CIBA test app", "Alice"} {
			if !strings.Contains(string(body), s) {
				t.Errorf("%s part lacks %q:\n%s", want, s, body)
			}
		}
		if want == "text/html" && !strings.Contains(string(body), `href="`+link+`"`) {
			t.Errorf("the HTML part does not link to %s:\n%s", link, body)
		}
	}
	if _, err := parts.NextPart(); err != io.EOF {
		t.Errorf("a third part: %v", err)
	}
	e.waitMetric(t, emailDelivered, delivered+1)
	if got := e.metric(t, emailRetry); got != retried+2 {
		t.Errorf("email retries counted: %v, want %v", got, retried+2)
	}
	if got := e.metric(t, emailQueued); got != queued+1 {
		t.Errorf("emails queued: %v, want %v", got, queued+1)
	}
	// The link works: it is the approval page.
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("approval link %s: %s", link, resp.Status)
	}
}

// TestEmailRefusals: what cannot be sent is refused before it is queued,
// and the request still stands: a profile address that is not one, a
// subject with a line break (a header injection); a binding message with
// CR/LF never gets that far (invalid_binding_message).
func TestEmailRefusals(t *testing.T) {
	smtpd := newSMTPServer(t)
	t.Run("subject with a line break", func(t *testing.T) {
		e := start(t, options{edit: withSMTP(smtpd, map[string]any{"email_subject": "Approve\r\nBcc: mallory@evil.test"})})
		cl := e.client(t, "poll", "", nil)
		refused := e.metric(t, emailRefused)
		e.startRequest(t, cl, loginHint("alice", "user_code", aliceUserCode))
		smtpd.none(t)
		if got := e.metric(t, emailRefused); got != refused+1 {
			t.Errorf("refused emails: %v, want %v", got, refused+1)
		}
	})
	t.Run("invalid recipient", func(t *testing.T) {
		e := start(t, options{edit: func(cfg *config.Config) {
			withSMTP(smtpd, nil)(cfg)
			users := cfg.Plugins.Settings["directory-static"]
			users.Config = map[string]any{"users": []any{
				map[string]any{"sub": "user:default/bob", "username": "bob", "email": "bob@example.com>\r\nBcc: <mallory@evil.test", "displayName": "Bob"},
			}}
			cfg.Plugins.Settings["directory-static"] = users
		}})
		cl := e.client(t, "poll", "", nil)
		refused := e.metric(t, emailRefused)
		e.startRequest(t, cl, loginHint("bob"))
		smtpd.none(t)
		if got := e.metric(t, emailRefused); got != refused+1 {
			t.Errorf("refused emails: %v, want %v", got, refused+1)
		}
	})
	t.Run("binding message with CR LF", func(t *testing.T) {
		e := start(t, options{edit: withSMTP(smtpd, nil)})
		cl := e.client(t, "poll", "", nil)
		status, body := e.authorize(t, cl, loginHint("alice", "user_code", aliceUserCode, "binding_message", "W4SCT\r\nBcc: mallory@evil.test"))
		if status != http.StatusBadRequest || body["error"] != "invalid_binding_message" {
			t.Errorf("binding message with CR LF: %d %v", status, body)
		}
		smtpd.none(t)
	})
}

// TestEmailImplicitTLSAndPermanentRefusal: with tls: implicit the
// message goes over TLS from the first byte; a recipient the server
// refuses with 550 is given up at once (dead), not retried.
func TestEmailImplicitTLSAndPermanentRefusal(t *testing.T) {
	smtpd := newSMTPServerTLS(t, true)
	e := start(t, options{edit: func(cfg *config.Config) {
		withSMTP(smtpd, nil)(cfg)
		cfg.CIBA.Delivery.SMTP.TLS = config.SMTPImplicit
		users := cfg.Plugins.Settings["directory-static"]
		users.Config = map[string]any{"users": []any{
			map[string]any{"sub": "user:default/alice", "username": "alice", "email": "alice@example.com", "displayName": "Alice"},
			map[string]any{"sub": "user:default/nobody", "username": "nobody", "email": "nobody@example.com"},
		}}
		cfg.Plugins.Settings["directory-static"] = users
	}})
	cl := e.client(t, "poll", "", nil)
	id := e.startRequest(t, cl, loginHint("alice"))
	m := smtpd.next(t)
	decoded, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(m.Data)))
	if !m.TLS || m.AuthUser != smtpUser || !strings.Contains(string(decoded), e.issuer+"/oauth2/backchannel/"+id) {
		t.Errorf("implicit TLS: tls %v, user %q, message:\n%s", m.TLS, m.AuthUser, m.Data)
	}

	dead, retried := e.metric(t, emailDead), e.metric(t, emailRetry)
	e.startRequest(t, cl, loginHint("nobody"))
	e.waitMetric(t, emailDead, dead+1)
	if got := e.metric(t, emailRetry); got != retried {
		t.Errorf("a 550 was retried: %v retries, want %v", got, retried)
	}
	smtpd.none(t)
}

// TestEmailOperatorTemplates: the operator's template files and subject
// replace the embedded ones, and the HTML part escapes what a client
// controls (the binding message).
func TestEmailOperatorTemplates(t *testing.T) {
	smtpd := newSMTPServer(t)
	dir := t.TempDir()
	textFile, htmlFile := filepath.Join(dir, "email.txt"), filepath.Join(dir, "email.html")
	if err := os.WriteFile(textFile, []byte("Custom text for {{.User.Name}}: {{.ApprovalURL}} [{{.BindingMessage}}]"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(htmlFile, []byte(`<p>Custom HTML <a href="{{.ApprovalURL}}">approve</a> {{.BindingMessage}}</p>`), 0o600); err != nil {
		t.Fatal(err)
	}
	e := start(t, options{edit: func(cfg *config.Config) {
		withSMTP(smtpd, nil)(cfg)
		cfg.CIBA.Delivery.Email = config.EmailTemplates{Subject: "Sign-in for {{.User.Name}} at {{.ClientID}}", TextTemplate: textFile, HTMLTemplate: htmlFile}
	}})
	cl := e.client(t, "poll", "", nil)
	id := e.startRequest(t, cl, loginHint("alice", "user_code", aliceUserCode, "binding_message", "<b>42</b>"))
	m := smtpd.next(t)
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	var dec mime.WordDecoder
	if subject, _ := dec.DecodeHeader(msg.Header.Get("Subject")); subject != "Sign-in for Alice at "+cl.ID {
		t.Errorf("subject %q", subject)
	}
	link := e.issuer + "/oauth2/backchannel/" + id
	_, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	parts := multipart.NewReader(msg.Body, params["boundary"])
	for _, want := range []string{
		"Custom text for Alice: " + link + " [<b>42</b>]",
		`<p>Custom HTML <a href="` + link + `">approve</a> &lt;b&gt;42&lt;/b&gt;</p>`,
	} {
		p, err := parts.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p)
		if string(body) != want {
			t.Errorf("part %q, want %q", body, want)
		}
	}
}

// TestEmailLanguage: the approval e-mail speaks ui.default_language
// (German here) in its subject, text and HTML parts, and the HTML part
// keeps the client's name and binding message escaped inside the
// translated sentences.
func TestEmailLanguage(t *testing.T) {
	smtpd := newSMTPServer(t)
	e := start(t, options{edit: func(cfg *config.Config) {
		withSMTP(smtpd, nil)(cfg)
		cfg.UI.DefaultLanguage = "de"
	}})
	cl := e.client(t, "poll", "", map[string]any{"client_name": "Shop <Kasse>"})
	id := e.startRequest(t, cl, loginHint("alice", "user_code", aliceUserCode, "binding_message", "<b>42</b>"))
	m := smtpd.next(t)
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	var dec mime.WordDecoder
	if subject, _ := dec.DecodeHeader(msg.Header.Get("Subject")); subject != "Anmeldung bei Shop <Kasse> zulassen" {
		t.Errorf("subject %q", subject)
	}
	link := e.issuer + "/oauth2/backchannel/" + id
	_, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	parts := multipart.NewReader(msg.Body, params["boundary"])
	for _, want := range [][]string{
		{"Hallo Alice,", "Shop <Kasse> (" + cl.ID + ") bittet Sie, eine Anmeldung zuzulassen.",
			"Prüfen Sie, ob dort dieser Code angezeigt wird: <b>42</b>", "Hier können Sie sie zulassen oder ablehnen:\n" + link},
		{`<html lang="de">`, "<strong>Shop &lt;Kasse&gt;</strong> (" + cl.ID + ") bittet Sie",
			"angezeigt wird: <strong>&lt;b&gt;42&lt;/b&gt;</strong>", `<a href="` + link + `">Anfrage zulassen oder ablehnen</a>`},
	} {
		p, err := parts.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p)
		for _, w := range want {
			if !strings.Contains(string(body), w) {
				t.Errorf("part lacks %q:\n%s", w, body)
			}
		}
	}
}

// TestEmailPluginLanguage: the language notify-default names for the user
// (email_languages by sub, else email_language) is the approval e-mail's;
// one the server has no catalogue for gets ui.default_language, as an
// Accept-Language range would.
func TestEmailPluginLanguage(t *testing.T) {
	for _, tt := range []struct {
		name          string
		config        map[string]any
		subject, lang string
	}{
		{"user's language", map[string]any{"email_language": "en", "email_languages": map[string]any{"user:default/alice": "de-AT"}},
			"Anmeldung bei CIBA test app zulassen", "de"},
		{"plugin's language", map[string]any{"email_language": "de", "email_languages": map[string]any{"user:default/bob": "en"}},
			"Anmeldung bei CIBA test app zulassen", "de"},
		{"unknown language", map[string]any{"email_language": "xx-Nope"}, "Approve the sign-in to CIBA test app", "en"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			smtpd := newSMTPServer(t)
			e := start(t, options{edit: withSMTP(smtpd, tt.config)})
			cl := e.client(t, "poll", "", nil)
			e.startRequest(t, cl, loginHint("alice", "user_code", aliceUserCode))
			msg, err := mail.ReadMessage(bytes.NewReader(smtpd.next(t).Data))
			if err != nil {
				t.Fatal(err)
			}
			var dec mime.WordDecoder
			if subject, _ := dec.DecodeHeader(msg.Header.Get("Subject")); subject != tt.subject {
				t.Errorf("subject %q, want %q", subject, tt.subject)
			}
			_, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
			parts := multipart.NewReader(msg.Body, params["boundary"])
			if _, err := parts.NextPart(); err != nil { // the text part
				t.Fatal(err)
			}
			p, err := parts.NextPart()
			if err != nil {
				t.Fatal(err)
			}
			html, _ := io.ReadAll(p)
			if want := `<html lang="` + tt.lang + `">`; !strings.Contains(string(html), want) {
				t.Errorf("HTML part lacks %q:\n%s", want, html)
			}
		})
	}
}
