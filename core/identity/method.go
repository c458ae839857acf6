package identity

import (
	"fmt"
	"slices"
)

// LoginMethod is a way to sign in that the login step of Gatehouse's pages
// offers: the guest sign-in today, upstream providers (OIDC, GitHub, ...)
// later. The page renders each method as one button.
type LoginMethod interface {
	// ID names the method; a login session records it as its provider.
	ID() string
	// DisplayName is the button's label, such as "Continue as guest".
	DisplayName() string
	// LoginForm says how to start signing in so that the browser comes
	// back to returnTo (a local path) once it is done.
	LoginForm(returnTo string) Form
}

// LogoutMethod is the optional capability of a login method that can sign
// its users out from the pages ("Not you?"). Found by type assertion.
type LogoutMethod interface {
	LogoutForm(returnTo string) Form
}

// Form is an HTML form the page renders as a button. A POST form gets the
// CSRF token added by the page; a GET form suits a method that redirects
// to an upstream provider, whose own state parameter protects the round trip.
type Form struct {
	Method string // "GET" or "POST"
	Action string // absolute path on this server
	Fields []Field
}

// Field is a hidden form field.
type Field struct {
	Name, Value string
}

// Registry is the ordered set of login methods the pages offer.
type Registry struct {
	methods []LoginMethod
}

// NewRegistry returns a registry of methods, in the order given. IDs must
// be unique and not empty.
func NewRegistry(methods ...LoginMethod) (*Registry, error) {
	seen := map[string]bool{}
	for _, m := range methods {
		if m.ID() == "" {
			return nil, fmt.Errorf("identity: a login method has an empty ID")
		}
		if seen[m.ID()] {
			return nil, fmt.Errorf("identity: login method %q is registered twice", m.ID())
		}
		seen[m.ID()] = true
	}
	return &Registry{methods: slices.Clone(methods)}, nil
}

// Methods returns the methods in display order.
func (r *Registry) Methods() []LoginMethod { return slices.Clone(r.methods) }

// Lookup returns the method with id.
func (r *Registry) Lookup(id string) (LoginMethod, bool) {
	for _, m := range r.methods {
		if m.ID() == id {
			return m, true
		}
	}
	return nil, false
}
