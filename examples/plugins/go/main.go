// Command signin-example-go is the example sign_in plugin written with the Go
// SDK. It implements the shared example policy every SDK language implements
// identically: an email domain allow-list, then user:default/<local part>
// plus a group entity from config.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o signin-example-go.wasm .
package main

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse"
	"github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse/signin"
)

type config struct {
	AllowedDomains []string `json:"allowed_domains"`
	Group          string   `json:"group"`
}

// A reactor module never runs main: handlers are registered in init.
func init() { signin.Handle(signIn) }

// loadConfig decodes the config block only when it changes: the host sends
// the same one with every call.
var loadConfig = gatehouse.CachedConfig(func(raw json.RawMessage) (config, error) {
	var cfg config
	err := gatehouse.DecodeConfig(raw, &cfg)
	return cfg, err
})

func signIn(_ context.Context, in signin.Input, raw json.RawMessage) (signin.Result, error) {
	cfg, err := loadConfig(raw)
	if err != nil {
		return signin.Result{}, err
	}
	email := in.Profile.Email
	if email == "" {
		return signin.Result{}, gatehouse.AccessDenied("sign-in requires an email address")
	}
	local, domain := email, ""
	if at := strings.LastIndexByte(email, '@'); at >= 0 {
		local, domain = email[:at], email[at+1:]
	}
	domain = lowerASCII(domain)
	allowed := false
	for _, d := range cfg.AllowedDomains {
		if lowerASCII(d) == domain {
			allowed = true
			break
		}
	}
	if !allowed {
		return signin.Result{}, gatehouse.AccessDenied("email domain " + domain + " is not allowed")
	}
	ref := "user:default/" + lowerASCII(local)
	ent := []string{ref}
	if cfg.Group != "" {
		ent = append(ent, cfg.Group)
	}
	return signin.Result{Sub: ref, Ent: ent}, nil
}

// lowerASCII lowercases A-Z only, as every example does: the policy must give
// byte-identical answers in all five languages.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func main() {}
