package ciba

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/client"
	"github.com/gatehouse-auth/gatehouse/core/entityref"
	"github.com/gatehouse-auth/gatehouse/core/grant"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/plugin"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/token"
	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// Limits on request parameters.
const (
	// maxNotificationToken is CIBA Core §7.1's limit.
	maxNotificationToken = 1024
	maxUserCode          = 64
	maxHint              = 4096
	maxACRValues         = 512
)

// Response is the successful authentication request response (CIBA Core
// §7.3).
type Response struct {
	AuthReqID string `json:"auth_req_id"`
	ExpiresIn int64  `json:"expires_in"`
	Interval  int64  `json:"interval,omitempty"`
}

// authRequest is a validated authentication request, before the user is
// looked up.
type authRequest struct {
	scope             string
	resources         []string
	hintKind, hint    string
	bindingMessage    string
	userCode          string
	acrValues         string
	notificationToken string
	expiry            time.Duration
}

// backchannelAuthorize is POST /v1/backchannel/authorize (CIBA Core §7):
// authenticate the client, validate the request (§7.1, §7.2), resolve the
// user by the resolve_user hook, store the request, tell the user by the
// notify hook, and answer auth_req_id, expires_in and interval (§7.3).
// Errors are those of §13, and a refused request stores nothing.
func (s *Service) backchannelAuthorize(c *fiber.Ctx) error {
	ctx := c.UserContext()
	// Parse.
	// resource (RFC 8707 §2) may repeat; it is read from the body, also
	// beside a signed request object.
	params, resources, err := oauth.ParseBodyResources(c)
	if err != nil {
		return s.refuse(c, err)
	}
	cl, cred, err := oauth.AuthenticateRequest(c, params, storeClients{s.st.Clients, s})
	if err != nil {
		return s.refuse(c, err)
	}
	// §7.1: the client is authenticated; CIBA is for confidential clients.
	if cl.Public() || cred.Method == oauth.AuthNone {
		return s.refuse(c, oauth.ErrUnauthorizedClient().WithDescription("CIBA requires a client that authenticates"))
	}
	if !grant.Permitted(&cl, GrantType) || cl.BackchannelTokenDeliveryMode == "" {
		return s.refuse(c, oauth.ErrUnauthorizedClient().WithDescription("the client is not registered for the %s grant type", GrantType))
	}
	bind, err := grant.CertificateBinding(&cl, cred.Certificate)
	if err != nil {
		return s.refuse(c, err)
	}
	// §7.1.1: a client registered with a signing alg sends signed requests.
	if cl.BackchannelAuthenticationRequestSigningAlg != "" {
		params, err = s.verifyRequestObject(ctx, params, &cl)
		if err != nil {
			return s.refuse(c, err)
		}
	} else if _, signed := params["request"]; signed {
		return s.refuse(c, oauth.ErrInvalidRequest().WithDescription("this client is not registered for signed authentication requests (backchannel_authentication_request_signing_alg)"))
	}

	// Validate.
	req, err := s.validate(params, &cl)
	if err != nil {
		return s.refuse(c, err)
	}
	// Only resources on the server's allow-list (invalid_target).
	if req.resources, err = s.mint.Resources(&cl, resources); err != nil {
		return s.refuse(c, err)
	}
	if req.hintKind == "id_token_hint" {
		if req.hint, err = s.idTokenHintSubject(ctx, req.hint, cl.ID); err != nil {
			return s.refuse(c, err)
		}
	}
	if err := s.userCodeAttemptsLeft(ctx, req); err != nil {
		return s.refuse(c, err)
	}
	user, err := s.resolveUser(ctx, &cl, req)
	if err != nil {
		if oauth.AsError(err).Code == oauth.ErrInvalidUserCode().Code {
			s.countUserCodeFailure(ctx, req)
		}
		return s.refuse(c, err)
	}

	// Act.
	now := s.now()
	authReqID := oauth.RandomToken(32)
	id := store.HashID(authReqID)
	rec := store.BackchannelRequest{
		ClientID:             cl.ID,
		Confirmation:         bind,
		Subject:              user.Sub,
		Profile:              store.Profile(user.Profile),
		Scope:                req.scope,
		Resource:             req.resources,
		BindingMessage:       req.bindingMessage,
		UserCodeVerified:     user.userCodeVerified,
		ACRValues:            req.acrValues,
		DeliveryMode:         cl.BackchannelTokenDeliveryMode,
		NotificationEndpoint: cl.BackchannelClientNotificationEndpoint,
		Interval:             int(s.cfg.CIBA.Interval / time.Second),
		Status:               store.BackchannelPending,
		CreatedAt:            now,
		ExpiresAt:            now.Add(req.expiry),
	}
	if user.Ent != nil {
		rec.Ownership = user.Ent
	}
	rec.NotificationToken, rec.NotificationTokenSealed = s.secrets.sealString(notificationTokenAD(id), req.notificationToken)
	rec.AuthReqID, rec.AuthReqIDSealed = s.secrets.sealString(authReqIDAD(id), authReqID)
	// The request and its entry in the user's list commit together.
	userID := store.BackchannelUserID(rec.Subject, rec.CreatedAt, id)
	create, err := s.st.Backchannel.CreateWrite(id, rec)
	if err != nil {
		return s.refuse(c, oauth.ErrServerError().WithParent(fmt.Errorf("ciba: store request: %w", err)))
	}
	entry, err := s.st.BackchannelByUser.CreateWrite(userID, store.BackchannelUserEntry{RequestID: id, ExpiresAt: rec.Expiry()})
	if err != nil {
		return s.refuse(c, oauth.ErrServerError().WithParent(fmt.Errorf("ciba: store request: %w", err)))
	}
	if err := s.st.Apply(ctx, create, entry); err != nil {
		return s.refuse(c, oauth.ErrServerError().WithParent(fmt.Errorf("ciba: store request: %w", err)))
	}
	if err := s.notify(ctx, &cl, &rec, authReqID); err != nil {
		// Nobody would be asked: the request is withdrawn, and the
		// client told to try again later.
		for _, derr := range []error{s.st.Backchannel.Delete(ctx, id), s.st.BackchannelByUser.Delete(ctx, userID)} {
			if derr != nil {
				slog.ErrorContext(ctx, "ciba: cannot withdraw an unnotified request", "error", derr)
			}
		}
		return s.refuse(c, err)
	}

	// Respond.
	requestsTotal.WithLabelValues("accepted").Inc()
	slog.InfoContext(ctx, "ciba request accepted", "client_id", cl.ID, "sub", rec.Subject,
		"mode", rec.DeliveryMode, "request", id[:12], "expires_at", rec.ExpiresAt)
	resp := Response{AuthReqID: authReqID, ExpiresIn: int64(req.expiry / time.Second)}
	if rec.DeliveryMode != client.DeliveryPush {
		resp.Interval = int64(rec.Interval)
	}
	return oauth.JSON(c, fiber.StatusOK, resp)
}

// notificationTokenAD binds a sealed client_notification_token to its
// request.
func notificationTokenAD(id string) string { return "backchannel/" + id + "/client_notification_token" }

// authReqIDAD is the associated data that seals request id's auth_req_id.
func authReqIDAD(id string) string { return "backchannel/" + id + "/auth_req_id" }

// refuse answers an error of CIBA Core §13 and counts it.
func (s *Service) refuse(c *fiber.Ctx, err error) error {
	requestsTotal.WithLabelValues(oauth.AsError(err).Code).Inc()
	return oauth.WriteError(c, err)
}

// validate applies CIBA Core §7.1 and §7.2 to the parameters.
func (s *Service) validate(p oauth.Params, cl *store.Client) (*authRequest, error) {
	cfg := s.cfg.CIBA
	req := &authRequest{}

	// scope: openid is required (§7.1), and every value must be one the
	// client may ask for (its registered scope, or every scope the server
	// offers when it registered none).
	allowed := s.cfg.RegistrableScopes().Allowed(cl.Scope)
	values, bad := oauth.ParseScope(p.Get("scope"))
	if bad != "" {
		return nil, oauth.ErrInvalidScope().WithDescription("scope value %q is malformed (RFC 6749 §3.3)", bad)
	}
	if !slices.Contains(values, "openid") {
		return nil, oauth.ErrInvalidScope().WithDescription("scope must include openid (CIBA Core §7.1)")
	}
	for _, v := range values {
		if v != "openid" && !slices.Contains(allowed, v) {
			return nil, oauth.ErrInvalidScope().WithDescription("scope %q is not registered for this client or not offered by this server", v)
		}
	}
	req.scope = strings.Join(values, " ")

	// Exactly one hint (§7.1).
	n := 0
	for _, kind := range []string{"login_hint", "id_token_hint", "login_hint_token"} {
		if v, ok := p[kind]; ok {
			n++
			req.hintKind, req.hint = kind, v
		}
	}
	if n != 1 {
		return nil, oauth.ErrInvalidRequest().WithDescription("exactly one of login_hint, id_token_hint and login_hint_token is required (CIBA Core §7.1)")
	}
	if req.hint == "" || len(req.hint) > maxHint {
		return nil, oauth.ErrInvalidRequest().WithDescription("%s must be between 1 and %d characters", req.hintKind, maxHint)
	}

	// binding_message (§7.1, §13 invalid_binding_message).
	req.bindingMessage = p.Get("binding_message")
	if n := utf8.RuneCountInString(req.bindingMessage); n > cfg.MaxBindingMessage {
		return nil, oauth.ErrInvalidBindingMessage().WithDescription("binding_message must be at most %d characters, got %d", cfg.MaxBindingMessage, n)
	}
	if hasControl(req.bindingMessage) {
		return nil, oauth.ErrInvalidBindingMessage().WithDescription("binding_message must not contain control characters")
	}

	// user_code (§7.1, §13 invalid_user_code). Whether a user needs one is
	// the user's matter, not the client's (backchannel_user_code_parameter
	// says the client supports it): resolve_user refuses a missing code
	// for a user who has one with missing_user_code, and the host refuses
	// a code nobody verified (resolveUser).
	req.userCode = p.Get("user_code")
	if req.userCode != "" && (utf8.RuneCountInString(req.userCode) > maxUserCode || hasControl(req.userCode)) {
		return nil, oauth.ErrInvalidUserCode().WithDescription("user_code must be at most %d printable characters", maxUserCode)
	}

	// requested_expiry (§7.1): a positive integer of seconds, bounded.
	req.expiry = cfg.DefaultExpiry
	if raw, ok := p["requested_expiry"]; ok {
		secs, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || secs <= 0 || raw[0] == '+' {
			return nil, oauth.ErrInvalidRequest().WithDescription("requested_expiry must be a positive integer of seconds")
		}
		if secs > int64(cfg.MaxExpiry/time.Second) {
			return nil, oauth.ErrInvalidRequest().WithDescription("requested_expiry must be at most %d seconds", int64(cfg.MaxExpiry/time.Second))
		}
		req.expiry = time.Duration(secs) * time.Second
	}

	// client_notification_token (§7.1): required in ping and push modes.
	req.notificationToken = p.Get("client_notification_token")
	switch cl.BackchannelTokenDeliveryMode {
	case client.DeliveryPing, client.DeliveryPush:
		if req.notificationToken == "" {
			return nil, oauth.ErrInvalidRequest().WithDescription("client_notification_token is required in %s mode (CIBA Core §7.1)", cl.BackchannelTokenDeliveryMode)
		}
		if len(req.notificationToken) > maxNotificationToken || !isToken68(req.notificationToken) {
			return nil, oauth.ErrInvalidRequest().WithDescription("client_notification_token must be at most %d characters of a bearer token (RFC 6750 §2.1)", maxNotificationToken)
		}
	}

	req.acrValues = p.Get("acr_values")
	if len(req.acrValues) > maxACRValues || hasControl(req.acrValues) {
		return nil, oauth.ErrInvalidRequest().WithDescription("acr_values must be at most %d printable characters", maxACRValues)
	}
	return req, nil
}

// resolvedUser is the resolve_user hook's answer, and what the host
// concludes of it: userCodeVerified, a code was sent and the plugin
// reported it verified (UserCodeVerified, absent from older modules).
type resolvedUser struct {
	hook.ResolveUserResult
	userCodeVerified bool
}

// refusalErrors map the resolve_user refusals that are CIBA Core §13
// errors to them; any other refusal is access_denied.
var refusalErrors = map[string]func() *oauth.Error{
	hook.CodeUnknownUser:           oauth.ErrUnknownUserID,
	hook.CodeInvalidUserCode:       oauth.ErrInvalidUserCode,
	hook.CodeMissingUserCode:       oauth.ErrMissingUserCode,
	hook.CodeExpiredLoginHintToken: oauth.ErrExpiredLoginHintToken,
}

// resolveUser asks the resolve_user plugin who the hint names, and
// whether the user_code is theirs (ABI v1). The refusals unknown_user_id,
// invalid_user_code, missing_user_code and expired_login_hint_token are
// the CIBA Core §13 errors of those names; any other refusal denies the
// request; a failing plugin fails closed.
func (s *Service) resolveUser(ctx context.Context, cl *store.Client, req *authRequest) (resolvedUser, error) {
	var u resolvedUser
	if s.hooks == nil {
		return u, oauth.ErrServerError().WithDescription("no user directory is configured").
			WithParent(errors.New("ciba: no plugin host"))
	}
	// PurposeCIBA: the user is asked to authorize a request, so a
	// directory requires the user's code (core/identity asks for a profile).
	var err error
	u.ResolveUserResult, err = s.hooks.ResolveUser(ctx, hook.ResolveUserInput{
		Kind: req.hintKind, Value: req.hint, ClientID: cl.ID, Scope: req.scope, UserCode: req.userCode, Purpose: hook.PurposeCIBA,
	})
	var refusal *plugin.Refusal
	switch {
	case errors.As(err, &refusal):
		slog.InfoContext(ctx, "ciba: resolve_user refused the hint", "client_id", cl.ID, "kind", req.hintKind,
			"code", refusal.Code, "message", refusal.Message, "plugin", refusal.Plugin)
		if mk, ok := refusalErrors[refusal.Code]; ok {
			e := mk()
			if refusal.Code == hook.CodeUnknownUser {
				e = e.WithDescription("no user matches the %s", req.hintKind)
			}
			return u, e
		}
		return u, oauth.ErrAccessDenied().WithDescription("the request was refused")
	case err != nil:
		return u, oauth.ErrServerError().WithDescription("the user directory plugin failed").
			WithParent(fmt.Errorf("ciba: resolve_user: %w", err))
	}
	if u.Sub == "" {
		return u, oauth.ErrServerError().WithDescription("the user directory plugin failed").
			WithParent(errors.New("ciba: resolve_user answered no sub"))
	}
	// The answer is stored and becomes the tokens' subject: check it.
	if err := checkResolved(u, req); err != nil {
		slog.WarnContext(ctx, "ciba: resolve_user answer refused", "client_id", cl.ID, "kind", req.hintKind, "error", err)
		return resolvedUser{}, oauth.ErrServerError().WithDescription("the user directory plugin's answer was refused").
			WithParent(fmt.Errorf("ciba: resolve_user: %w", err))
	}
	// CIBA Core §7.1: the code is verifiable by the OP, so one that nothing
	// compared (the user has none, or the plugin predates the field) is
	// refused rather than passed off as checked.
	switch {
	case req.userCode != "" && !u.UserCodeVerified:
		slog.InfoContext(ctx, "ciba: user_code sent but not verified by resolve_user", "client_id", cl.ID, "kind", req.hintKind)
		return resolvedUser{}, oauth.ErrInvalidUserCode().
			WithDescription("user_code cannot be verified for this user: the user has no code, or the user directory does not check codes")
	case req.userCode == "" && u.UserCodeVerified:
		slog.WarnContext(ctx, "ciba: resolve_user reported a user_code verified when none was sent; ignored", "client_id", cl.ID)
	}
	u.userCodeVerified = req.userCode != "" && u.UserCodeVerified
	return u, nil
}

// checkResolved: sub and every ent value are entity refs, and the user
// resolved for an id_token_hint is that token's subject (req.hint holds
// it by now), whatever the plugin says.
func checkResolved(u resolvedUser, req *authRequest) error {
	if _, err := entityref.Parse(u.Sub); err != nil {
		return fmt.Errorf("sub: %w", err)
	}
	for i, ref := range u.Ent {
		if _, err := entityref.Parse(ref); err != nil {
			return fmt.Errorf("ent[%d]: %w", i, err)
		}
	}
	if req.hintKind == "id_token_hint" && u.Sub != req.hint {
		return fmt.Errorf("answered %q for an id_token_hint whose subject is %q", u.Sub, req.hint)
	}
	return nil
}

// idTokenHintSubject checks an id_token_hint (CIBA Core §7.1): an ID token
// this server issued to this client, expired or not. Its subject is what
// resolve_user is asked about.
func (s *Service) idTokenHintSubject(ctx context.Context, raw, clientID string) (string, error) {
	v, err := s.keys.Verify(ctx, raw)
	if err != nil || !strings.EqualFold(v.Type, token.TypeID) {
		return "", oauth.ErrInvalidRequest().WithDescription("id_token_hint is not an ID token issued by this server")
	}
	var c struct {
		Issuer   string          `json:"iss"`
		Subject  string          `json:"sub"`
		Audience json.RawMessage `json:"aud"`
	}
	if err := json.Unmarshal(v.Payload, &c); err != nil || c.Issuer != s.cfg.Issuer() || c.Subject == "" {
		return "", oauth.ErrInvalidRequest().WithDescription("id_token_hint is not an ID token issued by this server")
	}
	if !audienceHas(c.Audience, clientID) {
		return "", oauth.ErrInvalidRequest().WithDescription("id_token_hint was issued to another client")
	}
	return c.Subject, nil
}

func audienceHas(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	return json.Unmarshal(raw, &many) == nil && slices.Contains(many, want)
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || (r >= 0x7f && r < 0xa0) })
}

// isToken68 is RFC 6750 §2.1's b64token: what can follow "Bearer ".
func isToken68(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || strings.IndexByte("-._~+/=", b) >= 0) {
			return false
		}
	}
	return s != ""
}
