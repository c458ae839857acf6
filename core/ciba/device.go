package ciba

import (
	"errors"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/grant"
	"github.com/gatehouse-auth/gatehouse/core/identity"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// responseJSON is the token response, embedded in the push body.
type responseJSON grant.Response

// AuthInfo is what the authorization device shows the user about a
// request (GET /v1/backchannel/authinfo). Status is pending, approved,
// denied, redeemed, or expired (StatusExpired: it expired unanswered).
type AuthInfo struct {
	ClientID       string `json:"client_id"`
	ClientName     string `json:"client_name,omitempty"`
	Scope          string `json:"scope"`
	BindingMessage string `json:"binding_message,omitempty"`
	// UserCodeVerified says a user_code came with the request and the
	// directory accepted it; the code itself is never shown (CIBA Core
	// §7.1: a secret the user knows).
	UserCodeVerified bool      `json:"user_code_verified,omitempty"`
	ACRValues        string    `json:"acr_values,omitempty"`
	Sub              string    `json:"sub"`
	Status           string    `json:"status"`
	ExpiresAt        time.Time `json:"expires_at"`
	ApprovalURL      string    `json:"approval_url"`
}

// authInfo is GET /v1/backchannel/authinfo?auth_req_id=...: for the user
// the request names, identified by their identity token (Bearer), what
// the request asks.
func (s *Service) authInfo(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u, err := s.bearerUser(c)
	if err != nil {
		return oauth.WriteError(c, err)
	}
	params, err := oauth.ParseQuery(c)
	if err != nil {
		return oauth.WriteError(c, err)
	}
	authReqID := params.Get("auth_req_id")
	if authReqID == "" {
		return oauth.WriteError(c, oauth.ErrInvalidRequest().WithDescription("auth_req_id is required"))
	}
	id := store.HashID(authReqID)
	rec, err := s.st.Backchannel.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return oauth.WriteError(c, oauth.ErrNotFound().WithDescription("the authentication request is unknown or has expired"))
	}
	if err != nil {
		return oauth.WriteError(c, oauth.ErrServerError().WithParent(err))
	}
	if err := s.clientExists(ctx, rec.ClientID); err != nil {
		return oauth.WriteError(c, err)
	}
	if rec.Subject != u.Subject {
		return oauth.WriteError(c, oauth.ErrAccessDenied().WithDescription("this authentication request is for another user"))
	}
	// A request that expired without an answer says so (it is kept a
	// while past its expiry, store.BackchannelRequest.Expiry).
	status := rec.Status
	if status == store.BackchannelPending && !s.now().Before(rec.ExpiresAt) {
		status = StatusExpired
	}
	cl, _ := s.st.Clients.Get(ctx, rec.ClientID)
	return oauth.JSON(c, fiber.StatusOK, AuthInfo{
		ClientID:         rec.ClientID,
		ClientName:       cl.ClientName,
		Scope:            rec.Scope,
		BindingMessage:   rec.BindingMessage,
		UserCodeVerified: rec.UserCodeVerified,
		ACRValues:        rec.ACRValues,
		Sub:              rec.Subject,
		Status:           status,
		ExpiresAt:        rec.ExpiresAt.UTC(),
		ApprovalURL:      s.approvalURL(authReqID),
	})
}

// complete is POST /v1/backchannel/complete with auth_req_id and action
// approve or deny: the user the request names (Bearer identity token)
// answers it by API.
func (s *Service) complete(c *fiber.Ctx) error {
	u, err := s.bearerUser(c)
	if err != nil {
		return oauth.WriteError(c, err)
	}
	params, err := oauth.ParseBody(c)
	if err != nil {
		return oauth.WriteError(c, err)
	}
	authReqID := params.Get("auth_req_id")
	if authReqID == "" {
		return oauth.WriteError(c, oauth.ErrInvalidRequest().WithDescription("auth_req_id is required"))
	}
	action := params.Get("action")
	if action != "approve" && action != "deny" {
		return oauth.WriteError(c, oauth.ErrInvalidRequest().WithDescription("action must be approve or deny"))
	}
	if err := s.decide(c.UserContext(), authReqID, action == "approve", u, viaAPI); err != nil {
		return oauth.WriteError(c, err)
	}
	status := store.BackchannelDenied
	if action == "approve" {
		status = store.BackchannelApproved
	}
	return oauth.JSON(c, fiber.StatusOK, fiber.Map{"status": status})
}

// bearerUser is the user of the request's Backstage identity token (RFC
// 6750 §2.1), as the consent session API takes it.
func (s *Service) bearerUser(c *fiber.Ctx) (identity.User, error) {
	id, err := s.issuer.VerifyBearerIdentity(c)
	if err != nil {
		return identity.User{}, err
	}
	return identity.TokenUser(id), nil
}

// maxHistory bounds one page of the consent history.
const maxHistory = 1000

// history is GET /admin/ciba/history: the consent history, newest first,
// filtered by sub and client_id, at most limit entries (default 100).
func (s *Service) history(c *fiber.Ctx) error {
	limit := 100
	if raw := c.Query("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxHistory {
			return oauth.WriteError(c, oauth.ErrInvalidRequest().WithDescription("limit must be between 1 and %d", maxHistory))
		}
		limit = n
	}
	records, err := History(c.UserContext(), s.st, c.Query("sub"), c.Query("client_id"), limit)
	if err != nil {
		return oauth.WriteError(c, oauth.ErrServerError().WithParent(err))
	}
	return oauth.JSON(c, fiber.StatusOK, fiber.Map{"history": records})
}
