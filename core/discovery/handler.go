// Package discovery serves the authorization server metadata (RFC 8414,
// OpenID Connect Discovery 1.0 §3) and the JWKS (RFC 7517 §5).
package discovery

import (
	"encoding/json"
	"slices"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/client"
	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/keyset"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
)

// Cache lifetimes: the metadata changes only with a restart; the JWKS
// changes on rotation, so it is cached briefly (retired keys stay published
// far longer than this, and verifiers refetch on an unknown kid).
const (
	metadataCacheControl = "public, max-age=300"
	jwksCacheControl     = "public, max-age=60"
)

// Metadata is the discovery document. Field order is the wire order.
type Metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	UserinfoEndpoint                           string   `json:"userinfo_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	RegistrationEndpoint                       string   `json:"registration_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	EndSessionEndpoint                         string   `json:"end_session_endpoint"` // RP-Initiated Logout 1.0 §2.1
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	SubjectTypesSupported                      []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	ClaimsSupported                            []string `json:"claims_supported"`
	AuthorizationResponseISSParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	RequestParameterSupported                  bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported               bool     `json:"request_uri_parameter_supported"`
	ClaimsParameterSupported                   bool     `json:"claims_parameter_supported"`
	// CIBA Core 1.0 §4.
	BackchannelAuthenticationEndpoint                         string   `json:"backchannel_authentication_endpoint"`
	BackchannelTokenDeliveryModesSupported                    []string `json:"backchannel_token_delivery_modes_supported"`
	BackchannelAuthenticationRequestSigningAlgValuesSupported []string `json:"backchannel_authentication_request_signing_alg_values_supported"`
	BackchannelUserCodeParameterSupported                     bool     `json:"backchannel_user_code_parameter_supported"`
	// draft-ietf-oauth-client-id-metadata-document §6, when enabled.
	ClientIDMetadataDocumentSupported bool `json:"client_id_metadata_document_supported,omitempty"`
	// RFC 8705 §3.3, when server.mtls is enabled.
	TLSClientCertificateBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens,omitempty"`
}

// NewMetadata describes this server: every URL derives from the issuer,
// which includes the base path; grantTypes are the token endpoint's.
func NewMetadata(cfg *config.Config, keys *keyset.Keyset, grantTypes []string) Metadata {
	iss := cfg.Issuer()
	// RFC 8705 §2: the mutual TLS methods, at every endpoint that
	// authenticates clients (the backchannel endpoint uses the token
	// endpoint's, CIBA Core §7.1).
	mtls := cfg.MTLSMethods()
	return Metadata{
		Issuer:                 iss,
		AuthorizationEndpoint:  iss + "/v1/authorize",
		TokenEndpoint:          iss + "/v1/token",
		UserinfoEndpoint:       iss + "/v1/userinfo",
		JWKSURI:                iss + "/.well-known/jwks.json",
		RegistrationEndpoint:   iss + "/v1/register",
		RevocationEndpoint:     iss + "/v1/revoke",
		IntrospectionEndpoint:  iss + "/v1/introspect",
		EndSessionEndpoint:     iss + "/v1/logout",
		ScopesSupported:        slices.Clone(config.StandardScopes),
		ResponseTypesSupported: []string{"code"},
		ResponseModesSupported: []string{"query"},
		GrantTypesSupported:    grantTypes,
		SubjectTypesSupported:  []string{"public"},
		// ID tokens are signed with the active key; the others are listed
		// because a rotation after changing keys.algorithm switches to them.
		IDTokenSigningAlgValuesSupported:          keys.Algorithms(),
		TokenEndpointAuthMethodsSupported:         append([]string{"client_secret_basic", "client_secret_post", "none"}, mtls...),
		RevocationEndpointAuthMethodsSupported:    append([]string{"client_secret_basic", "client_secret_post", "none"}, mtls...),
		IntrospectionEndpointAuthMethodsSupported: append([]string{"client_secret_basic", "client_secret_post"}, mtls...),
		CodeChallengeMethodsSupported:             []string{"S256"},
		// Every claim an ID token or userinfo may carry: OIDC Core §2,
		// the §5.4 claims of the profile and email scopes, Backstage's
		// ent, and the CIBA Core §10.3.1 claims of a push-mode ID token.
		// A plugin's own extra claims are the operator's to announce.
		ClaimsSupported: []string{
			"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "at_hash",
			"name", "preferred_username", "picture", "email", "email_verified", "ent",
			"urn:openid:params:jwt:claim:auth_req_id", "urn:openid:params:jwt:claim:rt_hash",
		},
		AuthorizationResponseISSParameterSupported:                true, // RFC 9207
		BackchannelAuthenticationEndpoint:                         iss + "/v1/backchannel/authorize",
		BackchannelTokenDeliveryModesSupported:                    client.DeliveryModes,
		BackchannelAuthenticationRequestSigningAlgValuesSupported: client.RequestSigningAlgs,
		BackchannelUserCodeParameterSupported:                     true,
		ClientIDMetadataDocumentSupported:                         cfg.ClientIDDocuments.Enabled,
		TLSClientCertificateBoundAccessTokens:                     len(mtls) > 0,
	}
}

// Handler serves this package's endpoints.
type Handler struct {
	cfg      *config.Config
	keys     *keyset.Keyset
	metadata []byte // encoded once: the document is immutable
}

// New returns the handler of a server whose token endpoint serves
// grantTypes.
func New(cfg *config.Config, keys *keyset.Keyset, grantTypes []string) *Handler {
	// A struct of strings, string slices and bools always encodes.
	doc, _ := json.Marshal(NewMetadata(cfg, keys, grantTypes))
	return &Handler{cfg: cfg, keys: keys, metadata: doc}
}

// Register mounts the endpoints on r (already under the base path).
func (h *Handler) Register(r fiber.Router) {
	r.Get("/.well-known/openid-configuration", h.serveMetadata)
	r.Get("/.well-known/oauth-authorization-server", h.serveMetadata)
	r.Get("/.well-known/jwks.json", h.serveJWKS)
}

// RegisterRoot mounts, on the root of the server, the metadata at the
// places a client derives from an issuer with a path (the base path): RFC
// 8414 §3.1 inserts the well-known suffix between host and path, and
// clients that look for OpenID metadata try the same placement. Without a
// base path these are the routes Register mounts, and nothing is added.
func (h *Handler) RegisterRoot(r fiber.Router, middleware ...fiber.Handler) {
	base := h.cfg.Server.BasePath
	if base == "" {
		return
	}
	for _, wk := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		r.Get(wk+base, append(middleware, h.serveMetadata)...)
	}
}

// serveMetadata answers OIDC Discovery §4 and RFC 8414 §3 with the same
// document.
func (h *Handler) serveMetadata(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, metadataCacheControl)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(h.metadata)
}

// serveJWKS answers the current public keys (RFC 7517 §5), read per
// request because rotation changes them.
// No key at all (a server that started while its database did not
// answer, with no cached keys) is 503, not an empty set that relying
// parties would cache.
func (h *Handler) serveJWKS(c *fiber.Ctx) error {
	set := h.keys.JWKS()
	if len(set.Keys) == 0 {
		return oauth.WriteError(c, oauth.ErrTemporarilyUnavailable().WithDescription("the signing keys have not been read from the database yet"))
	}
	c.Set(fiber.HeaderCacheControl, jwksCacheControl)
	return c.JSON(set)
}
