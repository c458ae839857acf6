package ciba

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
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
	// AuthReqID and CreatedAt are in the list of pending requests only.
	AuthReqID      string     `json:"auth_req_id,omitempty"`
	CreatedAt      *time.Time `json:"created_at,omitempty"`
	ClientID       string     `json:"client_id"`
	ClientName     string     `json:"client_name,omitempty"`
	Scope          string     `json:"scope"`
	BindingMessage string     `json:"binding_message,omitempty"`
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
		return s.pendingList(c, u, params.Get("cursor"))
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
	return oauth.JSON(c, fiber.StatusOK, s.info(rec, cl, authReqID, status))
}

// info is what the device API shows of rec, made by cl, in status.
func (s *Service) info(rec store.BackchannelRequest, cl store.Client, authReqID, status string) AuthInfo {
	return AuthInfo{
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
	}
}

// MaxPendingListed bounds the list of a user's pending requests, and
// pendingReadBudget the requests of the user one list reads: past it (a
// user with many answered requests still kept) the list comes back short,
// even empty, with a cursor to go on from.
const (
	MaxPendingListed  = 50
	pendingReadBudget = 4 * MaxPendingListed
)

// pendingList answers authinfo without auth_req_id, as doorkeeper-ciba
// does: the signed-in user's own requests still waiting for an answer,
// newest first, at most MaxPendingListed, each with the auth_req_id that
// answers it at complete. Requests of deleted clients and expired ones
// are left out. It reads the user's requests only (store.BackchannelByUser),
// at most pendingReadBudget of them; when it stops before the oldest, the
// answer's next_cursor, passed back as cursor, lists on from there.
func (s *Service) pendingList(c *fiber.Ctx, u identity.User, cursor string) error {
	ctx := c.UserContext()
	if len(cursor) > maxCursor {
		return oauth.WriteError(c, oauth.ErrInvalidRequest().WithDescription("cursor is not one this server gave"))
	}
	now := s.now()
	under := store.BackchannelUserPrefix(u.Subject)
	after := ""
	if cursor != "" {
		after = under + cursor
	}
	list := make([]AuthInfo, 0, MaxPendingListed)
	respond := func(next string) error {
		body := fiber.Map{"requests": list}
		if next != "" {
			body["next_cursor"] = strings.TrimPrefix(next, under)
		}
		return oauth.JSON(c, fiber.StatusOK, body)
	}
	read := 0
	for {
		page, more, err := s.st.BackchannelByUser.ListPageUnder(ctx, under,
			store.Page{After: after, Limit: min(MaxPendingListed, pendingReadBudget-read), Reverse: true})
		if err != nil {
			return oauth.WriteError(c, oauth.ErrServerError().WithParent(fmt.Errorf("ciba: list requests: %w", err)))
		}
		for _, e := range page {
			read++
			after = e.ID
			info, ok, err := s.pendingInfo(ctx, u, e.Value.RequestID, now)
			if err != nil {
				return oauth.WriteError(c, oauth.ErrServerError().WithParent(err))
			}
			if !ok {
				continue
			}
			list = append(list, info)
			if len(list) == MaxPendingListed {
				return respond(after)
			}
		}
		if more == "" {
			return respond("")
		}
		if read >= pendingReadBudget {
			return respond(after)
		}
	}
}

// pendingInfo is what the list shows of the request with id, if it is
// the user's, pending, unexpired and its client exists (ok).
func (s *Service) pendingInfo(ctx context.Context, u identity.User, id string, now time.Time) (info AuthInfo, ok bool, err error) {
	rec, err := s.st.Backchannel.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return info, false, nil
	}
	if err != nil {
		return info, false, fmt.Errorf("ciba: read request: %w", err)
	}
	if rec.Subject != u.Subject || rec.Status != store.BackchannelPending || !now.Before(rec.ExpiresAt) || rec.AuthReqID == "" {
		return info, false, nil
	}
	cl, err := s.st.Clients.Get(ctx, rec.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return info, false, nil
	}
	if err != nil {
		return info, false, fmt.Errorf("ciba: read client: %w", err)
	}
	authReqID, err := s.secrets.openString(authReqIDAD(id), rec.AuthReqID, rec.AuthReqIDSealed)
	if err != nil {
		slog.WarnContext(ctx, "ciba: a pending request's auth_req_id cannot be opened", "request", id[:12], "error", err)
		return info, false, nil
	}
	created := rec.CreatedAt.UTC()
	info = s.info(rec, cl, authReqID, rec.Status)
	info.AuthReqID, info.CreatedAt = authReqID, &created
	return info, true, nil
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
	approve, oerr := completeAction(params.Get("action"), params.Get("status"))
	if oerr != nil {
		return oauth.WriteError(c, oerr)
	}
	if err := s.decide(c.UserContext(), authReqID, approve, u, viaAPI); err != nil {
		return oauth.WriteError(c, err)
	}
	status := store.BackchannelDenied
	if approve {
		status = store.BackchannelApproved
	}
	if given := params.Get("status"); given != "" {
		// doorkeeper-ciba's clients read back the value they sent.
		status = given
	}
	return oauth.JSON(c, fiber.StatusOK, fiber.Map{"auth_req_id": authReqID, "status": status})
}

// doorkeeper-ciba's values of complete's status parameter: A approves, D
// disapproves.
const (
	statusApproved    = "A"
	statusDisapproved = "D"
)

// completeAction reads complete's answer: action (approve or deny), or
// doorkeeper-ciba's status (A or D) as its alias; both may be given only
// when they agree.
func completeAction(action, status string) (approve bool, _ *oauth.Error) {
	bad := oauth.ErrInvalidRequest
	var byAction, byStatus *bool
	yes, no := true, false
	switch action {
	case "":
	case "approve":
		byAction = &yes
	case "deny":
		byAction = &no
	default:
		return false, bad().WithDescription("action must be approve or deny")
	}
	switch status {
	case "":
	case statusApproved:
		byStatus = &yes
	case statusDisapproved:
		byStatus = &no
	default:
		return false, bad().WithDescription("status must be %s or %s", statusApproved, statusDisapproved)
	}
	switch {
	case byAction == nil && byStatus == nil:
		return false, bad().WithDescription("action (approve or deny) or status (%s or %s) is required", statusApproved, statusDisapproved)
	case byAction != nil && byStatus != nil && *byAction != *byStatus:
		return false, bad().WithDescription("action and status disagree")
	case byAction != nil:
		return *byAction, nil
	}
	return *byStatus, nil
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

// maxHistory bounds one page of the consent history; maxCursor the
// length of a cursor (of the history: a decision's id; of the list of
// pending requests: an entry's id).
const (
	maxHistory = 1000
	maxCursor  = 128
)

// history is GET /admin/ciba/history: one page of the consent history,
// newest first, filtered by sub and client_id, at most limit entries
// (default 100), continuing at cursor (the next_cursor of the page
// before). next_cursor is absent after the oldest decision; a filtered
// page may be short, even empty, and still have one (History reads a
// bounded number of records per page).
func (s *Service) history(c *fiber.Ctx) error {
	limit := 100
	if raw := c.Query("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxHistory {
			return oauth.WriteError(c, oauth.ErrInvalidRequest().WithDescription("limit must be between 1 and %d", maxHistory))
		}
		limit = n
	}
	cursor := c.Query("cursor")
	if len(cursor) > maxCursor {
		return oauth.WriteError(c, oauth.ErrInvalidRequest().WithDescription("cursor is not one this endpoint returned"))
	}
	records, next, err := History(c.UserContext(), s.st, HistoryQuery{Subject: c.Query("sub"), ClientID: c.Query("client_id"), Cursor: cursor, Limit: limit})
	if err != nil {
		return oauth.WriteError(c, oauth.ErrServerError().WithParent(err))
	}
	body := fiber.Map{"history": records}
	if next != "" {
		body["next_cursor"] = next
	}
	return oauth.JSON(c, fiber.StatusOK, body)
}
