package ciba

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/plugin"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/urlpattern"
	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// notify tells the user, through the notify plugin, that a client asks for
// their consent (CIBA Core §7.1 leaves the channel to the OP). Log
// deliveries are logged now; webhook deliveries join the durable queue,
// only to URLs under ciba.delivery.webhook_allow, and so do email
// deliveries, rendered here from the email templates (email.go). With no plugin bound the
// request still stands (the approval page and API work) and a warning is
// logged; a plugin that fails withdraws the request.
func (s *Service) notify(ctx context.Context, cl *store.Client, rec *store.BackchannelRequest, authReqID string) error {
	if s.hooks == nil {
		return nil
	}
	in := hook.NotifyInput{
		Event:          hook.EventAuthenticationRequested,
		User:           hook.User{Sub: rec.Subject, Profile: hook.Profile(rec.Profile)},
		Client:         hook.Client{ID: cl.ID, Name: cl.ClientName},
		BindingMessage: rec.BindingMessage,
		Scope:          rec.Scope,
		ApprovalURL:    s.approvalURL(authReqID),
		ExpiresAt:      hook.RFC3339(rec.ExpiresAt.UTC().Truncate(time.Second)),
	}
	out, err := s.hooks.Notify(ctx, in)
	if errors.Is(err, plugin.ErrNotBound) {
		slog.WarnContext(ctx, "ciba: no notify plugin is bound: the user is not told about the request",
			"client_id", cl.ID, "sub", rec.Subject)
		return nil
	}
	if err != nil {
		return oauth.ErrTemporarilyUnavailable().WithDescription("the user could not be notified; try again later").
			WithParent(fmt.Errorf("ciba: notify: %w", err))
	}
	for i, d := range out.Deliveries {
		switch d.Type {
		case hook.DeliveryLog:
			notificationsTotal.WithLabelValues("log", "logged").Inc()
			slog.InfoContext(ctx, "ciba notification", "client_id", cl.ID, "sub", rec.Subject, "message", d.Message)
		case hook.DeliveryWebhook:
			if !s.webhookAllowed(d.URL) {
				notificationsTotal.WithLabelValues("webhook", "refused").Inc()
				slog.WarnContext(ctx, "ciba: notify webhook refused: its URL is not under ciba.delivery.webhook_allow",
					"client_id", cl.ID, "url", d.URL, "delivery", i)
				continue
			}
			body, _ := d.Body.(json.RawMessage) // as the plugin wrote it (hook.Delivery)
			if len(body) == 0 || string(body) == "null" {
				body, _ = json.Marshal(in) // a struct of strings always encodes
			}
			if err := s.queue.Enqueue(ctx, store.Delivery{Kind: store.DeliveryWebhook, URL: d.URL, Body: body}); err != nil {
				return oauth.ErrServerError().WithParent(err)
			}
			notificationsTotal.WithLabelValues("webhook", "queued").Inc()
		case hook.DeliveryEmail:
			if err := s.queueEmail(ctx, &in, d.To, d.Subject, d.Language, i); err != nil {
				return err
			}
		default:
			notificationsTotal.WithLabelValues("unknown", "refused").Inc()
			slog.WarnContext(ctx, "ciba: notify asked for an unknown delivery type", "type", d.Type, "delivery", i)
		}
	}
	return nil
}

// webhookAllowed: the URL matches one of the configured URL patterns
// (core/urlpattern, the server's one matcher: a string prefix would let
// https://hooks.example.com admit https://hooks.example.com.evil.test).
// A pattern the configuration check would refuse matches nothing.
func (s *Service) webhookAllowed(u string) bool {
	allow, _ := urlpattern.ParseList(s.cfg.CIBA.Delivery.WebhookAllow)
	return allow.Match(u)
}
