package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/plugin"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// Hooks is what the directory needs of the plugin host (*plugin.Host).
type Hooks interface {
	For(hook, provider string) (pluginName string, ok bool)
	CallHook(ctx context.Context, hook, provider string, input, out any) error
}

var _ Hooks = (*plugin.Host)(nil)

// Directory is the user directory: the resolve_user hook, asked for the
// profile of a user the server has already authenticated.
type Directory struct {
	hooks Hooks
}

// NewDirectory returns the directory of hooks (nil: no directory).
func NewDirectory(hooks Hooks) *Directory { return &Directory{hooks: hooks} }

// resolveInput is the resolve_user input of ABI v1. The subject goes as an
// id_token_hint's: a user the host has verified, whom the answer must name.
// Purpose "profile" tells the directory that nobody is being asked to
// authorize anything, so a user's CIBA user_code is not required.
type resolveInput struct {
	Kind     string `json:"kind"`
	Value    string `json:"value"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	Purpose  string `json:"purpose"`
}

// Profile asks the directory for subject's profile, for a request of
// client with scope. ok is false when no directory is bound or it does
// not know the user (a refusal); a failing plugin, or one answering for
// another user, is an error (the caller fails closed).
func (d *Directory) Profile(ctx context.Context, subject, clientID, scope string) (p store.Profile, ok bool, err error) {
	if d == nil || d.hooks == nil {
		return p, false, nil
	}
	if _, bound := d.hooks.For(config.HookResolveUser, ""); !bound {
		return p, false, nil
	}
	var out struct {
		Sub     string        `json:"sub"`
		Profile store.Profile `json:"profile"`
	}
	in := resolveInput{Kind: "id_token_hint", Value: subject, ClientID: clientID, Scope: scope, Purpose: "profile"}
	err = d.hooks.CallHook(ctx, config.HookResolveUser, "", in, &out)
	var refusal *plugin.Refusal
	switch {
	case errors.As(err, &refusal):
		slog.InfoContext(ctx, "user directory has no profile for the user", "sub", subject, "client_id", clientID,
			"code", refusal.Code, "plugin", refusal.Plugin)
		return p, false, nil
	case err != nil:
		return p, false, fmt.Errorf("identity: resolve_user for %s: %w", subject, err)
	case out.Sub != subject:
		return p, false, fmt.Errorf("identity: resolve_user answered %q for %q", out.Sub, subject)
	}
	return out.Profile, true, nil
}

// FillProfile completes p with the fields it lacks from the directory's
// d: the sign-in's own profile wins. The email's verification goes with
// the address it is of.
func FillProfile(p, d store.Profile) store.Profile {
	if p.Email == "" && d.Email != "" {
		p.Email, p.EmailVerified = d.Email, d.EmailVerified
	}
	if p.DisplayName == "" {
		p.DisplayName = d.DisplayName
	}
	if p.Picture == "" {
		p.Picture = d.Picture
	}
	if p.Username == "" {
		p.Username = d.Username
	}
	return p
}
