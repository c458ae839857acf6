// Package client serves OAuth 2.0 Dynamic Client Registration (RFC 7591)
// and its management protocol (RFC 7592): clients register themselves at
// /v1/register and then read, replace or delete their registration at
// /v1/register/{client_id} with the registration access token they got.
package client

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"mime"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/keyset"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// Handler serves the registration and client configuration endpoints.
type Handler struct {
	cfg    *config.Config
	st     *store.Store
	policy policy
	// initialToken is the SHA-256 of registration.initial_access_token, or
	// nil when registration needs none.
	initialToken []byte
	// adminToken is the SHA-256 of admin.token, or nil when none is set.
	adminToken []byte
}

// New returns the handler.
func New(cfg *config.Config, st *store.Store) *Handler {
	h := &Handler{cfg: cfg, st: st, policy: registrationPolicy(cfg)}
	if t := cfg.Registration.InitialAccessToken; t != "" {
		sum := sha256.Sum256([]byte(t))
		h.initialToken = sum[:]
	}
	if t := cfg.Admin.Token; t != "" {
		sum := sha256.Sum256([]byte(t))
		h.adminToken = sum[:]
	}
	return h
}

// registrationPolicy is cfg's part of validating client metadata,
// registered or published in a document.
func registrationPolicy(cfg *config.Config) policy {
	var algs []string
	for _, alg := range keyset.AlgorithmsFor(cfg.Keys.Algorithm) {
		algs = append(algs, string(alg))
	}
	p := newPolicy(cfg.Registration.RedirectURIPatterns)
	p.idTokenAlgs = algs
	p.allowPrivate = cfg.Outbound.AllowPrivate
	p.scopes = cfg.RegistrableScopes()
	p.resources = oauth.NewResourcePolicy(cfg.Tokens.Resources, cfg.Tokens.RegisteredResources, cfg.FixedResources()...)
	p.mtlsMethods = cfg.MTLSMethods()
	return p
}

// Register mounts the endpoints on r (already under the base path).
func (h *Handler) Register(r fiber.Router) {
	r.Post("/v1/register", h.register)
	r.Get("/v1/register/:client_id", h.read)
	r.Put("/v1/register/:client_id", h.update)
	r.Delete("/v1/register/:client_id", h.remove)
	r.Post(ClientConfigPath, h.clientConfig)
	if h.cfg.CIBA.DoorkeeperRoutes {
		r.Post(DoorkeeperClientConfigPath, h.clientConfig)
	}
}

// Lengths of the random values handed to a client, in bytes of entropy.
const (
	clientIDBytes          = 16
	clientSecretBytes      = 32
	registrationTokenBytes = 32
)

// realm is the WWW-Authenticate realm of the bearer challenges (RFC 6750 §3).
const realm = `Bearer realm="gatehouse"`

// response is a client information response (RFC 7591 §3.2.1, RFC 7592 §3):
// the registered metadata and what the server issued.
type response struct {
	store.ClientMetadata
	ClientID string `json:"client_id"`
	// ClientSecret is only present when it was just issued (or, in an
	// update, presented): the server keeps no plaintext copy.
	ClientSecret     string `json:"client_secret,omitempty"`
	ClientIDIssuedAt int64  `json:"client_id_issued_at"`
	// ClientSecretExpiresAt is required when the client has a secret; 0
	// means it does not expire.
	ClientSecretExpiresAt   *int64 `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken string `json:"registration_access_token"`
	RegistrationClientURI   string `json:"registration_client_uri"`
}

func (h *Handler) respond(c *fiber.Ctx, status int, cl store.Client, secret, regToken string) error {
	res := response{
		ClientMetadata:          cl.ClientMetadata,
		ClientID:                cl.ID,
		ClientSecret:            secret,
		ClientIDIssuedAt:        cl.IssuedAt.Unix(),
		RegistrationAccessToken: regToken,
		RegistrationClientURI:   h.clientURI(cl.ID),
	}
	if len(cl.SecretHash) > 0 {
		var expires int64
		if !cl.SecretExpiresAt.IsZero() {
			expires = cl.SecretExpiresAt.Unix()
		}
		res.ClientSecretExpiresAt = &expires
	}
	return oauth.JSON(c, status, res)
}

// clientURI is the client configuration endpoint of id (RFC 7592 §3).
func (h *Handler) clientURI(id string) string {
	return h.cfg.Issuer() + "/v1/register/" + id
}

// register creates a client (RFC 7591 §3.1): admit, parse, validate, store,
// answer 201 with the credentials.
func (h *Handler) register(c *fiber.Ctx) error {
	ctx := c.UserContext()
	vetted, err := h.admit(c)
	if err != nil {
		return oauth.WriteError(c, err)
	}
	reg, err := h.parse(c)
	if err != nil {
		return oauth.WriteError(c, err)
	}
	if reg.meta.ResourceServer && !vetted {
		return oauth.WriteError(c, oauth.ErrInvalidClientMetadata().
			WithDescription("resource_server may only be set by a registration that presents the initial access token or the admin token"))
	}
	var secret string
	cl := store.Client{
		ClientMetadata:  reg.meta,
		IssuedAt:        time.Now().UTC().Truncate(time.Second),
		AdmittedByToken: vetted,
	}
	if err := h.policy.checkResources(&cl.ClientMetadata, cl.Kind()); err != nil {
		return oauth.WriteError(c, err)
	}
	if oauth.UsesSecret(cl.TokenEndpointAuthMethod) {
		secret = oauth.RandomToken(clientSecretBytes)
		cl.SecretHash = oauth.HashSecret(secret)
	}
	regToken := oauth.RandomToken(registrationTokenBytes)
	cl.RegistrationTokenHash = oauth.HashSecret(regToken)
	if err := h.create(ctx, &cl); err != nil {
		return oauth.WriteError(c, oauth.ErrServerError().WithParent(err))
	}
	slog.InfoContext(ctx, "client registered", "client_id", cl.ID, "kind", cl.Kind(), "client_name", cl.ClientName,
		"grant_types", cl.GrantTypes, "auth_method", cl.TokenEndpointAuthMethod, "redirect_uris", cl.RedirectURIs)
	return h.respond(c, fiber.StatusCreated, cl, secret, regToken)
}

// create stores cl under a fresh client id. A collision of 128 random bits
// does not happen in practice, but if one did it must not overwrite a client.
func (h *Handler) create(ctx context.Context, cl *store.Client) error {
	var err error
	for range 3 {
		cl.ID = oauth.RandomToken(clientIDBytes)
		err = h.st.Clients.Create(ctx, cl.ID, *cl)
		if !errors.Is(err, store.ErrConflict) {
			break
		}
	}
	return err
}

// admit decides whether a registration request may proceed (RFC 7591 §3):
// with an initial access token configured, only its bearers (and the
// admin token's) may register; otherwise registration is open or closed by
// configuration. vetted reports that the request bore one of the
// operator's tokens, which lets it set what a client must not grant itself
// (resource_server) and trusts its redirect URIs (store.ClientRegistered).
func (h *Handler) admit(c *fiber.Ctx) (vetted bool, _ *oauth.Error) {
	token, hasToken := bearer(c)
	if hasToken {
		sum := sha256.Sum256([]byte(token))
		vetted = matches(sum[:], h.initialToken) || matches(sum[:], h.adminToken)
	}
	switch {
	case vetted:
		return true, nil
	case h.initialToken != nil && !hasToken:
		return false, oauth.ErrInvalidToken().WithDescription("an initial access token is required to register a client").
			WithChallenge(realm)
	case h.initialToken != nil:
		return false, oauth.ErrInvalidToken().WithDescription("the initial access token is invalid").
			WithChallenge(realm + `, error="invalid_token"`)
	case !h.cfg.Registration.Open:
		return false, oauth.ErrAccessDenied().WithDescription("registration is closed")
	}
	// Open registration ignores a bearer it does not know: the client is
	// registered as any other, unvetted.
	return false, nil
}

// matches compares a token's SHA-256 with a configured one in constant time.
func matches(sum, want []byte) bool {
	return want != nil && subtle.ConstantTimeCompare(sum, want) == 1
}

// parse checks the media type and reads the body (RFC 7591 §3.1: the
// request is a JSON object sent as application/json).
func (h *Handler) parse(c *fiber.Ctx) (registration, *oauth.Error) {
	mediaType, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mediaType != fiber.MIMEApplicationJSON {
		return registration{}, oauth.ErrInvalidRequest().
			WithDescription("the request body must be a JSON object sent as application/json (RFC 7591 §3.1)")
	}
	body, oerr := oauth.Body(c)
	if oerr != nil {
		return registration{}, oerr
	}
	return parseRegistration(body, h.policy)
}

// bearer returns the token of an "Authorization: Bearer" header (RFC 6750 §2.1).
func bearer(c *fiber.Ctx) (string, bool) {
	scheme, token, ok := strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// unknownClientHash stands in for a missing client's registration token
// hash, so that an unknown client costs the same comparison as a known one.
var unknownClientHash = oauth.HashSecret("no client")

// manage authenticates a client configuration request (RFC 7592 §2): the
// bearer must be the client's registration access token. A missing or wrong
// token, an unknown client and a static client all get the same 401, so that
// nothing is learned about which client ids exist.
func (h *Handler) manage(c *fiber.Ctx) (store.Client, string, *oauth.Error) {
	return h.manageID(c, strings.Clone(c.Params("client_id")))
}

// manageID is manage for the client id names.
func (h *Handler) manageID(c *fiber.Ctx, id string) (store.Client, string, *oauth.Error) {
	token, ok := bearer(c)
	if !ok {
		return store.Client{}, "", oauth.ErrInvalidToken().
			WithDescription("the registration access token is required").WithChallenge(realm)
	}
	refused := oauth.ErrInvalidToken().
		WithDescription("the registration access token is invalid or the client does not exist").
		WithChallenge(realm + `, error="invalid_token"`)
	cl, err := h.st.Clients.Get(c.UserContext(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		oauth.SecretMatches(token, unknownClientHash)
		return store.Client{}, "", refused.WithParent(err)
	case err != nil:
		return store.Client{}, "", oauth.ErrServerError().WithParent(err)
	}
	if !oauth.SecretMatches(token, cl.RegistrationTokenHash) || cl.Static {
		return store.Client{}, "", refused
	}
	return cl, token, nil
}

// read answers a client read request (RFC 7592 §2.1) with the current
// metadata. The client secret is not in it: the server keeps only its hash.
// The registration access token is the one the request presented.
func (h *Handler) read(c *fiber.Ctx) error {
	cl, token, err := h.manage(c)
	if err != nil {
		return oauth.WriteError(c, err)
	}
	return h.respond(c, fiber.StatusOK, cl, "", token)
}

// errStale ends an update whose client changed under it in a way that
// invalidates the request (its token or secret no longer match).
var errStale = errors.New("client: registration changed during the update")

// update replaces a client's metadata (RFC 7592 §2.2): validated exactly as
// a registration, with omitted fields removed and defaults re-applied. The
// registration access token is not rotated.
func (h *Handler) update(c *fiber.Ctx) error {
	cl, token, oerr := h.manage(c)
	if oerr != nil {
		return oauth.WriteError(c, oerr)
	}
	reg, oerr := h.parse(c)
	if oerr != nil {
		return oauth.WriteError(c, oerr)
	}
	return h.apply(c, cl, token, reg)
}

// apply replaces client cl's metadata with reg's, for a request that
// presented the registration access token token (RFC 7592 §2.2).
func (h *Handler) apply(c *fiber.Ctx, cl store.Client, token string, reg registration) error {
	ctx := c.UserContext()
	if reg.clientID != cl.ID {
		return oauth.WriteError(c, oauth.ErrInvalidRequest().
			WithDescription("the body must include client_id, equal to the client being updated (RFC 7592 §2.2)"))
	}
	if reg.hasClientSecret && !oauth.SecretMatches(reg.clientSecret, cl.SecretHash) {
		return oauth.WriteError(c, secretMismatch())
	}
	if reg.meta.ResourceServer && !cl.ResourceServer {
		return oauth.WriteError(c, selfPromotion())
	}
	if err := h.policy.checkResources(&reg.meta, cl.Kind()); err != nil {
		return oauth.WriteError(c, err)
	}
	// A client that starts authenticating with a secret needs one; the candidate is
	// drawn outside the compare-and-swap, which may run more than once.
	candidate := oauth.RandomToken(clientSecretBytes)
	var issued string
	updated, err := h.st.Clients.Update(ctx, cl.ID, func(old store.Client) (store.Client, error) {
		issued = ""
		if old.Static || !oauth.SecretMatches(token, old.RegistrationTokenHash) {
			return old, errStale
		}
		if reg.hasClientSecret && !oauth.SecretMatches(reg.clientSecret, old.SecretHash) {
			return old, secretMismatch()
		}
		if reg.meta.ResourceServer && !old.ResourceServer {
			return old, selfPromotion()
		}
		next := old
		next.ClientMetadata = reg.meta
		switch {
		case !oauth.UsesSecret(next.TokenEndpointAuthMethod):
			next.SecretHash, next.SecretExpiresAt = nil, time.Time{}
		case len(old.SecretHash) == 0:
			issued = candidate
			next.SecretHash, next.SecretExpiresAt = oauth.HashSecret(candidate), time.Time{}
		}
		return next, nil
	})
	var oe *oauth.Error
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, errStale):
		return oauth.WriteError(c, oauth.ErrInvalidToken().
			WithDescription("the registration access token is invalid or the client does not exist").
			WithChallenge(realm+`, error="invalid_token"`).WithParent(err))
	case errors.As(err, &oe):
		return oauth.WriteError(c, oe)
	case err != nil:
		return oauth.WriteError(c, oauth.ErrServerError().WithParent(err))
	}
	slog.InfoContext(ctx, "client updated", "client_id", updated.ID, "client_name", updated.ClientName,
		"grant_types", updated.GrantTypes, "auth_method", updated.TokenEndpointAuthMethod,
		"redirect_uris", updated.RedirectURIs, "secret_issued", issued != "")
	secret := issued
	if secret == "" && reg.hasClientSecret && len(updated.SecretHash) > 0 {
		secret = reg.clientSecret // presented and verified: RFC 7592 §3 returns it
	}
	return h.respond(c, fiber.StatusOK, updated, secret, token)
}

// selfPromotion refuses an update that would make a client a resource
// server: the registration access token is the client's own, and a client
// may give the flag up but never take it.
func selfPromotion() *oauth.Error {
	return oauth.ErrInvalidClientMetadata().
		WithDescription("resource_server cannot be set by an update; only a registration with the initial access token or the admin token sets it")
}

func secretMismatch() *oauth.Error {
	return oauth.ErrInvalidClientMetadata().
		WithDescription("client_secret does not match the issued secret; a client cannot choose its own secret (RFC 7592 §2.2)")
}

// remove deletes a client (RFC 7592 §2.3) and answers 204. The one delete
// is the revocation of everything the client holds, atomically: access
// tokens verify, refresh tokens and codes redeem, CIBA requests are shown,
// answered and called back only while the client's record exists
// (token.Issuer.ClientExists, the CIBA service and queue); the records
// themselves expire with their own lifetimes.
func (h *Handler) remove(c *fiber.Ctx) error {
	ctx := c.UserContext()
	cl, _, err := h.manage(c)
	if err != nil {
		return oauth.WriteError(c, err)
	}
	if err := h.st.Clients.Delete(ctx, cl.ID); err != nil {
		return oauth.WriteError(c, oauth.ErrServerError().WithParent(err))
	}
	slog.InfoContext(ctx, "client deleted", "client_id", cl.ID, "client_name", cl.ClientName)
	oauth.NoStore(c)
	return c.SendStatus(fiber.StatusNoContent)
}
