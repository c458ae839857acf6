// Command notify-default is the first-party notify plugin. For every event
// it returns a log delivery naming the user, the client, the binding message
// and the approval URL, so an operator (or a developer running locally) can
// approve a CIBA request (CIBA Core 1.0 §7.1: the authentication device is
// told out of band). With config {"webhook_url": "https://..."} it also
// returns a webhook delivery whose body is the event; the core sends it
// (with retries) and its URL must be in the core's delivery allow-list.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o plugins/bin/notify-default.wasm ./plugins/notify-default
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse"
	"github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse/notify"
)

type config struct {
	WebhookURL string `json:"webhook_url"`
}

// A reactor module never runs main: handlers are registered in init.
func init() { notify.Handle(deliveries) }

func main() {}

func deliveries(_ context.Context, in notify.Input, raw json.RawMessage) (notify.Result, error) {
	cfg, err := loadConfig(raw)
	if err != nil {
		return notify.Result{}, err
	}
	out := notify.Result{Deliveries: []gatehouse.Delivery{{Type: "log", Message: message(in)}}}
	if cfg.WebhookURL != "" {
		out.Deliveries = append(out.Deliveries, gatehouse.Delivery{Type: "webhook", URL: cfg.WebhookURL, Body: in})
	}
	return out, nil
}

// loadConfig parses the config block only when it changes: the host sends
// the same one with every call.
var loadConfig = gatehouse.CachedConfig(func(raw json.RawMessage) (config, error) {
	var cfg config
	if err := gatehouse.DecodeConfigStrict(raw, &cfg); err != nil {
		return config{}, err
	}
	if cfg.WebhookURL != "" {
		if err := checkWebhookURL(cfg.WebhookURL); err != nil {
			return config{}, err
		}
	}
	return cfg, nil
})

// message is one log line. Every value that a client or user controls is
// quoted, so a binding message cannot forge extra log lines.
func message(in notify.Input) string {
	var b strings.Builder
	event := in.Event
	if event == "" {
		event = "notification"
	}
	b.WriteString(event)
	b.WriteString(": user ")
	b.WriteString(strconv.Quote(in.User.Sub))
	if in.User.Profile.Email != "" {
		b.WriteString(" <" + strconv.Quote(in.User.Profile.Email) + ">")
	}
	b.WriteString(", client ")
	b.WriteString(strconv.Quote(in.Client.ID))
	if in.Client.Name != "" {
		b.WriteString(" (" + strconv.Quote(in.Client.Name) + ")")
	}
	if in.BindingMessage != "" {
		b.WriteString(", binding message ")
		b.WriteString(strconv.Quote(in.BindingMessage))
	}
	if in.Scope != "" {
		b.WriteString(", scope ")
		b.WriteString(strconv.Quote(in.Scope))
	}
	if in.ApprovalURL != "" {
		b.WriteString(", approve at ")
		b.WriteString(strconv.Quote(in.ApprovalURL))
	}
	if !in.ExpiresAt.IsZero() {
		b.WriteString(", expires ")
		b.WriteString(in.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// checkWebhookURL refuses a webhook_url that is not an absolute http(s) URL:
// a config mistake fails the call closed (server_error) instead of
// producing deliveries the core cannot send.
func checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("plugin config: webhook_url: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("plugin config: webhook_url %q is not an absolute http(s) URL", raw)
	}
	return nil
}
