package ciba

import (
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/config"
)

// TestWebhookAllowed: ciba.delivery.webhook_allow is matched by the
// server's URL matcher. As string prefixes, these entries let the notify
// plugin post to other hosts and to paths outside the allowed one.
func TestWebhookAllowed(t *testing.T) {
	t.Parallel()
	s := &Service{cfg: &config.Config{CIBA: config.CIBA{Delivery: config.CIBADelivery{
		WebhookAllow: []string{"https://hooks.example.com", "https://chat.example.com/notify/**"},
	}}}}
	for u, want := range map[string]bool{
		"https://hooks.example.com":                  true,
		"https://hooks.example.com/":                 true,
		"https://chat.example.com/notify":            true,
		"https://chat.example.com/notify/team/a?x=1": true,
		"https://hooks.example.com.evil.test/":       false,
		"https://hooks.example.com@evil.test/":       false,
		"https://hooks.example.com:8443/":            false,
		"https://hooks.example.com/other":            false,
		"https://chat.example.com/notify/../admin":   false,
		"https://chat.example.com/notify%2f..%2fx":   false,
		"https://chat.example.com/notifyx":           false,
		"http://chat.example.com/notify/team":        false,
		"https://chat.example.com/notify/a\\b":       false,
		"https://chat.example.com/notify/team#.evil": true, // the fragment is never sent
	} {
		if got := s.webhookAllowed(u); got != want {
			t.Errorf("webhookAllowed(%q) = %v, want %v", u, got, want)
		}
	}
}
