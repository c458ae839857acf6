package config

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/mail"
	"os"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/urlpattern"
)

// CIBA configures Client-Initiated Backchannel Authentication (OpenID
// Connect CIBA Core 1.0) and its authorization device pages.
type CIBA struct {
	// DefaultExpiry is the lifetime of a request that names no
	// requested_expiry (CIBA Core §7.1); MaxExpiry bounds requested_expiry.
	DefaultExpiry time.Duration `koanf:"default_expiry"`
	MaxExpiry     time.Duration `koanf:"max_expiry"`
	// Interval is the minimum time between two polls of the token
	// endpoint (CIBA Core §7.3 interval); slow_down adds 5 s to it.
	Interval time.Duration `koanf:"interval"`
	// MaxBindingMessage is the longest binding_message accepted, in
	// characters (CIBA Core §7.1 says it should be short).
	MaxBindingMessage int `koanf:"max_binding_message"`
	// Delivery drives the durable queue of ping and push callbacks and of
	// the notify plugin's webhooks.
	Delivery CIBADelivery `koanf:"delivery"`
	// DoorkeeperRoutes also mounts the device API where doorkeeper-ciba
	// has it, without the /v1 prefix: /backchannel/authorize, authinfo,
	// complete and clientconfig.
	DoorkeeperRoutes bool `koanf:"doorkeeper_routes"`
}

// CIBADelivery configures the delivery queue.
type CIBADelivery struct {
	// Timeout bounds one HTTP attempt.
	Timeout time.Duration `koanf:"timeout"`
	// MaxAttempts is how many times one delivery is tried before it is
	// given up (and kept, marked dead, for an operator to see).
	MaxAttempts int `koanf:"max_attempts"`
	// InitialBackoff is the wait after the first failure; it doubles up to
	// MaxBackoff.
	InitialBackoff time.Duration `koanf:"initial_backoff"`
	MaxBackoff     time.Duration `koanf:"max_backoff"`
	// Workers is how many deliveries are attempted at once, so that one
	// slow endpoint never holds up the others.
	Workers int `koanf:"workers"`
	// Lease is how long a replica holds a delivery it attempts: no other
	// replica sharing the store attempts it meanwhile, and the attempt is
	// cut short when its lease ends. The lease of a replica that died
	// runs out after this long, and another replica delivers the item.
	// It must exceed Timeout.
	Lease time.Duration `koanf:"lease"`
	// PollInterval is the longest a replica goes without reading the
	// queue from the store, and so how soon it finds deliveries that
	// another replica queued (its own wake it at once).
	PollInterval time.Duration `koanf:"poll_interval"`
	// WebhookAllow lists the URL patterns (core/urlpattern) that the notify
	// plugin's webhook deliveries may reach; empty refuses every webhook
	// delivery (they are logged and dropped).
	WebhookAllow []string `koanf:"webhook_allow"`
	// SMTP is the mail server of the notify plugin's email deliveries; no
	// host refuses every email delivery (logged and dropped).
	SMTP SMTP `koanf:"smtp"`
	// Email are the operator's replacements of the embedded message
	// templates of email deliveries.
	Email EmailTemplates `koanf:"email"`
}

// SMTP TLS modes.
const (
	SMTPStartTLS = "starttls" // STARTTLS required (RFC 3207), port 587
	SMTPImplicit = "implicit" // TLS from the first byte (RFC 8314), port 465
	SMTPNone     = "none"     // plain text: loopback or outbound.allow_private only
)

// SMTP configures the mail submission server (net/smtp).
type SMTP struct {
	Host string `koanf:"host"`
	// Port 0 takes the mode's port: 587 (starttls), 465 (implicit), 25 (none).
	Port int `koanf:"port"`
	// From is the sender address, in the envelope and the From header.
	From string `koanf:"from"`
	// Username and Password, when set, authenticate with AUTH PLAIN, only
	// over TLS (or to a loopback host).
	Username string `koanf:"username"`
	Password string `koanf:"password"`
	// TLS is starttls (default), implicit or none.
	TLS string `koanf:"tls"`
	// CAFile, when set, is the PEM bundle of the CAs trusted for the
	// server's certificate instead of the system's.
	CAFile string `koanf:"ca_file"`
	// HeloName is the name given in EHLO; empty: the public URL's host.
	HeloName string `koanf:"helo_name"`
}

// Enabled reports whether a mail server is configured.
func (s SMTP) Enabled() bool { return s.Host != "" }

// Address is host:port, the mode's port when none is set.
func (s SMTP) Address() string {
	port := s.Port
	if port == 0 {
		switch s.TLS {
		case SMTPImplicit:
			port = 465
		case SMTPNone:
			port = 25
		default:
			port = 587
		}
	}
	return net.JoinHostPort(s.Host, fmt.Sprint(port))
}

// LoopbackHost reports whether host names this machine: localhost or a
// loopback IP address.
func LoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// EmailTemplates are files replacing the embedded templates of the
// approval e-mail (Go text/template and html/template).
type EmailTemplates struct {
	// Subject is the subject when the plugin names none (a text/template).
	Subject      string `koanf:"subject"`
	TextTemplate string `koanf:"text_template"`
	HTMLTemplate string `koanf:"html_template"`
}

func (c *CIBA) validate(allowPrivate bool) []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("ciba.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.DefaultExpiry < time.Second {
		bad("default_expiry", "must be at least 1s, got %s", c.DefaultExpiry)
	}
	if c.MaxExpiry < c.DefaultExpiry {
		bad("max_expiry", "must be at least default_expiry (%s), got %s", c.DefaultExpiry, c.MaxExpiry)
	}
	if c.Interval < time.Second || c.Interval%time.Second != 0 {
		bad("interval", "must be a whole number of seconds, at least 1s (CIBA Core §7.3), got %s", c.Interval)
	}
	if c.MaxBindingMessage < 1 || c.MaxBindingMessage > 1024 {
		bad("max_binding_message", "must be between 1 and 1024 characters, got %d", c.MaxBindingMessage)
	}
	d := c.Delivery
	if d.Timeout <= 0 {
		bad("delivery.timeout", "must be a positive duration, got %s", d.Timeout)
	}
	if d.MaxAttempts < 1 {
		bad("delivery.max_attempts", "must be at least 1, got %d", d.MaxAttempts)
	}
	if d.InitialBackoff <= 0 || d.MaxBackoff < d.InitialBackoff {
		bad("delivery.initial_backoff", "must be positive and at most max_backoff, got %s and %s", d.InitialBackoff, d.MaxBackoff)
	}
	if d.Workers < 1 || d.Workers > 256 {
		bad("delivery.workers", "must be between 1 and 256, got %d", d.Workers)
	}
	if d.Lease <= d.Timeout {
		bad("delivery.lease", "must be longer than delivery.timeout (%s), got %s", d.Timeout, d.Lease)
	}
	if d.PollInterval < 10*time.Millisecond || d.PollInterval > 5*time.Minute {
		bad("delivery.poll_interval", "must be between 10ms and 5m, got %s", d.PollInterval)
	}
	for i, p := range d.WebhookAllow {
		key := fmt.Sprintf("delivery.webhook_allow[%d]", i)
		switch pat, err := urlpattern.Parse(p); {
		case err != nil:
			bad(key, "%q %v (want a URL pattern such as https://hooks.example.com/notify/**)", p, err)
		case !pat.Web():
			bad(key, "%q must be an http or https URL pattern", p)
		}
	}
	errs = append(errs, d.SMTP.validate(allowPrivate)...)
	for key, path := range map[string]string{"text_template": d.Email.TextTemplate, "html_template": d.Email.HTMLTemplate} {
		if path == "" {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			bad("delivery.email."+key, "%v", err)
		}
	}
	if strings.ContainsAny(d.Email.Subject, "\r\n") {
		bad("delivery.email.subject", "must be one line")
	}
	return errs
}

// validate checks the mail server settings when a host is set.
func (s SMTP) validate(allowPrivate bool) []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("ciba.delivery.smtp.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if !s.Enabled() {
		return nil
	}
	if strings.ContainsAny(s.Host, " /:[]\r\n") && net.ParseIP(s.Host) == nil {
		bad("host", "must be a host name or IP address, got %q", s.Host)
	}
	if s.Port < 0 || s.Port > 65535 {
		bad("port", "must be between 1 and 65535 (0 takes the TLS mode's port), got %d", s.Port)
	}
	if a, err := mail.ParseAddress(s.From); err != nil || strings.ContainsAny(s.From, "\r\n") {
		bad("from", "must be an e-mail address, got %q", s.From)
	} else if a.Address == "" {
		bad("from", "must be an e-mail address, got %q", s.From)
	}
	switch s.TLS {
	case SMTPStartTLS, SMTPImplicit:
	case SMTPNone:
		if !LoopbackHost(s.Host) && !allowPrivate {
			bad("tls", "none sends mail and credentials in plain text: only to a loopback host, or with outbound.allow_private (development), got host %q", s.Host)
		}
	default:
		bad("tls", "must be starttls, implicit or none, got %q", s.TLS)
	}
	if s.Username != "" && s.TLS == SMTPNone && !LoopbackHost(s.Host) {
		bad("username", "AUTH PLAIN needs TLS (or a loopback host): set tls to starttls or implicit")
	}
	if s.Password != "" && s.Username == "" {
		bad("password", "is set without a username")
	}
	if strings.ContainsAny(s.Username+s.Password, "\x00\r\n") {
		bad("username", "username and password must not contain NUL, CR or LF")
	}
	if s.CAFile != "" {
		if pem, err := os.ReadFile(s.CAFile); err != nil {
			bad("ca_file", "%v", err)
		} else if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			bad("ca_file", "%s holds no PEM certificate", s.CAFile)
		}
	}
	if strings.ContainsAny(s.HeloName, " \r\n") {
		bad("helo_name", "must be a host name, got %q", s.HeloName)
	}
	return errs
}
