package identity

import (
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/locale"
)

// SignIn is the part of a page's data that the shared login step and the
// signed-in user card (templates/login.html) read: a page that offers
// sign-in embeds it in its own data. Methods is set for the login step;
// User and Logout for the card with its "Not you?" button.
type SignIn struct {
	User    *User
	Logout  *Form
	Methods []MethodView
}

// MethodView is one login method as the login step shows it: a POST
// method is a form, a GET one is a link (Link), so that it may lead to an
// upstream provider's origin without widening the page's CSP form-action.
type MethodView struct {
	ID, Label string
	Form      Form
	Link      string
}

// LoginStep lists the registry's methods for a page's login step, each
// bringing the browser back to returnTo once the user has signed in, and
// labelled in the request's language.
func (r *Registry) LoginStep(c *fiber.Ctx, returnTo string) []MethodView {
	var out []MethodView
	l := Localizer(c)
	for _, m := range r.methods {
		label := m.DisplayName()
		if ll, ok := m.(LocalizedMethod); ok {
			label = ll.Label(l)
		}
		v := MethodView{ID: m.ID(), Label: label, Form: m.LoginForm(returnTo)}
		if strings.EqualFold(v.Form.Method, fiber.MethodGet) {
			v.Link = formLink(v.Form)
		}
		out = append(out, v)
	}
	return out
}

// LogoutForm is the "Not you?" form for u, coming back to returnTo, when
// the method that signed u in can sign users out; nil otherwise.
func (r *Registry) LogoutForm(u User, returnTo string) *Form {
	m, ok := r.Lookup(u.Provider)
	if !ok {
		return nil
	}
	lm, ok := m.(LogoutMethod)
	if !ok {
		return nil
	}
	f := lm.LogoutForm(returnTo)
	return &f
}

// formLink is a GET form as a URL.
func formLink(f Form) string {
	if len(f.Fields) == 0 {
		return f.Action
	}
	q := url.Values{}
	for _, field := range f.Fields {
		q.Add(field.Name, field.Value)
	}
	return f.Action + "?" + q.Encode()
}

// ScopeView is one line of a page's "It will be able to" list: a scope's
// display name and description in the page's language (locale: ui.scopes,
// the shipped texts of the standard scopes), or, for a scope with none,
// its Value.
type ScopeView struct{ Name, Description, Value string }

// ScopeViews describes a space-separated scope (RFC 6749 §3.3) for the
// pages' scope list (template "scope-list"), in the request's language.
func ScopeViews(c *fiber.Ctx, scope string) []ScopeView {
	l := Localizer(c)
	var out []ScopeView
	for s := range strings.FieldsSeq(scope) {
		if t, ok := l.Scope(s); ok {
			out = append(out, ScopeView{Name: t.Name, Description: t.Description})
		} else {
			out = append(out, ScopeView{Value: s})
		}
	}
	return out
}

// LocalizedMethod is the optional capability of a login method whose
// button label is a message of the page's language. Found by type
// assertion; DisplayName is the label otherwise.
type LocalizedMethod interface {
	Label(l *locale.Localizer) string
}
