package authorize

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/identity"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

// Decisions a consent session records (store.AuthRequest.Decision).
const (
	decisionApproved = "approved"
	decisionRejected = "rejected"
)

// maxSessionID bounds the session ids looked up; ours are 32 characters.
const maxSessionID = 64

var (
	errDecided = errors.New("consent session already decided")
	errExpired = errors.New("consent session expired")
)

// sessionView is what GET /v1/sessions/{id} answers: the fields Backstage's
// consent page shows.
type sessionView struct {
	ID          string `json:"id"`
	ClientID    string `json:"clientId"`
	ClientName  string `json:"clientName"`
	Scope       string `json:"scope"`
	RedirectURI string `json:"redirectUri"`
	// Resources are the RFC 8707 resources the access token will be for
	// (its audience), so that the consent page can show where it will be
	// usable; [] when the request named none (the default audience).
	Resources []string `json:"resources"`
}

// getSession answers GET /v1/sessions/{id} with a pending consent session.
func (h *Handler) getSession(c *fiber.Ctx) error {
	req, oerr := h.pending(c.UserContext(), c.Params("id"))
	if oerr != nil {
		return oerr
	}
	client, err := h.clients.Get(c.UserContext(), req.ClientID)
	var refused *oauth.Error
	if errors.Is(err, store.ErrNotFound) || errors.As(err, &refused) {
		return oauth.ErrNotFound().WithDescription("the client of this session is no longer registered")
	}
	if err != nil {
		return oauth.ErrServerError().WithParent(err)
	}
	return oauth.JSON(c, fiber.StatusOK, sessionView{
		ID:          req.ID,
		ClientID:    req.ClientID,
		ClientName:  clientName(&client),
		Scope:       req.Scope,
		RedirectURI: req.RedirectURI,
		Resources:   append([]string{}, req.Resource...),
	})
}

// approveSession answers POST /v1/sessions/{id}/approve: the user named by
// the bearer Backstage identity token approves, and the answer is where
// the consent page sends the browser (the client's redirect URI with a
// code, RFC 6749 §4.1.2).
func (h *Handler) approveSession(c *fiber.Ctx) error {
	u, err := h.bearerUser(c)
	if err != nil {
		return err
	}
	// OIDC Core §3.1.2.1: prompt=login and max_age hold here as on the
	// built-in page. The session stays pending, so that the consent page
	// can sign the user in again and retry with the new identity token.
	req, oerr := h.pending(c.UserContext(), c.Params("id"))
	if oerr != nil {
		return oerr
	}
	if h.needsLogin(&req, u, true) {
		slog.LogAttrs(c.UserContext(), slog.LevelInfo, "approval refused: sign-in too old for the request",
			slog.String("session_id", req.ID), slog.String("client_id", req.ClientID), slog.String("sub", u.Subject))
		return oauth.ErrLoginRequired().WithStatus(fiber.StatusUnauthorized).
			WithDescription("this request needs a fresh sign-in (prompt=login or max_age): sign in again and approve with the new identity token").
			WithChallenge(`Bearer realm="gatehouse", error="login_required"`)
	}
	if u, err = h.directoryProfile(c.UserContext(), &req, u); err != nil {
		return err
	}
	redirect, err := h.decide(c.UserContext(), c.Params("id"), true, u)
	if err != nil {
		return err
	}
	return oauth.JSON(c, fiber.StatusOK, fiber.Map{"redirectUrl": redirect})
}

// directoryProfile completes the profile of an approval by API: an
// identity token from a sign-in carries the user's profile, but one
// minted elsewhere may not, and the scope may ask for what it lacks (OIDC
// Core §5.4). The user directory (resolve_user) then fills the gaps; a
// user it does not know keeps the profile the token had.
func (h *Handler) directoryProfile(ctx context.Context, req *store.AuthRequest, u identity.User) (identity.User, error) {
	wantProfile := token.HasScope(req.Scope, "profile") && u.Profile.DisplayName == ""
	wantEmail := token.HasScope(req.Scope, "email") && u.Profile.Email == ""
	if !wantProfile && !wantEmail {
		return u, nil
	}
	p, ok, err := h.dir.Profile(ctx, u.Subject, req.ClientID, req.Scope)
	if err != nil {
		return u, oauth.ErrServerError().WithDescription("the user directory plugin failed").WithParent(err)
	}
	if ok {
		u.Profile = identity.FillProfile(u.Profile, p)
	}
	return u, nil
}

// rejectSession answers POST /v1/sessions/{id}/reject: the redirect carries
// access_denied (RFC 6749 §4.1.2.1). It needs the user's identity token as
// approval does, so that a session id alone cannot end a session.
func (h *Handler) rejectSession(c *fiber.Ctx) error {
	u, err := h.bearerUser(c)
	if err != nil {
		return err
	}
	redirect, err := h.decide(c.UserContext(), c.Params("id"), false, u)
	if err != nil {
		return err
	}
	return oauth.JSON(c, fiber.StatusOK, fiber.Map{"redirectUrl": redirect})
}

// bearerUser is the user of the request's Backstage identity token (RFC
// 6750 §2.1).
func (h *Handler) bearerUser(c *fiber.Ctx) (identity.User, error) {
	id, err := h.issuer.VerifyBearerIdentity(c)
	if err != nil {
		return identity.User{}, err
	}
	return identity.TokenUser(id), nil
}

// pending loads a consent session that can still be decided.
func (h *Handler) pending(ctx context.Context, id string) (store.AuthRequest, *oauth.Error) {
	if !validSessionID(id) {
		return store.AuthRequest{}, oauth.ErrNotFound().WithDescription("no such authorization session, or it has expired")
	}
	req, err := h.st.AuthRequests.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !h.now().Before(req.ExpiresAt)) {
		return store.AuthRequest{}, oauth.ErrNotFound().WithDescription("no such authorization session, or it has expired")
	}
	if err != nil {
		return store.AuthRequest{}, oauth.ErrServerError().WithParent(err)
	}
	if req.Decision != "" {
		return store.AuthRequest{}, errAlreadyDecided()
	}
	return req, nil
}

func errAlreadyDecided() *oauth.Error {
	return oauth.ErrInvalidRequest().WithStatus(fiber.StatusConflict).
		WithDescription("this authorization session has already been approved or rejected")
}

// validSessionID: ids are base64url tokens; anything else is not looked up.
func validSessionID(id string) bool {
	return id != "" && len(id) <= maxSessionID && strings.IndexFunc(id, notBase64URL) < 0
}

// decide records the user's answer to a consent session, once, and
// returns the URL the browser goes to. Approval issues an authorization
// code (stored under its hash, single use, code_ttl) bound to the user,
// the PKCE challenge, the nonce and the resources (RFC 6749 §4.1.2); it is
// stored in the same atomic write that marks the session decided, so that
// a session never ends approved without a code, nor a code outlives a
// decision that lost.
func (h *Handler) decide(ctx context.Context, id string, approve bool, u identity.User) (string, error) {
	req, oerr := h.pending(ctx, id)
	if oerr != nil {
		return "", oerr
	}
	// A deleted client's sessions die with it (RFC 7592 §2.3): nobody is
	// sent to its redirect URI, no code is written.
	_, err := h.clients.Get(ctx, req.ClientID)
	var refused *oauth.Error
	if errors.Is(err, store.ErrNotFound) || errors.As(err, &refused) {
		return "", oauth.ErrNotFound().WithDescription("the client of this session is no longer registered")
	}
	if err != nil {
		return "", oauth.ErrServerError().WithParent(err)
	}
	now := h.now()
	decision := decisionRejected
	if approve {
		decision = decisionApproved
	}
	writes := []store.Write{h.st.AuthRequests.UpdateWrite(id, func(old store.AuthRequest) (store.AuthRequest, error) {
		if old.Decision != "" {
			return old, errDecided
		}
		if !now.Before(old.ExpiresAt) {
			return old, errExpired
		}
		return old.Decided(decision), nil
	})}
	var raw string
	if approve {
		authTime := u.AuthTime
		if authTime.IsZero() {
			// An identity token does not say when its user signed in: the
			// approval is the authentication this server saw.
			authTime = now
		}
		raw = oauth.RandomToken(32)
		code := store.AuthCode{
			ClientID:         req.ClientID,
			RedirectURI:      req.RedirectURI,
			RedirectURIGiven: req.RedirectURIGiven,
			Subject:          u.Subject,
			Ownership:        u.Ownership,
			Profile:          u.Profile,
			Claims:           u.Claims,
			Scope:            req.Scope,
			Nonce:            req.Nonce,
			CodeChallenge:    req.CodeChallenge,
			Resource:         req.Resource,
			AuthTime:         authTime.UTC().Truncate(time.Second),
			GrantID:          oauth.RandomToken(16),
			ExpiresAt:        now.Add(h.cfg.Tokens.CodeTTL),
		}
		createCode, err := h.st.Codes.CreateWrite(store.HashID(raw), code)
		if err != nil {
			return "", oauth.ErrServerError().WithParent(fmt.Errorf("authorize: store code: %w", err))
		}
		writes = append(writes, createCode)
	}
	err = h.st.Apply(ctx, writes...)
	switch {
	case errors.Is(err, errDecided):
		return "", errAlreadyDecided()
	case errors.Is(err, errExpired), errors.Is(err, store.ErrNotFound):
		return "", oauth.ErrNotFound().WithDescription("no such authorization session, or it has expired")
	case err != nil:
		return "", oauth.ErrServerError().WithParent(fmt.Errorf("authorize: decide session %s: %w", id, err))
	}

	h.open.done(id)
	slog.LogAttrs(ctx, slog.LevelInfo, "authorization session decided",
		slog.String("session_id", id), slog.String("client_id", req.ClientID),
		slog.String("decision", decision), slog.String("sub", u.Subject))
	q := url.Values{"iss": {h.iss}}
	if approve {
		q.Set("code", raw)
	} else {
		q.Set("error", oauth.ErrAccessDenied().Code)
		q.Set("error_description", "the user denied the request")
	}
	if req.State != "" {
		q.Set("state", req.State)
	}
	return withQuery(req.RedirectURI, q), nil
}

// clientName is how the pages name a client: its registered name, else
// its id.
// documentHost is the host (and port) of a client identified by the URL
// of its metadata document, "" for a registered client: the page shows
// who published what it says about the client (draft §8.5).
func documentHost(c *store.Client) string {
	if !c.MetadataDocument {
		return ""
	}
	u, err := url.Parse(c.ID)
	if err != nil {
		return c.ID
	}
	return u.Host
}

func clientName(c *store.Client) string {
	if c.ClientName != "" {
		return c.ClientName
	}
	return c.ID
}
