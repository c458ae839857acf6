// Command resolver-go is a Backstage-style sign_in resolver: the user
// entity comes from the upstream's preferred_username (else the email's
// local part), and the ownership refs add one group entity per group the
// upstream lists in a claim (Keycloak, Okta, Entra ID and Gatehouse can
// all send one). The Rust version in ../rust implements the same policy.
//
// Config (plugins.settings.<name>.config):
//
//	namespace: default          # user:<namespace>/<name>
//	groups_claim: groups        # the claim holding the group names
//	group_namespace: default    # group:<group_namespace>/<name>
//	required_group: ""          # when set, only its members may sign in
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o resolver-go.wasm .
package main

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse"
	"github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse/signin"
)

type config struct {
	Namespace      string `json:"namespace"`
	GroupsClaim    string `json:"groups_claim"`
	GroupNamespace string `json:"group_namespace"`
	RequiredGroup  string `json:"required_group"`
}

// A reactor module never runs main: handlers are registered in init.
func init() { signin.Handle(signIn) }

var loadConfig = gatehouse.CachedConfig(func(raw json.RawMessage) (config, error) {
	cfg := config{Namespace: "default", GroupsClaim: "groups", GroupNamespace: "default"}
	err := gatehouse.DecodeConfig(raw, &cfg)
	return cfg, err
})

func signIn(_ context.Context, in signin.Input, raw json.RawMessage) (signin.Result, error) {
	cfg, err := loadConfig(raw)
	if err != nil {
		return signin.Result{}, err
	}
	var claims map[string]any
	if len(in.Claims) > 0 {
		if err := json.Unmarshal(in.Claims, &claims); err != nil {
			return signin.Result{}, gatehouse.AccessDenied("the provider's claims are not a JSON object")
		}
	}
	name, _ := claims["preferred_username"].(string)
	if name == "" {
		email := in.Profile.Email
		if email == "" {
			email, _ = claims["email"].(string)
		}
		if at := strings.LastIndexByte(email, '@'); at >= 0 {
			name = email[:at]
		}
	}
	name = lowerASCII(name)
	if !validName(name) {
		return signin.Result{}, gatehouse.AccessDenied("cannot derive a user name from the provider's answer")
	}
	user := "user:" + cfg.Namespace + "/" + name
	ent := []string{user}
	member := cfg.RequiredGroup == ""
	list, _ := claims[cfg.GroupsClaim].([]any)
	for _, g := range list {
		s, _ := g.(string)
		s = lowerASCII(s)
		if !validName(s) {
			continue // a group name Backstage cannot hold is not a membership
		}
		ref := "group:" + cfg.GroupNamespace + "/" + s
		if !contains(ent, ref) {
			ent = append(ent, ref)
		}
		if s == lowerASCII(cfg.RequiredGroup) {
			member = true
		}
	}
	if !member {
		return signin.Result{}, gatehouse.AccessDenied("not a member of group " + cfg.RequiredGroup)
	}
	return signin.Result{Sub: user, Ent: ent}, nil
}

// validName is a Backstage entity name: 1 to 63 characters of [a-z0-9._-],
// starting and ending with a letter or digit (after ASCII lowercasing).
func validName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := ('a' <= c && c <= 'z') || ('0' <= c && c <= '9')
		if !alnum && ((c != '.' && c != '_' && c != '-') || i == 0 || i == len(s)-1) {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// lowerASCII lowercases A-Z only, as the Rust version does.
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
