package token

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/mtls"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// Handler serves userinfo, revocation and introspection.
type Handler struct {
	cfg    *config.Config
	st     *store.Store
	issuer *Issuer
	// clients finds the requests' clients: the store's unless WithClients.
	clients oauth.ClientGetter
}

// NewHandler returns the handler.
func NewHandler(cfg *config.Config, st *store.Store, issuer *Issuer) *Handler {
	return &Handler{cfg: cfg, st: st, issuer: issuer, clients: st.Clients}
}

// WithClients finds clients through clients (client.Clients: the store's
// and those of client ID metadata documents). Call it before Register.
func (h *Handler) WithClients(clients oauth.ClientGetter) *Handler {
	h.clients = clients
	return h
}

// Register mounts /v1/userinfo, /v1/revoke and /v1/introspect on r.
func (h *Handler) Register(r fiber.Router) {
	r.Get("/v1/userinfo", h.userinfo)
	r.Post("/v1/userinfo", h.userinfo)
	r.Post("/v1/revoke", h.revoke)
	r.Post("/v1/introspect", h.introspect)
}

// userinfoResponse is the OIDC Core §5.3.2 answer: sub always, the Backstage
// ownership refs, and the profile claims the token's scope allows.
type userinfoResponse struct {
	Subject   string   `json:"sub"`
	Ownership []string `json:"ent,omitempty"`
	profileClaims
}

// userinfo is OIDC Core §5.3: the bearer token must carry the openid scope.
func (h *Handler) userinfo(c *fiber.Ctx) error {
	ctx := c.UserContext()
	raw, err := bearerToken(c)
	if err != nil {
		return err
	}
	v, err := h.issuer.VerifyAccessToken(ctx, raw)
	if err != nil {
		return err
	}
	if err := checkConfirmation(c, &v); err != nil {
		return err
	}
	if !HasScope(v.Scope, "openid") {
		return oauth.ErrInsufficientScope().WithDescription("userinfo requires the openid scope").
			WithChallenge(`Bearer realm="gatehouse", error="insufficient_scope", error_description="userinfo requires the openid scope", scope="openid"`)
	}
	resp := userinfoResponse{Subject: v.Subject, Ownership: v.Ownership}
	if v.GrantID != "" {
		g, err := h.st.Grants.Get(ctx, v.GrantID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			// Revoked or expired since VerifyAccessToken looked.
			return invalidToken("the grant of this access token has been revoked", nil)
		case err != nil:
			return fmt.Errorf("token: userinfo grant %s: %w", v.GrantID, err)
		}
		resp.profileClaims = profileFor(g.Subject, g.Profile, v.Scope)
		if len(g.Claims) > 0 {
			// OIDC Core §5.3.2 allows other claims: the sign_in hook's,
			// as the grant's ID token has them; registered names (sub
			// first) are never taken from them.
			body, err := marshalClaims(&resp, g.Claims)
			if err != nil {
				return fmt.Errorf("token: userinfo claims of grant %s: %w", v.GrantID, err)
			}
			return oauth.JSON(c, fiber.StatusOK, json.RawMessage(body))
		}
	}
	return oauth.JSON(c, fiber.StatusOK, resp)
}

// checkConfirmation is RFC 8705 §3: a certificate-bound access token is
// accepted only on a request that comes with the same certificate;
// otherwise it is RFC 6750 invalid_token (401), as any invalid token. Every
// endpoint of the server that accepts access tokens calls it.
func checkConfirmation(c *fiber.Ctx, v *VerifiedAccess) error {
	if v.Confirmation == "" {
		return nil
	}
	cert, err := mtls.Peer(c)
	if err != nil {
		return invalidRequestBearer("the client certificate forwarded by the proxy is malformed")
	}
	if cert == nil {
		return invalidToken("the access token is bound to a client certificate and the request came without one", nil)
	}
	if subtle.ConstantTimeCompare([]byte(cert.Thumbprint()), []byte(v.Confirmation)) != 1 {
		return invalidToken("the access token is bound to another client certificate", nil)
	}
	return nil
}

// bearerToken reads the access token from the Authorization header
// (RFC 6750 §2.1) or a form-encoded POST body (§2.2); using both is
// refused (§2: "MUST NOT use more than one method").
func bearerToken(c *fiber.Ctx) (string, error) {
	var fromHeader string
	if header := c.Get(fiber.HeaderAuthorization); header != "" {
		scheme, value, _ := strings.Cut(header, " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(value) == "" {
			return "", invalidRequestBearer("the Authorization header must be Bearer <token>")
		}
		fromHeader = strings.TrimSpace(value)
	}
	var fromBody string
	if c.Method() == fiber.MethodPost {
		mediaType, _, _ := mime.ParseMediaType(string(c.Request().Header.ContentType()))
		if mediaType == fiber.MIMEApplicationForm {
			p, err := oauth.ParseBody(c)
			if err != nil {
				return "", err
			}
			fromBody = p.Get("access_token")
		}
	}
	switch {
	case fromHeader != "" && fromBody != "":
		return "", invalidRequestBearer("send the access token once, in the header or the body")
	case fromHeader != "":
		return fromHeader, nil
	case fromBody != "":
		return fromBody, nil
	}
	// RFC 6750 §3.1: a request without credentials gets a bare challenge.
	return "", oauth.ErrInvalidToken().WithDescription("an access token is required").
		WithChallenge(`Bearer realm="gatehouse"`)
}

func invalidRequestBearer(description string) *oauth.Error {
	return oauth.ErrInvalidRequest().WithDescription("%s", description).
		WithChallenge(bearerChallenge("invalid_request", description))
}

// revoke is RFC 7009 §2: the client revokes one of its own tokens. A
// refresh token revokes its whole grant, and so the access tokens made
// from it (§2.1); an access token is revoked alone, by its jti. A token
// that is unknown, invalid, expired or another client's is answered 200
// all the same (§2.2), so the endpoint reveals nothing about tokens.
func (h *Handler) revoke(c *fiber.Ctx) error {
	ctx := c.UserContext()
	p, err := oauth.ParseBody(c)
	if err != nil {
		return err
	}
	client, _, err := oauth.AuthenticateRequest(c, p, h.clients)
	if err != nil {
		return err
	}
	tok := p.Get("token")
	if tok == "" {
		return oauth.ErrInvalidRequest().WithDescription("the token parameter is required")
	}
	// The hint (§2.1) only saves a lookup; the token's shape tells us more
	// reliably (JWTs have dots, refresh tokens never do), so it is not used.
	switch {
	case p.Get("token_type_hint") == AuthReqIDHint:
		// A CIBA auth_req_id is a token of no other kind: the hint names it.
		err = h.revokeBackchannel(ctx, client.ID, tok)
	case looksLikeJWT(tok):
		err = h.revokeAccess(ctx, client.ID, tok)
	default:
		err = h.revokeRefresh(ctx, client.ID, tok)
	}
	if err != nil {
		return err
	}
	// §2.2: the body is ignored, but an empty JSON object keeps every
	// answer of the API JSON (Fiber's SendStatus would send "OK" as text).
	return oauth.JSON(c, fiber.StatusOK, struct{}{})
}

// AuthReqIDHint is the token_type_hint that makes the token a CIBA
// auth_req_id at the revocation endpoint: the grant made from that request,
// with every access and refresh token of it, is revoked.
const AuthReqIDHint = "auth_req_id"

// revokeBackchannel revokes the grant made from the CIBA request whose
// auth_req_id is tok, when clientID owns it; anything else is ignored
// (RFC 7009 §2.2).
func (h *Handler) revokeBackchannel(ctx context.Context, clientID, tok string) error {
	link, err := h.st.BackchannelGrants.Get(ctx, store.HashID(tok))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("token: revoke: auth_req_id lookup: %w", err)
	}
	if link.ClientID != clientID {
		slog.InfoContext(ctx, "revocation of another client's auth_req_id ignored", "client_id", clientID)
		return nil
	}
	if err := h.issuer.RevokeGrant(ctx, link.GrantID); err != nil {
		return err
	}
	slog.InfoContext(ctx, "grant of a CIBA request revoked", "client_id", clientID, "grant_id", link.GrantID)
	return nil
}

func (h *Handler) revokeRefresh(ctx context.Context, clientID, tok string) error {
	id := store.HashID(tok)
	rec, err := h.st.RefreshTokens.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("token: revoke: refresh token lookup: %w", err)
	}
	if rec.ClientID != clientID {
		slog.InfoContext(ctx, "revocation of another client's refresh token ignored", "client_id", clientID)
		return nil
	}
	if rec.GrantID != "" {
		if err := h.issuer.RevokeGrant(ctx, rec.GrantID); err != nil {
			return err
		}
	}
	if err := h.st.RefreshTokens.Delete(ctx, id); err != nil {
		return fmt.Errorf("token: revoke refresh token: %w", err)
	}
	slog.InfoContext(ctx, "refresh token revoked with its grant", "client_id", clientID, "grant_id", rec.GrantID)
	return nil
}

func (h *Handler) revokeAccess(ctx context.Context, clientID, tok string) error {
	v, err := h.issuer.parseAccessToken(ctx, tok)
	if err != nil {
		return nil // invalid or expired: nothing to revoke
	}
	if v.ClientID != clientID {
		slog.InfoContext(ctx, "revocation of another client's access token ignored", "client_id", clientID)
		return nil
	}
	// Kept until verification would refuse the token anyway (exp + leeway).
	rev := store.Revocation{ExpiresAt: v.ExpiresAt.Add(leeway)}
	if err := h.st.Revocations.Put(ctx, v.JTI, rev); err != nil {
		return fmt.Errorf("token: revoke access token: %w", err)
	}
	slog.InfoContext(ctx, "access token revoked", "client_id", clientID, "jti", v.JTI)
	return nil
}

func looksLikeJWT(tok string) bool { return strings.Count(tok, ".") == 2 }

// introspection is the RFC 7662 §2.2 response.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Subject   string   `json:"sub,omitempty"`
	ExpiresAt int64    `json:"exp,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	Audience  []string `json:"aud,omitempty"`
	Issuer    string   `json:"iss,omitempty"`
	JTI       string   `json:"jti,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Ownership []string `json:"ent,omitempty"`
	// Cnf is the certificate a bound access token is bound to (RFC 8705 §3.2).
	Cnf *Confirmation `json:"cnf,omitempty"`
}

// introspect is RFC 7662: a confidential client asks whether a token is
// active. §2.1 requires authorization; a public client cannot keep a
// secret, so it is refused. A client learns about its own tokens only; a
// client registered as a resource server (resource_server) also about
// other clients' access tokens, never their refresh tokens, which no
// resource server is ever sent. Any other token is answered
// {"active": false}, as if it did not exist (§2.2, §4): the endpoint tells
// a caller nothing about tokens it may not see.
func (h *Handler) introspect(c *fiber.Ctx) error {
	ctx := c.UserContext()
	p, err := oauth.ParseBody(c)
	if err != nil {
		return err
	}
	client, _, err := oauth.AuthenticateRequest(c, p, h.clients)
	if err != nil {
		return err
	}
	if client.Public() {
		return oauth.ErrInvalidClient().WithDescription("introspection requires a confidential client")
	}
	tok := p.Get("token")
	if tok == "" {
		return oauth.ErrInvalidRequest().WithDescription("the token parameter is required")
	}
	var resp introspection
	if looksLikeJWT(tok) {
		resp, err = h.introspectAccess(ctx, tok)
		if resp.Active && resp.ClientID != client.ID && !client.ResourceServer {
			slog.InfoContext(ctx, "introspection of another client's access token answered inactive",
				"client_id", client.ID, "token_client_id", resp.ClientID)
			resp = introspection{}
		}
	} else {
		resp, err = h.introspectRefresh(ctx, tok)
		if resp.Active && resp.ClientID != client.ID {
			slog.InfoContext(ctx, "introspection of another client's refresh token answered inactive",
				"client_id", client.ID, "token_client_id", resp.ClientID)
			resp = introspection{}
		}
	}
	if err != nil {
		return err
	}
	return oauth.JSON(c, fiber.StatusOK, resp)
}

func (h *Handler) introspectAccess(ctx context.Context, tok string) (introspection, error) {
	v, err := h.issuer.VerifyAccessToken(ctx, tok)
	if err != nil {
		if oe := oauth.AsError(err); oe.Code == "invalid_token" {
			return introspection{}, nil
		}
		return introspection{}, err
	}
	return introspection{
		Active:    true,
		Scope:     v.Scope,
		ClientID:  v.ClientID,
		Subject:   v.Subject,
		ExpiresAt: v.ExpiresAt.Unix(),
		IssuedAt:  v.IssuedAt.Unix(),
		Audience:  v.Audience,
		Issuer:    h.issuer.iss,
		JTI:       v.JTI,
		TokenType: "Bearer",
		Ownership: v.Ownership,
		Cnf:       confirmation(v.Confirmation),
	}, nil
}

func confirmation(x5t string) *Confirmation {
	if x5t == "" {
		return nil
	}
	return &Confirmation{X5tS256: x5t}
}

func (h *Handler) introspectRefresh(ctx context.Context, tok string) (introspection, error) {
	rec, err := h.st.RefreshTokens.Get(ctx, store.HashID(tok))
	if errors.Is(err, store.ErrNotFound) {
		return introspection{}, nil
	}
	if err != nil {
		return introspection{}, fmt.Errorf("token: introspect refresh token: %w", err)
	}
	if rec.Used || !h.issuer.now().Before(rec.ExpiresAt) {
		return introspection{}, nil
	}
	if err := h.issuer.ClientExists(ctx, rec.ClientID); err != nil {
		if oe := oauth.AsError(err); oe.Code == "invalid_token" {
			return introspection{}, nil // the client was deleted
		}
		return introspection{}, err
	}
	resp := introspection{
		Active:    true,
		Scope:     rec.Scope,
		ClientID:  rec.ClientID,
		ExpiresAt: rec.ExpiresAt.Unix(),
		IssuedAt:  rec.IssuedAt.Unix(),
		TokenType: "refresh_token",
	}
	if rec.GrantID != "" {
		g, err := h.st.Grants.Get(ctx, rec.GrantID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return introspection{}, nil
		case err != nil:
			return introspection{}, fmt.Errorf("token: introspect grant %s: %w", rec.GrantID, err)
		case g.Revoked || (!g.ExpiresAt.IsZero() && !h.issuer.now().Before(g.ExpiresAt)):
			return introspection{}, nil
		}
		resp.Subject = g.Subject
		resp.Cnf = confirmation(g.Confirmation) // RFC 8705 §4
	}
	return resp, nil
}
