// Package identity knows who is signed in to Gatehouse's own pages: login
// sessions (a cookie naming a stored store.LoginSession), the registry of
// login methods the pages offer, CSRF protection for their forms, and the
// shared look of those pages.
package identity

import (
	"time"

	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

// User is a signed-in person as the pages and the consent step see them:
// a Backstage entity ref with its ownership refs and a display profile.
type User struct {
	// Subject is the user's entity ref, such as user:development/guest.
	Subject string
	// Ownership lists the entity refs the user owns through (Backstage "ent").
	Ownership []string
	Profile   store.Profile
	// Claims are the sign_in hook's extra claims, carried into the tokens
	// issued for the user; registered claims are never taken from them.
	Claims map[string]any
	// Provider is the ID of the login method that signed the user in.
	Provider string
	// AuthTime is when the user authenticated (OIDC Core §2 auth_time).
	AuthTime time.Time
	// ProviderSession is the store id of the provider session the sign-in
	// started, if any: the login session records it, so that a logout
	// ends both.
	ProviderSession string
}

// Name is how the pages greet the user: the display name, else the entity ref.
func (u User) Name() string {
	if u.Profile.DisplayName != "" {
		return u.Profile.DisplayName
	}
	return u.Subject
}

// TokenUser is the user a verified Backstage identity token names, with
// the time it says the user signed in (zero for a token without
// auth_time); Provider stays empty.
func TokenUser(id token.Identity) User {
	return User{Subject: id.Subject, Ownership: id.Ownership, Profile: id.Profile, Claims: id.Claims, AuthTime: id.AuthTime}
}
