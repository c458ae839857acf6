// Package grant serves the token endpoint, POST /v1/token (RFC 6749 §3.2):
// it parses the request, authenticates the client, and hands the request
// to the Flow registered for its grant_type. Each grant type lives in a
// file of its own (authcode.go, refresh.go, clientcredentials.go) and reads
// top to bottom as parse → validate → act → respond.
package grant

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/mtls"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

// Grant type identifiers (RFC 6749 §4.1.3, §4.4.2, §6).
const (
	TypeAuthorizationCode = "authorization_code"
	TypeRefreshToken      = "refresh_token"
	TypeClientCredentials = "client_credentials"
)

// Flow is one grant type at the token endpoint, chosen by grant_type.
// The endpoint has already parsed the request and authenticated the
// client, and checked that the client registered the grant type; Handle
// validates the grant, acts, and returns the tokens. Errors are
// *oauth.Error (anything else is answered as server_error). A refused
// request must change nothing.
type Flow interface {
	GrantType() string
	Handle(ctx context.Context, req *Request) (*Response, error)
}

// ReadAheader is a Flow that can tell from a request's parameters which
// records it will read first (the code, the refresh token): the endpoint
// reads them with the client, in one round trip on PostgreSQL
// (store.Store.ReadAhead).
type ReadAheader interface {
	ReadAhead(params oauth.Params) []string
}

// Request is a token request whose client is authenticated.
type Request struct {
	Client store.Client
	// AuthMethod is how the client authenticated: oauth.AuthBasic,
	// oauth.AuthPost or oauth.AuthNone.
	AuthMethod string
	Params     oauth.Params
	// Resources are the request's RFC 8707 resource indicators, as sent
	// (the parameter may repeat, §2).
	Resources []string
	// Confirmation is the x5t#S256 of the client certificate the access
	// tokens are bound to (RFC 8705 §3), "" when they are not bound.
	Confirmation string
}

// Response is a successful token response (RFC 6749 §5.1, OIDC Core
// §3.1.3.3). scope is sent whenever a scope was granted, so that clients
// never have to guess; an empty one (client_credentials for a client that
// registered none) is left out rather than sent as "".
type Response struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

// Handler serves the token endpoint.
type Handler struct {
	cfg   *config.Config
	st    *store.Store
	mint  *Minter
	flows map[string]Flow
	order []string // grant types, as registered
	// clients finds the requests' clients: the store's unless WithClients.
	clients oauth.ClientGetter
}

// New returns the token endpoint with the authorization_code,
// refresh_token and client_credentials grants.
func New(cfg *config.Config, st *store.Store, issuer *token.Issuer) *Handler {
	h := &Handler{cfg: cfg, st: st, mint: NewMinter(cfg, st, issuer), flows: map[string]Flow{}, clients: st.Clients}
	for _, f := range []Flow{
		NewAuthorizationCode(st, issuer, h.mint),
		NewRefresh(st, issuer, h.mint),
		NewClientCredentials(h.mint),
	} {
		if err := h.Add(f); err != nil {
			panic(err) // the built-in grant types are distinct
		}
	}
	return h
}

// WithClients finds clients through clients (client.Clients: the store's
// and those of client ID metadata documents). Call it before Register.
func (h *Handler) WithClients(clients oauth.ClientGetter) *Handler {
	h.clients = clients
	return h
}

// Minter is the token minter the built-in flows use, for flows added later
// (CIBA) to answer the same way.
func (h *Handler) Minter() *Minter { return h.mint }

// Add registers another grant type. Call it before Register; a grant type
// can be registered once.
func (h *Handler) Add(f Flow) error {
	gt := f.GrantType()
	if gt == "" {
		return errors.New("grant: a flow must name its grant type")
	}
	if _, dup := h.flows[gt]; dup {
		return fmt.Errorf("grant: grant type %q is already registered", gt)
	}
	h.flows[gt] = f
	h.order = append(h.order, gt)
	return nil
}

// GrantTypes lists the registered grant types in the order they were
// registered: discovery's grant_types_supported.
func (h *Handler) GrantTypes() []string { return slices.Clone(h.order) }

// Register mounts POST /v1/token on r (already under the base path).
func (h *Handler) Register(r fiber.Router) {
	r.Post("/v1/token", h.token)
}

// token is RFC 6749 §3.2: parse the body, find the grant type,
// authenticate the client (§2.3), check it may use the grant type
// (RFC 7591 §2 grant_types), then let the flow answer. The client's
// record and those the flow names (ReadAheader) are read together first.
func (h *Handler) token(c *fiber.Ctx) error {
	ctx := c.UserContext()
	params, resources, err := oauth.ParseBodyResources(c)
	if err != nil {
		return oauth.WriteError(c, err)
	}
	grantType := params.Get("grant_type")
	if grantType == "" {
		return oauth.WriteError(c, oauth.ErrInvalidRequest().WithDescription("grant_type is required"))
	}
	flow, ok := h.flows[grantType]
	if !ok {
		return oauth.WriteError(c, oauth.ErrUnsupportedGrantType().WithDescription("grant type %q is not supported", grantType))
	}
	cred, err := oauth.ReadCredentials(c, params)
	if err != nil {
		return oauth.WriteError(c, err)
	}
	keys := []string{h.st.Clients.Key(cred.ClientID)}
	if ra, ok := flow.(ReadAheader); ok {
		keys = append(keys, ra.ReadAhead(params)...)
	}
	ctx, err = h.st.ReadAhead(ctx, keys...)
	if err != nil {
		return oauth.WriteError(c, err)
	}
	client, cred, err := oauth.AuthenticateCredentials(ctx, c, cred, h.clients)
	if err != nil {
		return oauth.WriteError(c, err)
	}
	if !Permitted(&client, grantType) {
		return oauth.WriteError(c, oauth.ErrUnauthorizedClient().WithDescription("the client is not registered for the %s grant type", grantType))
	}
	bind, err := CertificateBinding(&client, cred.Certificate)
	if err != nil {
		return oauth.WriteError(c, err)
	}
	resp, err := flow.Handle(ctx, &Request{Client: client, AuthMethod: cred.Method, Params: params, Resources: resources, Confirmation: bind})
	if err != nil {
		return oauth.WriteError(c, err)
	}
	return oauth.JSON(c, fiber.StatusOK, resp)
}

// CertificateBinding is RFC 8705 §3: a client that registered
// tls_client_certificate_bound_access_tokens gets its access tokens bound
// to the certificate of its token request (or CIBA request), which must
// have one; other clients' tokens are not bound.
func CertificateBinding(cl *store.Client, cert *mtls.Certificate) (string, error) {
	if !cl.TLSClientCertificateBoundAccessTokens {
		return "", nil
	}
	if cert == nil {
		return "", oauth.ErrInvalidRequest().WithDescription("the client registered tls_client_certificate_bound_access_tokens: its token requests must come with its client certificate (RFC 8705 §3)")
	}
	return cert.Thumbprint(), nil
}

// Permitted reports whether client may use grantType, by its registered
// grant_types (RFC 7591 §2: authorization_code when none are registered).
// A client may also redeem refresh tokens when it registered a grant type
// that issues them for offline_access (OIDC Core §11): the refresh token
// it holds is the proof that it was given one.
func Permitted(client *store.Client, grantType string) bool {
	types := client.GrantTypes
	if len(types) == 0 {
		types = []string{TypeAuthorizationCode}
	}
	if slices.Contains(types, grantType) {
		return true
	}
	return grantType == TypeRefreshToken && slices.Contains(types, TypeAuthorizationCode)
}
