// Command signin-default is the first-party sign_in plugin: Backstage's stock
// sign-in resolvers as one configurable plugin. Config:
//
//	resolver: email_local_part | email | refuse   (required)
//	namespace: default                            (entity namespace for email_local_part)
//	users: [{email, ref, groups}]                 (the directory for the email resolver)
//	allowed_domains: [example.com]                (optional: refuse other email domains)
//
// email_local_part is Backstage's emailLocalPartMatchingUserEntityName
// (user:<namespace>/<local part>); email is emailMatchingUserEntityProfileEmail
// against the users listed here; refuse turns sign-in off for a provider.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o plugins/bin/signin-default.wasm ./plugins/signin-default
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse"
	"github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse/signin"
)

// Resolvers this plugin implements.
const (
	resolverEmailLocalPart = "email_local_part"
	resolverEmail          = "email"
	resolverRefuse         = "refuse"
)

type user struct {
	Email  string   `json:"email"`
	Ref    string   `json:"ref"`
	Groups []string `json:"groups"`
}

type config struct {
	Resolver       string   `json:"resolver"`
	Namespace      string   `json:"namespace"`
	Users          []user   `json:"users"`
	AllowedDomains []string `json:"allowed_domains"`
}

// A reactor module never runs main: handlers are registered in init.
func init() { signin.Handle(signIn) }

func main() {}

func signIn(_ context.Context, in signin.Input, raw json.RawMessage) (signin.Result, error) {
	cfg, err := loadConfig(raw)
	if err != nil {
		return signin.Result{}, err
	}
	if cfg.Resolver == resolverRefuse {
		return signin.Result{}, gatehouse.AccessDenied("sign-in is refused by configuration")
	}
	email := strings.TrimSpace(in.Profile.Email)
	if email == "" {
		return signin.Result{}, gatehouse.AccessDenied("sign-in requires an email address")
	}
	at := strings.LastIndexByte(email, '@')
	if at <= 0 || at == len(email)-1 {
		return signin.Result{}, gatehouse.AccessDenied(fmt.Sprintf("email %q is not a valid address", email))
	}
	local, domain := email[:at], strings.ToLower(email[at+1:])
	if len(cfg.AllowedDomains) > 0 && !containsFold(cfg.AllowedDomains, domain) {
		return signin.Result{}, gatehouse.AccessDenied("email domain " + domain + " is not allowed")
	}

	switch cfg.Resolver {
	case resolverEmailLocalPart:
		name := strings.ToLower(local)
		if !validEntityName(name) {
			return signin.Result{}, gatehouse.AccessDenied(fmt.Sprintf("email local part %q is not a valid user entity name", local))
		}
		ref := "user:" + cfg.Namespace + "/" + name
		return signin.Result{Sub: ref, Ent: []string{ref}}, nil
	default: // resolverEmail; parseConfig admits nothing else.
		for _, u := range cfg.Users {
			if strings.EqualFold(u.Email, email) {
				ent := append([]string{u.Ref}, u.Groups...)
				return signin.Result{Sub: u.Ref, Ent: ent}, nil
			}
		}
		return signin.Result{}, gatehouse.AccessDenied("user not found")
	}
}

// loadConfig parses the config block only when it changes: the host sends
// the same one with every call.
var loadConfig = gatehouse.CachedConfig(parseConfig)

// parseConfig decodes and checks the config block, reporting every problem
// at once. A config error is a server_error: the call fails closed.
func parseConfig(raw json.RawMessage) (config, error) {
	cfg := config{Namespace: "default"}
	if err := gatehouse.DecodeConfigStrict(raw, &cfg); err != nil {
		return config{}, err
	}
	var errs []error
	switch cfg.Resolver {
	case resolverEmailLocalPart, resolverEmail, resolverRefuse:
	case "":
		errs = append(errs, errors.New("resolver is required (email_local_part, email or refuse)"))
	default:
		errs = append(errs, fmt.Errorf("resolver %q is not one of email_local_part, email, refuse", cfg.Resolver))
	}
	if !validEntityName(cfg.Namespace) {
		errs = append(errs, fmt.Errorf("namespace %q is not a valid entity namespace", cfg.Namespace))
	}
	for i, u := range cfg.Users {
		if u.Email == "" {
			errs = append(errs, fmt.Errorf("users[%d]: email is required", i))
		}
		if !validRef(u.Ref) {
			errs = append(errs, fmt.Errorf("users[%d]: ref %q is not an entity ref such as user:default/alice", i, u.Ref))
		}
		for j, g := range u.Groups {
			if !validRef(g) {
				errs = append(errs, fmt.Errorf("users[%d].groups[%d]: %q is not an entity ref such as group:default/staff", i, j, g))
			}
		}
	}
	if cfg.Resolver == resolverEmail && len(cfg.Users) == 0 {
		errs = append(errs, errors.New("the email resolver needs users"))
	}
	if err := errors.Join(errs...); err != nil {
		return config{}, fmt.Errorf("plugin config: %w", err)
	}
	return cfg, nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// validRef reports whether ref is a full entity ref kind:namespace/name.
func validRef(ref string) bool {
	kind, rest, ok := strings.Cut(ref, ":")
	if !ok || !validEntityName(kind) {
		return false
	}
	ns, name, ok := strings.Cut(rest, "/")
	return ok && validEntityName(ns) && validEntityName(name)
}

// validEntityName follows Backstage's rule for entity names and namespaces:
// 1–63 characters, [a-zA-Z0-9] runs separated by one of - _ .
func validEntityName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	prevSep := true // a name may not start with a separator
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			prevSep = false
		case c == '-' || c == '_' || c == '.':
			if prevSep {
				return false
			}
			prevSep = true
		default:
			return false
		}
	}
	return !prevSep
}
