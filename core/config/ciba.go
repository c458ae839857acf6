package config

import (
	"fmt"
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
	// WebhookAllow lists the URL patterns (core/urlpattern) that the notify
	// plugin's webhook deliveries may reach; empty refuses every webhook
	// delivery (they are logged and dropped).
	WebhookAllow []string `koanf:"webhook_allow"`
}

func (c *CIBA) validate() []error {
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
	for i, p := range d.WebhookAllow {
		key := fmt.Sprintf("delivery.webhook_allow[%d]", i)
		switch pat, err := urlpattern.Parse(p); {
		case err != nil:
			bad(key, "%q %v (want a URL pattern such as https://hooks.example.com/notify/**)", p, err)
		case !pat.Web():
			bad(key, "%q must be an http or https URL pattern", p)
		}
	}
	return errs
}
