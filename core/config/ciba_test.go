package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/config"
)

func TestCIBADefaults(t *testing.T) {
	cfg, err := config.Load(gatehouse.DefaultConfig, "")
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.CIBA
	if c.DefaultExpiry != 600*time.Second || c.MaxExpiry != 86400*time.Second || c.Interval != 5*time.Second || c.MaxBindingMessage != 128 {
		t.Errorf("ciba defaults %+v", c)
	}
	d := c.Delivery
	if d.Timeout <= 0 || d.MaxAttempts < 1 || d.InitialBackoff <= 0 || d.MaxBackoff < d.InitialBackoff || d.Workers < 1 || len(d.WebhookAllow) != 0 ||
		d.Lease != 30*time.Second || d.PollInterval != 2*time.Second {
		t.Errorf("delivery defaults %+v", d)
	}
}

func TestCIBAValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*config.CIBA)
		want string // "" means valid
	}{
		{"defaults", func(*config.CIBA) {}, ""},
		{"zero default expiry", func(c *config.CIBA) { c.DefaultExpiry = 0 }, "ciba.default_expiry"},
		{"max below default", func(c *config.CIBA) { c.MaxExpiry = c.DefaultExpiry - time.Second }, "ciba.max_expiry"},
		{"fractional interval", func(c *config.CIBA) { c.Interval = 1500 * time.Millisecond }, "ciba.interval"},
		{"zero interval", func(c *config.CIBA) { c.Interval = 0 }, "ciba.interval"},
		{"binding message zero", func(c *config.CIBA) { c.MaxBindingMessage = 0 }, "ciba.max_binding_message"},
		{"binding message huge", func(c *config.CIBA) { c.MaxBindingMessage = 4096 }, "ciba.max_binding_message"},
		{"timeout", func(c *config.CIBA) { c.Delivery.Timeout = 0 }, "ciba.delivery.timeout"},
		{"attempts", func(c *config.CIBA) { c.Delivery.MaxAttempts = 0 }, "ciba.delivery.max_attempts"},
		{"backoff", func(c *config.CIBA) { c.Delivery.MaxBackoff = c.Delivery.InitialBackoff / 2 }, "ciba.delivery.initial_backoff"},
		{"workers", func(c *config.CIBA) { c.Delivery.Workers = 0 }, "ciba.delivery.workers"},
		{"lease within the timeout", func(c *config.CIBA) { c.Delivery.Lease = c.Delivery.Timeout }, "ciba.delivery.lease"},
		{"poll interval", func(c *config.CIBA) { c.Delivery.PollInterval = 0 }, "ciba.delivery.poll_interval"},
		{"webhook allow", func(c *config.CIBA) { c.Delivery.WebhookAllow = []string{"ftp://x"} }, "ciba.delivery.webhook_allow[0]"},
		{"webhook allow glob", func(c *config.CIBA) { c.Delivery.WebhookAllow = []string{"https://hooks.example.com/notify*"} },
			`ciba.delivery.webhook_allow[0]: "https://hooks.example.com/notify*" path segment "notify*": a wildcard must be a whole segment`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Load(gatehouse.DefaultConfig, "")
			if err != nil {
				t.Fatal(err)
			}
			tc.edit(&cfg.CIBA)
			err = cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("valid config refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

func TestSMTPValidate(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	smtp := func(edit func(*config.SMTP), allowPrivate bool) func(*config.Config) {
		return func(c *config.Config) {
			c.Outbound.AllowPrivate = allowPrivate
			c.CIBA.Delivery.SMTP = config.SMTP{Host: "smtp.example.com", From: "Gatehouse <auth@example.com>", TLS: config.SMTPStartTLS}
			edit(&c.CIBA.Delivery.SMTP)
		}
	}
	cases := []struct {
		name string
		edit func(*config.Config)
		want string // "" means valid
	}{
		{"no host: off", func(*config.Config) {}, ""},
		{"starttls", smtp(func(*config.SMTP) {}, false), ""},
		{"implicit with auth", smtp(func(s *config.SMTP) { s.TLS, s.Username, s.Password = config.SMTPImplicit, "u", "p" }, false), ""},
		{"none to loopback", smtp(func(s *config.SMTP) { s.Host, s.TLS = "127.0.0.1", config.SMTPNone }, false), ""},
		{"none to localhost", smtp(func(s *config.SMTP) { s.Host, s.TLS = "localhost", config.SMTPNone }, false), ""},
		{"none with allow_private", smtp(func(s *config.SMTP) { s.TLS = config.SMTPNone }, true), ""},
		{"none to a remote host", smtp(func(s *config.SMTP) { s.TLS = config.SMTPNone }, false), "ciba.delivery.smtp.tls: none"},
		{"auth in plain text", smtp(func(s *config.SMTP) { s.TLS, s.Username, s.Password = config.SMTPNone, "u", "p" }, true), "ciba.delivery.smtp.username"},
		{"unknown tls", smtp(func(s *config.SMTP) { s.TLS = "ssl" }, false), "ciba.delivery.smtp.tls"},
		{"empty tls", smtp(func(s *config.SMTP) { s.TLS = "" }, false), "ciba.delivery.smtp.tls"},
		{"bad from", smtp(func(s *config.SMTP) { s.From = "not an address" }, false), "ciba.delivery.smtp.from"},
		{"from with CR LF", smtp(func(s *config.SMTP) { s.From = "a@example.com\r\nBcc: b@example.com" }, false), "ciba.delivery.smtp.from"},
		{"port", smtp(func(s *config.SMTP) { s.Port = 70000 }, false), "ciba.delivery.smtp.port"},
		{"host", smtp(func(s *config.SMTP) { s.Host = "smtp.example.com:25" }, false), "ciba.delivery.smtp.host"},
		{"password alone", smtp(func(s *config.SMTP) { s.Password = "p" }, false), "ciba.delivery.smtp.password"},
		{"ca file missing", smtp(func(s *config.SMTP) { s.CAFile = ca + ".missing" }, false), "ciba.delivery.smtp.ca_file"},
		{"ca file not PEM", smtp(func(s *config.SMTP) { s.CAFile = ca }, false), "ciba.delivery.smtp.ca_file"},
		{"subject on two lines", func(c *config.Config) { c.CIBA.Delivery.Email.Subject = "a\nb" }, "ciba.delivery.email.subject"},
		{"missing template", func(c *config.Config) { c.CIBA.Delivery.Email.HTMLTemplate = ca + ".missing" }, "ciba.delivery.email.html_template"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Load(gatehouse.DefaultConfig, "")
			if err != nil {
				t.Fatal(err)
			}
			tc.edit(cfg)
			err = cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("valid config refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// TestSMTPPasswordFromEnvironment: the password is read from
// GATEHOUSE_CIBA__DELIVERY__SMTP__PASSWORD like every other key.
func TestSMTPPasswordFromEnvironment(t *testing.T) {
	t.Setenv("GATEHOUSE_CIBA__DELIVERY__SMTP__PASSWORD", "from-the-environment")
	cfg, err := config.Load(gatehouse.DefaultConfig, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.CIBA.Delivery.SMTP.Password; got != "from-the-environment" {
		t.Errorf("password %q", got)
	}
	if d := cfg.CIBA.Delivery.SMTP; d.Enabled() || d.TLS != config.SMTPStartTLS {
		t.Errorf("smtp defaults %+v", d)
	}
}
