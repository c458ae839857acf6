package main

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse"
	"github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse/notify"
)

const event = `{"event":"ciba.authentication_requested",
	"user":{"sub":"user:default/alice","profile":{"email":"alice@example.com","displayName":"Alice"}},
	"client":{"id":"client-1","name":"Example App"},
	"binding_message":"W4SCT",
	"scope":"openid profile",
	"approval_url":"https://auth.example.com/backchannel/consent/abc",
	"expires_at":1767323045}`

const wantLog = `ciba.authentication_requested: user "user:default/alice" <"alice@example.com">, client "client-1" ("Example App"), ` +
	`binding message "W4SCT", scope "openid profile", approve at "https://auth.example.com/backchannel/consent/abc", expires 2026-01-02T03:04:05Z`

// The responses are compared as JSON documents: this is the wire result.
func TestNotify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, config, input string
		want                string // the response document
	}{
		{"log only", `{}`, event,
			`{"result":{"deliveries":[{"type":"log","message":` + quote(wantLog) + `}]}}`},
		{"empty webhook_url is log only", `{"webhook_url":""}`, event,
			`{"result":{"deliveries":[{"type":"log","message":` + quote(wantLog) + `}]}}`},
		{"webhook", `{"webhook_url":"https://hooks.example.com/ciba"}`, event,
			`{"result":{"deliveries":[{"type":"log","message":` + quote(wantLog) + `},
			{"type":"webhook","url":"https://hooks.example.com/ciba","body":` + event + `}]}}`},
		{"binding message cannot break the line", `{}`,
			`{"event":"ciba.authentication_requested","user":{"sub":"user:default/bob","profile":{}},"client":{"id":"c"},"binding_message":"ok\nlevel=ERROR forged"}`,
			`{"result":{"deliveries":[{"type":"log","message":` +
				quote(`ciba.authentication_requested: user "user:default/bob", client "c", binding message "ok\nlevel=ERROR forged"`) + `}]}}`},
		{"RFC 3339 expiry kept in the webhook body", `{"webhook_url":"http://127.0.0.1:9/hook"}`,
			`{"event":"e","user":{"sub":"s","profile":{}},"client":{"id":"c"},"expires_at":"2026-01-02T03:04:05Z"}`,
			`{"result":{"deliveries":[{"type":"log","message":` + quote(`e: user "s", client "c", expires 2026-01-02T03:04:05Z`) + `},
			{"type":"webhook","url":"http://127.0.0.1:9/hook","body":{"event":"e","user":{"sub":"s","profile":{}},"client":{"id":"c"},"expires_at":"2026-01-02T03:04:05Z"}}]}}`},
		{"relative webhook_url", `{"webhook_url":"/hook"}`, event,
			`{"error":{"code":"server_error","message":"plugin config: webhook_url \"/hook\" is not an absolute http(s) URL"}}`},
		{"non-http webhook_url", `{"webhook_url":"file:///etc/passwd"}`, event,
			`{"error":{"code":"server_error","message":"plugin config: webhook_url \"file:///etc/passwd\" is not an absolute http(s) URL"}}`},
		{"misspelt key", `{"webhook":"https://hooks.example.com"}`, event,
			`{"error":{"code":"server_error","message":"plugin config: json: unknown field \"webhook\""}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := `{"abi":1,"hook":"notify","config":` + tt.config + `,"input":` + tt.input + `}`
			resp := gatehouse.Call(notify.Hook, []byte(req))
			var got, want any
			if err := json.Unmarshal(resp, &got); err != nil {
				t.Fatalf("response %s: %v", resp, err)
			}
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatalf("want %s: %v", tt.want, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("response\n %s\nwant\n %s", resp, tt.want)
			}
		})
	}
}

// The handler is a plain function: callable without any envelope.
func TestNotifyHandler(t *testing.T) {
	t.Parallel()
	var in notify.Input
	if err := json.Unmarshal([]byte(event), &in); err != nil {
		t.Fatal(err)
	}
	got, err := deliveries(context.Background(), in, json.RawMessage(`{"webhook_url":"https://hooks.example.com/ciba"}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Deliveries) != 2 || got.Deliveries[0].Message != wantLog || got.Deliveries[1].Type != "webhook" {
		t.Fatalf("deliveries = %+v", got.Deliveries)
	}
	if body, ok := got.Deliveries[1].Body.(gatehouse.NotifyInput); !ok || body.ApprovalURL != in.ApprovalURL {
		t.Fatalf("webhook body = %#v", got.Deliveries[1].Body)
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
