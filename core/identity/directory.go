package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/gatehouse-auth/gatehouse/core/plugin"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// Directory is the user directory: the resolve_user hook, asked for the
// profile of a user the server has already authenticated.
type Directory struct {
	hooks plugin.Hooks
}

// NewDirectory returns the directory of hooks (nil: no directory).
func NewDirectory(hooks plugin.Hooks) *Directory { return &Directory{hooks: hooks} }

// Profile asks the directory for subject's profile, for a request of
// client with scope. ok is false when no directory is bound or it does
// not know the user (a refusal); a failing plugin, or one answering for
// another user, is an error (the caller fails closed).
func (d *Directory) Profile(ctx context.Context, subject, clientID, scope string) (p store.Profile, ok bool, err error) {
	if d == nil || d.hooks == nil {
		return p, false, nil
	}
	// The subject goes as an id_token_hint's: a user the host has
	// verified, whom the answer must name. PurposeProfile tells the
	// directory that nobody is asked to authorize anything, so a user's
	// CIBA user_code is not required.
	out, err := d.hooks.ResolveUser(ctx, hook.ResolveUserInput{
		Kind: hook.KindIDTokenHint, Value: subject, ClientID: clientID, Scope: scope, Purpose: hook.PurposeProfile,
	})
	var refusal *plugin.Refusal
	switch {
	case errors.Is(err, plugin.ErrNotBound):
		return p, false, nil
	case errors.As(err, &refusal):
		slog.InfoContext(ctx, "user directory has no profile for the user", "sub", subject, "client_id", clientID,
			"code", refusal.Code, "plugin", refusal.Plugin)
		return p, false, nil
	case err != nil:
		return p, false, fmt.Errorf("identity: resolve_user for %s: %w", subject, err)
	case out.Sub != subject:
		return p, false, fmt.Errorf("identity: resolve_user answered %q for %q", out.Sub, subject)
	}
	return store.Profile(out.Profile), true, nil
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
