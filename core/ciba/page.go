package ciba

import (
	"embed"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/identity"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

//go:embed templates/approve.html templates/email.txt templates/email.html
var templates embed.FS

// Steps of the approval page.
const (
	stepLogin     = "login"
	stepApprove   = "approve"
	stepWrongUser = "wrong_user"
	stepDone      = "done"
)

type pageData struct {
	Step             string
	ClientID         string
	ClientName       string
	BindingMessage   string
	UserCodeVerified bool
	Action           string
	identity.SignIn
	Scopes   []identity.ScopeView
	Decision string
}

// showPage is the approval page, GET {base}/oauth2/backchannel/{auth_req_id},
// linked from the notification: the same sign-in step as the consent page
// when nobody is signed in, then the client, scope and binding message,
// and Approve / Deny.
func (s *Service) showPage(c *fiber.Ctx) error {
	authReqID := c.Params("id")
	_, rec, err := s.pending(c.UserContext(), authReqID, nil)
	if err != nil {
		return s.pageGone(c, err)
	}
	u, signedIn, err := s.pages.Sessions.Current(c)
	if err != nil {
		return s.pageError(c, err)
	}
	cl, _ := s.st.Clients.Get(c.UserContext(), rec.ClientID)
	self := s.cfg.Server.BasePath + PagePath + authReqID
	data := pageData{
		Step:       stepApprove,
		ClientID:   rec.ClientID,
		ClientName: clientName(&cl, rec.ClientID),
		Action:     self,
	}
	if signedIn {
		data.User = &u
		data.Logout = s.pages.Logins.LogoutForm(u, self)
	}
	switch {
	case !signedIn:
		data.Step = stepLogin
		data.Methods = s.pages.Logins.LoginStep(c, self)
	case u.Subject != rec.Subject:
		data.Step = stepWrongUser
	default:
		data.BindingMessage = rec.BindingMessage
		data.UserCodeVerified = rec.UserCodeVerified
		data.Scopes = identity.ScopeViews(c, rec.Scope)
	}
	return s.page.Render(c, fiber.StatusOK, data)
}

// submitPage takes Approve or Deny (POST, CSRF already checked by the
// middleware) from the signed-in user the request names.
func (s *Service) submitPage(c *fiber.Ctx) error {
	decision := c.FormValue("decision")
	if decision != "approve" && decision != "deny" {
		return identity.ErrorPage(s.cfg, c, fiber.StatusBadRequest, "error.no_decision_title", "error.no_decision")
	}
	authReqID := c.Params("id")
	u, signedIn, err := s.pages.Sessions.Current(c)
	if err != nil {
		return s.pageError(c, err)
	}
	if !signedIn {
		// Signed out in another tab: sign in first.
		return c.Redirect(s.cfg.Server.BasePath+PagePath+authReqID, fiber.StatusSeeOther)
	}
	_, rec, err := s.pending(c.UserContext(), authReqID, nil)
	if err != nil {
		return s.pageGone(c, err)
	}
	if err := s.decide(c.UserContext(), authReqID, decision == "approve", u, viaPage); err != nil {
		return s.pageGone(c, err)
	}
	cl, _ := s.st.Clients.Get(c.UserContext(), rec.ClientID)
	oauth.NoStore(c)
	return s.page.Render(c, fiber.StatusOK, pageData{
		Step: stepDone, ClientID: rec.ClientID, ClientName: clientName(&cl, rec.ClientID), Decision: decision,
		SignIn: identity.SignIn{User: &u},
	})
}

// pageGone answers a request that cannot be answered (any more).
func (s *Service) pageGone(c *fiber.Ctx, err error) error {
	oe := oauth.AsError(err)
	switch {
	case oe.Status >= 500:
		return s.pageError(c, err)
	case oe.Status == fiber.StatusConflict:
		return identity.ErrorPage(s.cfg, c, fiber.StatusConflict, "error.answered_title", "error.answered")
	case oe.Code == "expired_token":
		return identity.ErrorPage(s.cfg, c, fiber.StatusGone, "error.expired_title", "error.expired_unanswered")
	case oe.Status == fiber.StatusForbidden:
		return identity.ErrorPage(s.cfg, c, fiber.StatusForbidden, "error.not_yours_title", "error.not_yours")
	}
	return identity.ErrorPage(s.cfg, c, fiber.StatusNotFound, "error.expired_title", "error.expired")
}

func (s *Service) pageError(c *fiber.Ctx, err error) error {
	return identity.ServerErrorPage(s.cfg, c, "ciba approval page", err)
}

func clientName(cl *store.Client, id string) string {
	if cl.ClientName != "" {
		return cl.ClientName
	}
	return id
}
