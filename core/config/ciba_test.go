package config_test

import (
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
	if d.Timeout <= 0 || d.MaxAttempts < 1 || d.InitialBackoff <= 0 || d.MaxBackoff < d.InitialBackoff || d.Workers < 1 || len(d.WebhookAllow) != 0 {
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
