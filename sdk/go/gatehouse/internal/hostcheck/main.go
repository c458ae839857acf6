// Command hostcheck is a test plugin: its token_claims handler uses every
// host function the SDK wraps (log, http_request, kv_get, kv_put) and
// reports what each returned, so plugins/plugins_test.go can check the SDK's
// imports against the real host. It is built by that test, never shipped.
package main

import (
	"context"
	"encoding/json"

	"github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse"
	"github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse/tokenclaims"
)

type config struct {
	URL       string `json:"url"`
	DeniedURL string `json:"denied_url"`
}

func init() { tokenclaims.Handle(check) }

func main() {}

func check(_ context.Context, in tokenclaims.Input, raw json.RawMessage) (tokenclaims.Result, error) {
	var cfg config
	if err := gatehouse.DecodeConfigStrict(raw, &cfg); err != nil {
		return tokenclaims.Result{}, err
	}
	gatehouse.Logf(gatehouse.LevelWarn, "hostcheck for %s", in.Sub)
	claims := map[string]any{}

	resp, err := gatehouse.HTTP(gatehouse.HTTPRequest{Method: "POST", URL: cfg.URL, Headers: map[string]string{"X-Hostcheck": in.Sub}, Body: "ping"})
	if err != nil {
		return tokenclaims.Result{}, err
	}
	claims["status"], claims["body"], claims["header"] = resp.Status, resp.Body, resp.Headers["X-Echo"]
	if _, err := gatehouse.HTTP(gatehouse.HTTPRequest{Method: "GET", URL: cfg.DeniedURL}); err != nil {
		claims["denied"] = err.Error()
	}

	prev, ok := gatehouse.KVGet("visits")
	if err := gatehouse.KVPut("visits", append(prev, '+')); err != nil {
		return tokenclaims.Result{}, err
	}
	claims["visits_before"], claims["had_visits"] = string(prev), ok
	return tokenclaims.Result{Claims: claims}, nil
}
