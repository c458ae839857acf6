package authorize

import (
	"errors"
	"html/template"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/identity"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// Steps of the consent page.
const (
	stepLogin    = "login"
	stepConsent  = "consent"
	stepContinue = "continue"
	// stepError shows a refused request whose client's redirect URI is
	// not trusted with an automatic redirect (answerError).
	stepError = "error"
)

// pageData is what the consent page template sees as .Data.
type pageData struct {
	Step       string
	ClientID   string
	ClientName string
	// ClientHost is the host that published the client's metadata
	// document, for a client identified by its URL (draft §8.5).
	ClientHost     string
	RedirectTarget string
	// Action is where the page's Approve / Deny forms post: the page itself.
	Action string
	identity.SignIn
	Scopes []identity.ScopeView
	// Resources are the RFC 8707 resources the access token will be for.
	Resources []string
	// RedirectURL is the client's redirect, for the continue and error
	// steps. It is a registered redirect URI (registration refuses
	// javascript: and the like), so it is trusted as a URL even with a
	// private-use scheme.
	RedirectURL template.URL
	// ErrorCode and ErrorDescription are the refusal, for the error step.
	ErrorCode, ErrorDescription string
}

// showPage is the built-in consent page, GET {base}/oauth2/authorize/{id}:
// a sign-in step when nobody (or nobody recent enough) is signed in, then
// who asks, for what, and Approve / Deny.
func (h *Handler) showPage(c *fiber.Ctx) error {
	req, client, ok := h.pageSession(c)
	if !ok {
		return nil
	}
	u, signedIn, err := h.pages.Sessions.Current(c)
	if err != nil {
		return h.pageError(c, err)
	}
	self := h.cfg.Server.BasePath + pagePath + req.ID
	data := pageData{
		Step:           stepConsent,
		ClientID:       client.ID,
		ClientName:     clientName(&client),
		ClientHost:     documentHost(&client),
		RedirectTarget: redirectTarget(req.RedirectURI),
		Action:         self,
		Resources:      req.Resource,
	}
	if signedIn {
		data.User = &u
	}
	if h.needsLogin(&req, u, signedIn) {
		data.Step = stepLogin
		data.Methods = h.pages.Logins.LoginStep(c, self)
	} else {
		data.Scopes = identity.ScopeViews(c, req.Scope)
		data.Logout = h.pages.Logins.LogoutForm(u, self)
	}
	// Deciding redirects the browser to the client: CSP form-action must
	// allow that origin (identity.FormActionSource).
	var formActions []string
	if src, ok := identity.FormActionSource(req.RedirectURI); ok {
		formActions = append(formActions, src)
	}
	return h.page.Render(c, fiber.StatusOK, data, formActions...)
}

// submitPage takes the page's Approve or Deny (POST, CSRF already checked)
// and sends the browser to the client's redirect URI with 303 See Other.
func (h *Handler) submitPage(c *fiber.Ctx) error {
	decision := c.FormValue("decision")
	if decision != "approve" && decision != "deny" {
		return identity.ErrorPage(h.cfg, c, fiber.StatusBadRequest, "error.no_decision_title", "error.no_decision")
	}
	req, client, ok := h.pageSession(c)
	if !ok {
		return nil
	}
	var u identity.User
	if decision == "approve" {
		cur, signedIn, err := h.pages.Sessions.Current(c)
		if err != nil {
			return h.pageError(c, err)
		}
		if h.needsLogin(&req, cur, signedIn) {
			// Signed out (or too long ago) in another tab: sign in first.
			return c.Redirect(h.cfg.Server.BasePath+pagePath+req.ID, fiber.StatusSeeOther)
		}
		u = cur
	}
	redirect, err := h.decide(c.UserContext(), req.ID, decision == "approve", u)
	if err != nil {
		var oe *oauth.Error
		if errors.As(err, &oe) && oe.Status < 500 {
			return h.sessionGone(c, oe)
		}
		return h.pageError(c, err)
	}
	if _, ok := identity.FormActionSource(req.RedirectURI); !ok {
		// The page's CSP could not name this redirect's origin, so the
		// browser would block a redirect: offer a link instead.
		return h.page.Render(c, fiber.StatusOK, pageData{
			Step: stepContinue, ClientID: client.ID, ClientName: clientName(&client),
			RedirectTarget: redirectTarget(req.RedirectURI),
			RedirectURL:    template.URL(redirect), // a registered redirect URI, see pageData
		})
	}
	oauth.NoStore(c)
	return c.Redirect(redirect, fiber.StatusSeeOther)
}

// pageSession loads the page's pending session and its client, or answers
// with an error page (ok false).
func (h *Handler) pageSession(c *fiber.Ctx) (store.AuthRequest, store.Client, bool) {
	req, oerr := h.pending(c.UserContext(), c.Params("id"))
	if oerr != nil {
		if oerr.Status >= 500 {
			_ = h.pageError(c, oerr)
		} else {
			_ = h.sessionGone(c, oerr)
		}
		return req, store.Client{}, false
	}
	client, err := h.clients.Get(c.UserContext(), req.ClientID)
	var refused *oauth.Error
	if errors.Is(err, store.ErrNotFound) || errors.As(err, &refused) {
		_ = identity.ErrorPage(h.cfg, c, fiber.StatusNotFound, "error.client_gone_title", "error.client_gone")
		return req, client, false
	}
	if err != nil {
		_ = h.pageError(c, err)
		return req, client, false
	}
	return req, client, true
}

// sessionGone answers a session that is unknown, expired or decided.
func (h *Handler) sessionGone(c *fiber.Ctx, oe *oauth.Error) error {
	if oe.Status == fiber.StatusConflict {
		return identity.ErrorPage(h.cfg, c, fiber.StatusConflict, "error.answered_title", "error.answered_restart")
	}
	return identity.ErrorPage(h.cfg, c, fiber.StatusNotFound, "error.expired_title", "error.expired_restart")
}

func (h *Handler) pageError(c *fiber.Ctx, err error) error {
	return identity.ServerErrorPage(h.cfg, c, "consent page", err)
}

// needsLogin reports whether the page must (again) ask the user to sign
// in: nobody is signed in, or prompt=login (or max_age=0) asked for a
// sign-in after the request was made, or the sign-in is older than max_age
// seconds (OIDC Core §3.1.2.1, compared in whole seconds as auth_time is).
func (h *Handler) needsLogin(req *store.AuthRequest, u identity.User, signedIn bool) bool {
	if !signedIn {
		return true
	}
	if !u.AuthTime.Before(req.CreatedAt.Truncate(time.Second)) {
		return false
	}
	if slices.Contains(strings.Fields(req.Prompt), "login") {
		return true
	}
	return req.MaxAge > 0 && h.now().Unix()-u.AuthTime.Unix() > int64(req.MaxAge)
}

// redirectTarget is how the page shows where the answer goes: the host of
// an http(s) redirect URI, the scheme of a native app's.
func redirectTarget(redirectURI string) string {
	u, err := url.Parse(redirectURI)
	if err != nil {
		return redirectURI
	}
	if (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return u.Host
	}
	return u.Scheme + ":"
}
