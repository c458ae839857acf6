// Command directory-static is the first-party resolve_user plugin: it
// resolves CIBA hints (CIBA Core 1.0 §7.1 login_hint, id_token_hint) against
// a user list in its config:
//
//	users: [{sub, username, email, displayName, picture, user_code}]
//
// A login_hint matches a user's sub, then email (case-insensitively), then
// username. An id_token_hint arrives as the sub of a token the host has
// already verified. Anything else answers unknown_user_id (CIBA Core 1.0 §13).
// When the request carries a user_code and the user has one configured, a
// code that differs (compared in constant time) answers invalid_user_code
// (CIBA Core 1.0 §7.1, §13).
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o plugins/bin/directory-static.wasm ./plugins/directory-static
package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse"
	"github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse/resolveuser"
)

// Hint kinds of the resolve_user input (ABI v1).
const (
	kindLoginHint      = "login_hint"
	kindIDTokenHint    = "id_token_hint"
	kindLoginHintToken = "login_hint_token"
)

type user struct {
	Sub         string `json:"sub"`
	Username    string `json:"username"`
	Email       string `json:"email"`
	DisplayName string `json:"displayName"`
	Picture     string `json:"picture"`
	// UserCode is the secret the user gives the client to quote as
	// user_code (CIBA Core §7.1), kept as the config gives it.
	UserCode string `json:"user_code"`
}

type config struct {
	Users []user `json:"users"`
}

// A reactor module never runs main: handlers are registered in init.
func init() { resolveuser.Handle(resolveUser) }

func main() {}

func resolveUser(_ context.Context, in resolveuser.Input, raw json.RawMessage) (resolveuser.Result, error) {
	cfg, err := loadConfig(raw)
	if err != nil {
		return resolveuser.Result{}, err
	}
	value := strings.TrimSpace(in.Value)
	var u *user
	switch in.Kind {
	case kindLoginHint:
		if value == "" {
			return resolveuser.Result{}, gatehouse.UnknownUser("login_hint is empty")
		}
		u = find(cfg.Users, func(u *user) bool { return u.Sub == value })
		if u == nil {
			u = find(cfg.Users, func(u *user) bool { return u.Email != "" && strings.EqualFold(u.Email, value) })
		}
		if u == nil {
			u = find(cfg.Users, func(u *user) bool { return u.Username != "" && u.Username == value })
		}
	case kindIDTokenHint:
		if value == "" {
			return resolveuser.Result{}, gatehouse.UnknownUser("id_token_hint carries no subject")
		}
		u = find(cfg.Users, func(u *user) bool { return u.Sub == value })
	case kindLoginHintToken:
		return resolveuser.Result{}, gatehouse.UnknownUser("login_hint_token is not supported by directory-static")
	default:
		return resolveuser.Result{}, gatehouse.Refuse(gatehouse.CodeInvalidRequest, fmt.Sprintf("unknown hint kind %q", in.Kind))
	}
	if u == nil {
		return resolveuser.Result{}, gatehouse.UnknownUser(fmt.Sprintf("no user matches the %s", in.Kind))
	}
	if in.UserCode != "" && u.UserCode != "" &&
		subtle.ConstantTimeCompare([]byte(in.UserCode), []byte(u.UserCode)) != 1 {
		return resolveuser.Result{}, gatehouse.Refuse(gatehouse.CodeInvalidUserCode, "the user_code is not the user's")
	}
	return resolveuser.Result{
		Sub:     u.Sub,
		Profile: gatehouse.Profile{Email: u.Email, DisplayName: u.DisplayName, Picture: u.Picture},
	}, nil
}

func find(users []user, match func(*user) bool) *user {
	for i := range users {
		if match(&users[i]) {
			return &users[i]
		}
	}
	return nil
}

// loadConfig parses the config block only when it changes: the host sends
// the same one with every call.
var loadConfig = gatehouse.CachedConfig(parseConfig)

// parseConfig decodes and checks the user list, reporting every problem at
// once; a config error fails the call closed (server_error).
func parseConfig(raw json.RawMessage) (config, error) {
	var cfg config
	if err := gatehouse.DecodeConfigStrict(raw, &cfg); err != nil {
		return config{}, err
	}
	var errs []error
	subs := map[string]int{}
	for i, u := range cfg.Users {
		if u.Sub == "" {
			errs = append(errs, fmt.Errorf("users[%d]: sub is required", i))
		} else if j, dup := subs[u.Sub]; dup {
			errs = append(errs, fmt.Errorf("users[%d]: sub %q is already users[%d]", i, u.Sub, j))
		} else {
			subs[u.Sub] = i
		}
	}
	if err := errors.Join(errs...); err != nil {
		return config{}, fmt.Errorf("plugin config: %w", err)
	}
	return cfg, nil
}
