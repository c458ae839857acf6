package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/keyset"
	"github.com/gatehouse-auth/gatehouse/core/mtls"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/urlpattern"
)

// Limits on what one client may register (beyond the server's body limit).
const (
	maxRedirectURIs   = 20
	maxClientName     = 200
	maxContacts       = 10
	maxContactLength  = 320
	maxSoftwareString = 200
)

// grantType is what the server knows about a grant type a client may
// register (RFC 7591 §2).
type grantType struct {
	// responseType is the response type that goes with the grant at the
	// authorization endpoint (RFC 7591 §2.1), or "" for none.
	responseType string
	// confidential grants are refused to clients that do not authenticate.
	confidential bool
	// check, when set, applies the grant's own rules to the whole metadata.
	check func(m *store.ClientMetadata) *oauth.Error
}

// grantTypes are the grant types a client may register. A new grant (CIBA's
// urn:openid:params:grant-type:ciba) is one more entry, with a check for its
// own metadata.
var grantTypes = map[string]grantType{
	"authorization_code": {responseType: "code"},
	"refresh_token":      {},
	"client_credentials": {confidential: true},
}

// responseTypes are the response types a client may register, each with
// the grant it belongs to (RFC 7591 §2.1). Only the code flow is served.
var responseTypes = map[string]string{
	"code": "authorization_code",
}

// authMethods are the token endpoint authentication methods a client may
// register (RFC 7591 §2); the first is the default.
var authMethods = []string{oauth.AuthBasic, oauth.AuthPost, oauth.AuthNone}

// applicationTypes are OpenID Connect Dynamic Registration §2's kinds.
var applicationTypes = []string{"web", "native"}

// policy is the operator's part of validation: the redirect URI patterns
// of registration.redirect_uri_patterns, parsed once, and the algorithms
// the server signs ID tokens with (RS256 alone when not set).
type policy struct {
	// restricted is set when patterns are configured: a pattern the
	// configuration check would have refused is dropped, which narrows
	// what is allowed and never widens it to everything.
	restricted       bool
	redirectPatterns urlpattern.List
	idTokenAlgs      []string
	// allowPrivate is the development setting outbound.allow_private: the
	// URIs the server calls may then be plain http on a loopback host.
	allowPrivate bool
	// scopes are the scope values a client may register: discovery's
	// scopes_supported and registration.custom_scopes.
	scopes config.Scopes
	// resources are what a client may register in its `resources`
	// (tokens.resources, and tokens.registered_resources for registered
	// clients); nil allows none.
	resources *oauth.ResourcePolicy
	// mtlsMethods are the RFC 8705 methods offered (config.MTLSMethods);
	// none when server.mtls is off.
	mtlsMethods []string
}

func newPolicy(patterns []string) policy {
	l, _ := urlpattern.ParseList(patterns) // config.Validate reports bad ones
	return policy{restricted: len(patterns) > 0, redirectPatterns: l, scopes: (&config.Config{}).RegistrableScopes()}
}

// registration is a parsed registration (RFC 7591 §3.1) or update
// (RFC 7592 §2.2) request body.
type registration struct {
	meta store.ClientMetadata
	// clientID and clientSecret are only meaningful in an update, where
	// they identify the client (RFC 7592 §2.2).
	clientID        string
	clientSecret    string
	hasClientSecret bool
	// members are the names of every member of the body, understood or not.
	members map[string]bool
}

// field decodes one top-level member of the body into r.
type field func(raw json.RawMessage, r *registration) *oauth.Error

// fields are the members the server understands; every other member is
// ignored (RFC 7591 §2: "The authorization server MUST ignore any client
// metadata sent by the client that it does not understand"). A new metadata
// parameter is one more entry here and a rule in validate.
var fields = map[string]field{
	"redirect_uris":              listField("redirect_uris", func(r *registration) *[]string { return &r.meta.RedirectURIs }),
	"token_endpoint_auth_method": stringField("token_endpoint_auth_method", func(r *registration) *string { return &r.meta.TokenEndpointAuthMethod }),
	"grant_types":                listField("grant_types", func(r *registration) *[]string { return &r.meta.GrantTypes }),
	"response_types":             listField("response_types", func(r *registration) *[]string { return &r.meta.ResponseTypes }),
	"client_name":                stringField("client_name", func(r *registration) *string { return &r.meta.ClientName }),
	"client_uri":                 stringField("client_uri", func(r *registration) *string { return &r.meta.ClientURI }),
	"logo_uri":                   stringField("logo_uri", func(r *registration) *string { return &r.meta.LogoURI }),
	"scope":                      stringField("scope", func(r *registration) *string { return &r.meta.Scope }),
	"contacts":                   listField("contacts", func(r *registration) *[]string { return &r.meta.Contacts }),
	"tos_uri":                    stringField("tos_uri", func(r *registration) *string { return &r.meta.TOSURI }),
	"policy_uri":                 stringField("policy_uri", func(r *registration) *string { return &r.meta.PolicyURI }),
	"jwks_uri":                   stringField("jwks_uri", func(r *registration) *string { return &r.meta.JWKSURI }),
	"jwks":                       parseJWKS,
	"software_id":                stringField("software_id", func(r *registration) *string { return &r.meta.SoftwareID }),
	"software_version":           stringField("software_version", func(r *registration) *string { return &r.meta.SoftwareVersion }),
	"software_statement":         refuseSoftwareStatement,
	"application_type":           stringField("application_type", func(r *registration) *string { return &r.meta.ApplicationType }),
	"post_logout_redirect_uris":  listField("post_logout_redirect_uris", func(r *registration) *[]string { return &r.meta.PostLogoutRedirectURIs }),
	"id_token_signed_response_alg": stringField("id_token_signed_response_alg", func(r *registration) *string {
		return &r.meta.IDTokenSignedResponseAlg
	}),
	"tls_client_auth_subject_dn": stringField("tls_client_auth_subject_dn", func(r *registration) *string { return &r.meta.TLSClientAuthSubjectDN }),
	"tls_client_auth_san_dns":    stringField("tls_client_auth_san_dns", func(r *registration) *string { return &r.meta.TLSClientAuthSANDNS }),
	"tls_client_auth_san_uri":    stringField("tls_client_auth_san_uri", func(r *registration) *string { return &r.meta.TLSClientAuthSANURI }),
	"tls_client_auth_san_ip":     stringField("tls_client_auth_san_ip", func(r *registration) *string { return &r.meta.TLSClientAuthSANIP }),
	"tls_client_auth_san_email":  stringField("tls_client_auth_san_email", func(r *registration) *string { return &r.meta.TLSClientAuthSANEmail }),
	"tls_client_certificate_bound_access_tokens": func(raw json.RawMessage, r *registration) *oauth.Error {
		if err := json.Unmarshal(raw, &r.meta.TLSClientCertificateBoundAccessTokens); err != nil {
			return oauth.ErrInvalidClientMetadata().WithDescription("tls_client_certificate_bound_access_tokens must be a boolean").WithParent(err)
		}
		return nil
	},
	"resource_server": func(raw json.RawMessage, r *registration) *oauth.Error {
		if err := json.Unmarshal(raw, &r.meta.ResourceServer); err != nil {
			return oauth.ErrInvalidClientMetadata().WithDescription("resource_server must be a boolean").WithParent(err)
		}
		return nil
	},
	"resources": listField("resources", func(r *registration) *[]string { return &r.meta.Resources }),
	"client_id": identifierField("client_id", func(r *registration) *string { return &r.clientID }),
	"client_secret": func(raw json.RawMessage, r *registration) *oauth.Error {
		r.hasClientSecret = true
		return identifierField("client_secret", func(r *registration) *string { return &r.clientSecret })(raw, r)
	},
}

// parseRegistration reads a request body and validates the metadata in it
// with the rules of RFC 7591 §2 and the operator's policy. The metadata it
// returns has the defaults applied and its lists normalised, so that it is
// exactly what gets stored and answered.
func parseRegistration(body []byte, p policy) (registration, *oauth.Error) {
	r, err := decodeRegistration(body)
	if err != nil {
		return r, err
	}
	if err := validate(&r.meta, p); err != nil {
		return r, err
	}
	return r, nil
}

// decodeRegistration reads the members of a registration body, one
// JSON object, without applying RFC 7591 §2's rules (validate).
func decodeRegistration(body []byte) (registration, *oauth.Error) {
	var r registration
	// RFC 8259 §8.1: JSON is UTF-8. The decoder would quietly replace
	// invalid bytes, and a client name would be stored altered.
	if !utf8.Valid(body) {
		return r, oauth.ErrInvalidClientMetadata().WithDescription("the body must be UTF-8 JSON (RFC 8259 §8.1)")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return r, malformed(err)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return r, malformed(err)
		}
		name, _ := tok.(string) // object keys are always strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return r, malformed(err)
		}
		// A repeated member would let two parsers of the same body disagree.
		if seen[name] {
			return r, oauth.ErrInvalidClientMetadata().WithDescription("member %s appears more than once", quote(name))
		}
		seen[name] = true
		parse, known := fields[name]
		if !known || bytes.Equal(raw, []byte("null")) {
			continue // unknown members are ignored; null means omitted
		}
		if err := parse(raw, &r); err != nil {
			return r, err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return r, malformed(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return r, oauth.ErrInvalidClientMetadata().WithDescription("the body must hold a single JSON object, found trailing data")
	}
	r.members = seen
	return r, nil
}

func malformed(err error) *oauth.Error {
	e := oauth.ErrInvalidClientMetadata()
	var syntax *json.SyntaxError
	switch {
	case errors.As(err, &syntax):
		return e.WithDescription("the body must be a JSON object: %s at offset %d", syntax.Error(), syntax.Offset).WithParent(err)
	case err != nil && err != io.EOF:
		return e.WithDescription("the body must be a JSON object: %s", err.Error()).WithParent(err)
	}
	return e.WithDescription("the body must be a JSON object")
}

func stringField(name string, dst func(*registration) *string) field {
	return func(raw json.RawMessage, r *registration) *oauth.Error {
		if err := json.Unmarshal(raw, dst(r)); err != nil {
			return oauth.ErrInvalidClientMetadata().WithDescription("%s must be a string", name).WithParent(err)
		}
		return nil
	}
}

func listField(name string, dst func(*registration) *[]string) field {
	return func(raw json.RawMessage, r *registration) *oauth.Error {
		// Pointers, so that a null element is told apart from "".
		var elems []*string
		if err := json.Unmarshal(raw, &elems); err != nil || slices.Contains(elems, nil) {
			return oauth.ErrInvalidClientMetadata().WithDescription("%s must be an array of strings", name).WithParent(err)
		}
		list := make([]string, len(elems))
		for i, e := range elems {
			list[i] = *e
		}
		*dst(r) = list
		return nil
	}
}

// identifierField reads client_id and client_secret, which are not client
// metadata but identify the client in an update request.
func identifierField(name string, dst func(*registration) *string) field {
	return func(raw json.RawMessage, r *registration) *oauth.Error {
		if err := json.Unmarshal(raw, dst(r)); err != nil {
			return oauth.ErrInvalidRequest().WithDescription("%s must be a string", name).WithParent(err)
		}
		return nil
	}
}

// parseJWKS reads a client's public keys passed by value (RFC 7591 §2). They
// are kept exactly as sent (compacted), once go-jose has read each key.
func parseJWKS(raw json.RawMessage, r *registration) *oauth.Error {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return oauth.ErrInvalidClientMetadata().WithDescription("jwks must be a JWK Set with valid keys (RFC 7517 §5)").WithParent(err)
	}
	if len(set.Keys) == 0 {
		return oauth.ErrInvalidClientMetadata().WithDescription("jwks must hold at least one key")
	}
	for i, k := range set.Keys {
		if !k.Valid() || !k.IsPublic() {
			return oauth.ErrInvalidClientMetadata().WithDescription("jwks.keys[%d] must be a valid public key; never send private or symmetric keys", i)
		}
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return oauth.ErrInvalidClientMetadata().WithDescription("jwks must be a JSON object").WithParent(err)
	}
	r.meta.JWKS = json.RawMessage(compact.Bytes())
	return nil
}

// refuseSoftwareStatement refuses every software statement (RFC 7591
// §2.3): the server has no trusted keys to verify one with, and accepting
// an unverified statement would let its claims pass for vouched ones.
func refuseSoftwareStatement(json.RawMessage, *registration) *oauth.Error {
	return oauth.ErrInvalidSoftwareStatement().WithDescription("software statements are not accepted by this server; register the metadata directly")
}

// validate applies RFC 7591 §2 to m, normalising it in place: defaults
// filled in, repeated list values dropped, scope re-joined with single spaces.
func validate(m *store.ClientMetadata, p policy) *oauth.Error {
	bad := oauth.ErrInvalidClientMetadata

	// Token endpoint authentication (RFC 7591 §2).
	if m.TokenEndpointAuthMethod == "" {
		m.TokenEndpointAuthMethod = authMethods[0]
	}
	if methods := append(slices.Clip(authMethods), p.mtlsMethods...); !slices.Contains(methods, m.TokenEndpointAuthMethod) {
		return bad().WithDescription("token_endpoint_auth_method %s is not supported; use one of %s",
			quote(m.TokenEndpointAuthMethod), strings.Join(methods, ", "))
	}
	if err := validateMTLS(m, p); err != nil {
		return err
	}
	// RFC 7662 §2.1: introspection needs an authenticated caller.
	if m.ResourceServer && m.TokenEndpointAuthMethod == oauth.AuthNone {
		return bad().WithDescription("a resource_server client must authenticate; token_endpoint_auth_method none cannot introspect")
	}

	// Grant and response types, and their consistency (RFC 7591 §2.1).
	if len(m.GrantTypes) == 0 {
		m.GrantTypes = []string{"authorization_code"}
	}
	m.GrantTypes = unique(m.GrantTypes)
	for _, g := range m.GrantTypes {
		if _, ok := grantTypes[g]; !ok {
			return bad().WithDescription("grant type %s is not supported; use one of %s", quote(g), strings.Join(slices.Sorted(maps.Keys(grantTypes)), ", "))
		}
	}
	if len(m.ResponseTypes) == 0 {
		// The default "code" (RFC 7591 §2) only applies to clients that
		// use the authorization endpoint at all.
		m.ResponseTypes = nil
		for _, g := range m.GrantTypes {
			if rt := grantTypes[g].responseType; rt != "" {
				m.ResponseTypes = append(m.ResponseTypes, rt)
			}
		}
	}
	m.ResponseTypes = unique(m.ResponseTypes)
	for _, rt := range m.ResponseTypes {
		grant, ok := responseTypes[rt]
		if !ok {
			return bad().WithDescription("response type %s is not supported; use code", quote(rt))
		}
		if !slices.Contains(m.GrantTypes, grant) {
			return bad().WithDescription("response type %s requires the %s grant type (RFC 7591 §2.1)", rt, grant)
		}
	}
	for _, g := range m.GrantTypes {
		gt := grantTypes[g]
		if gt.responseType != "" && !slices.Contains(m.ResponseTypes, gt.responseType) {
			return bad().WithDescription("grant type %s requires the %s response type (RFC 7591 §2.1)", g, gt.responseType)
		}
		if gt.confidential && m.TokenEndpointAuthMethod == oauth.AuthNone {
			return bad().WithDescription("grant type %s requires a client that authenticates; token_endpoint_auth_method none is not allowed with it", g)
		}
		if gt.check != nil {
			if err := gt.check(m); err != nil {
				return err
			}
		}
	}

	if err := checkCalledURIs(m, p); err != nil {
		return err
	}

	// Redirect URIs (RFC 7591 §2, RFC 6749 §3.1.2, RFC 8252 §7).
	if err := validateRedirectURIs(m, p); err != nil {
		return err
	}
	if err := validatePostLogoutURIs(m, p); err != nil {
		return err
	}

	// Human-readable values, shown on the consent page.
	if err := checkText("client_name", m.ClientName, maxClientName); err != nil {
		return err
	}
	if len(m.Contacts) > maxContacts {
		return bad().WithDescription("contacts may list at most %d entries", maxContacts)
	}
	m.Contacts = unique(m.Contacts)
	for i, c := range m.Contacts {
		if c == "" {
			return bad().WithDescription("contacts[%d] must not be empty", i)
		}
		if err := checkText(fmt.Sprintf("contacts[%d]", i), c, maxContactLength); err != nil {
			return err
		}
	}
	for _, u := range []struct{ name, value string }{
		{"client_uri", m.ClientURI}, {"logo_uri", m.LogoURI}, {"tos_uri", m.TOSURI},
		{"policy_uri", m.PolicyURI}, {"jwks_uri", m.JWKSURI},
	} {
		if u.value == "" {
			continue
		}
		if reason := checkWebURI(u.value); reason != "" {
			return bad().WithDescription("%s %s", u.name, reason)
		}
	}

	// Keys: by reference or by value, not both (RFC 7591 §2).
	if m.JWKSURI != "" && m.JWKS != nil {
		return bad().WithDescription("jwks_uri and jwks must not both be present (RFC 7591 §2)")
	}

	scope, err := normaliseScope(m.Scope, p.scopes)
	if err != nil {
		return err
	}
	m.Scope = scope

	if m.Resources != nil {
		resources, oerr := oauth.CheckResources(m.Resources)
		if oerr != nil {
			return bad().WithDescription("resources: %s", oerr.Description)
		}
		m.Resources = resources
	}

	if err := checkText("software_id", m.SoftwareID, maxSoftwareString); err != nil {
		return err
	}
	if err := checkText("software_version", m.SoftwareVersion, maxSoftwareString); err != nil {
		return err
	}
	if m.ApplicationType != "" && !slices.Contains(applicationTypes, m.ApplicationType) {
		return bad().WithDescription("application_type must be web or native, got %s", quote(m.ApplicationType))
	}

	// OpenID Connect Registration §2: RS256 when omitted, and only an
	// algorithm the server signs with ("none" never: this server has no
	// implicit flow to make it safe).
	if m.IDTokenSignedResponseAlg == "" {
		m.IDTokenSignedResponseAlg = string(keyset.IDTokenDefault)
	}
	algs := p.idTokenAlgs
	if len(algs) == 0 {
		algs = []string{string(keyset.IDTokenDefault)}
	}
	if !slices.Contains(algs, m.IDTokenSignedResponseAlg) {
		return bad().WithDescription("id_token_signed_response_alg %s is not supported; use one of %s",
			quote(m.IDTokenSignedResponseAlg), strings.Join(algs, ", "))
	}
	return nil
}

// validateMTLS applies RFC 8705 §2.1.2 and §3.4: a tls_client_auth
// client names exactly one subject its certificates must carry, and no
// other client names one; certificate-bound tokens only where mutual TLS
// is served.
func validateMTLS(m *store.ClientMetadata, p policy) *oauth.Error {
	bad := oauth.ErrInvalidClientMetadata
	if m.TLSClientCertificateBoundAccessTokens && len(p.mtlsMethods) == 0 {
		return bad().WithDescription("tls_client_certificate_bound_access_tokens is not supported: this server does not serve mutual TLS")
	}
	subjects := []struct{ name, value string }{
		{"tls_client_auth_subject_dn", m.TLSClientAuthSubjectDN},
		{"tls_client_auth_san_dns", m.TLSClientAuthSANDNS},
		{"tls_client_auth_san_uri", m.TLSClientAuthSANURI},
		{"tls_client_auth_san_ip", m.TLSClientAuthSANIP},
		{"tls_client_auth_san_email", m.TLSClientAuthSANEmail},
	}
	var set []string
	for _, s := range subjects {
		if s.value != "" {
			set = append(set, s.name)
		}
		if err := checkText(s.name, s.value, maxContactLength); err != nil {
			return err
		}
	}
	switch m.TokenEndpointAuthMethod {
	case oauth.AuthTLS:
		if len(set) != 1 {
			return bad().WithDescription("token_endpoint_auth_method tls_client_auth needs exactly one of tls_client_auth_subject_dn, _san_dns, _san_uri, _san_ip, _san_email (RFC 8705 §2.1.2), got %d", len(set))
		}
	case oauth.AuthSelfSignedTLS:
		if m.JWKS == nil && m.JWKSURI == "" {
			return bad().WithDescription("token_endpoint_auth_method self_signed_tls_client_auth needs jwks or jwks_uri holding the client's certificates (RFC 8705 §2.2)")
		}
		if m.JWKS != nil {
			if err := checkCertificateKeys(m); err != nil {
				return err
			}
		}
	}
	if len(set) > 0 && m.TokenEndpointAuthMethod != oauth.AuthTLS {
		return bad().WithDescription("%s goes with token_endpoint_auth_method tls_client_auth only", set[0])
	}
	switch {
	case m.TLSClientAuthSubjectDN != "":
		if _, err := mtls.ParseDN(m.TLSClientAuthSubjectDN); err != nil {
			return bad().WithDescription("tls_client_auth_subject_dn must be an RFC 4514 distinguished name").WithParent(err)
		}
	case m.TLSClientAuthSANIP != "":
		if _, err := netip.ParseAddr(m.TLSClientAuthSANIP); err != nil {
			return bad().WithDescription("tls_client_auth_san_ip must be an IPv4 or IPv6 address").WithParent(err)
		}
	case m.TLSClientAuthSANURI != "":
		if u, err := url.Parse(m.TLSClientAuthSANURI); err != nil || !u.IsAbs() {
			return bad().WithDescription("tls_client_auth_san_uri must be an absolute URI")
		}
	case m.TLSClientAuthSANEmail != "":
		if _, domain, ok := strings.Cut(m.TLSClientAuthSANEmail, "@"); !ok || domain == "" {
			return bad().WithDescription("tls_client_auth_san_email must be an e-mail address")
		}
	}
	return nil
}

// checkCertificateKeys: a self-signed client's keys by value name a
// certificate (x5c or x5t#S256), or no certificate could match them.
func checkCertificateKeys(m *store.ClientMetadata) *oauth.Error {
	keys, err := oauth.KeysByValue(&store.Client{ClientMetadata: *m})
	if err != nil {
		return oauth.ErrInvalidClientMetadata().WithDescription("jwks must be a JWK Set").WithParent(err)
	}
	for _, k := range keys {
		if len(k.Certificates) > 0 || len(k.CertificateThumbprintSHA256) > 0 {
			return nil
		}
	}
	return oauth.ErrInvalidClientMetadata().WithDescription("self_signed_tls_client_auth needs a key in jwks with x5c or x5t#S256 naming the client's certificate (RFC 8705 §2.2)")
}

func validateRedirectURIs(m *store.ClientMetadata, p policy) *oauth.Error {
	bad := oauth.ErrInvalidRedirectURI
	if len(m.RedirectURIs) > maxRedirectURIs {
		return bad().WithDescription("redirect_uris may list at most %d URIs", maxRedirectURIs)
	}
	m.RedirectURIs = unique(m.RedirectURIs)
	if len(m.RedirectURIs) == 0 && len(m.ResponseTypes) > 0 {
		return bad().WithDescription("redirect_uris must list at least one URI for the authorization_code grant (RFC 7591 §2)")
	}
	for i, u := range m.RedirectURIs {
		if reason := checkRedirectURI(u); reason != "" {
			return bad().WithDescription("redirect_uris[%d] %s %s", i, quote(u), reason)
		}
		if !p.restricted {
			continue
		}
		parsed, err := urlpattern.ParseURL(u)
		if err != nil {
			return bad().WithDescription("redirect_uris[%d] %s %s", i, quote(u), err.Error())
		}
		if !p.redirectPatterns.MatchURL(parsed) {
			return bad().WithDescription("redirect_uris[%d] %s is not allowed by this server's redirect URI patterns", i, quote(u))
		}
	}
	return nil
}

// validatePostLogoutURIs checks post_logout_redirect_uris (OpenID Connect
// RP-Initiated Logout 1.0 §3.1) as redirect_uris are checked: the same
// schemes, no fragment, within the operator's patterns. They are matched
// exactly at logout, a loopback port included.
func validatePostLogoutURIs(m *store.ClientMetadata, p policy) *oauth.Error {
	bad := oauth.ErrInvalidClientMetadata
	if len(m.PostLogoutRedirectURIs) > maxRedirectURIs {
		return bad().WithDescription("post_logout_redirect_uris may list at most %d URIs", maxRedirectURIs)
	}
	m.PostLogoutRedirectURIs = unique(m.PostLogoutRedirectURIs)
	for i, u := range m.PostLogoutRedirectURIs {
		if reason := checkRedirectURI(u); reason != "" {
			return bad().WithDescription("post_logout_redirect_uris[%d] %s %s", i, quote(u), reason)
		}
		if !p.restricted {
			continue
		}
		parsed, err := urlpattern.ParseURL(u)
		if err != nil {
			return bad().WithDescription("post_logout_redirect_uris[%d] %s %s", i, quote(u), err.Error())
		}
		if !p.redirectPatterns.MatchURL(parsed) {
			return bad().WithDescription("post_logout_redirect_uris[%d] %s is not allowed by this server's redirect URI patterns", i, quote(u))
		}
	}
	return nil
}

// checkText bounds a human-readable value and keeps control characters
// (which could forge lines in logs or confuse a page) out of it.
func checkText(name, value string, max int) *oauth.Error {
	if n := utf8.RuneCountInString(value); n > max {
		return oauth.ErrInvalidClientMetadata().WithDescription("%s must be at most %d characters, got %d", name, max, n)
	}
	if strings.ContainsFunc(value, func(r rune) bool { return r < 0x20 || (r >= 0x7f && r < 0xa0) }) {
		return oauth.ErrInvalidClientMetadata().WithDescription("%s must not contain control characters", name)
	}
	return nil
}

// normaliseScope checks each scope token against RFC 6749 §3.3
// (scope-token = 1*( %x21 / %x23-5B / %x5D-7E )) and the scope values the
// server offers (a client must not grant itself "admin"), and re-joins the
// distinct tokens with single spaces.
func normaliseScope(scope string, offered config.Scopes) (string, *oauth.Error) {
	tokens, bad := oauth.ParseScope(scope)
	if bad != "" {
		return "", oauth.ErrInvalidClientMetadata().WithDescription(
			"scope token %s must be printable ASCII without quotes or backslashes (RFC 6749 §3.3)", quote(bad))
	}
	for _, tok := range tokens {
		if !offered.Has(tok) {
			return "", oauth.ErrInvalidClientMetadata().WithDescription(
				"scope %s is not offered by this server; register only some of %s", quote(tok), strings.Join(offered.Sorted(), " "))
		}
	}
	return strings.Join(tokens, " "), nil
}

// unique drops repeated values, keeping the first of each in order; it
// returns nil for an empty list so that an empty array reads as omitted.
func unique(list []string) []string {
	var out []string
	seen := make(map[string]bool, len(list))
	for _, v := range list {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// checkResources refuses a client's own resource list unless the server
// offers each resource to the client's kind (store.ClientRegistered or
// store.ClientDynamic): registering a resource never widens what the
// client may get tokens for.
func (p policy) checkResources(m *store.ClientMetadata, kind string) *oauth.Error {
	for _, r := range m.Resources {
		if p.resources == nil || !p.resources.OfferedTo(kind, r) {
			return oauth.ErrInvalidClientMetadata().WithDescription(
				"resources: %s is not a resource this server issues tokens for to %s clients (tokens.resources)", quote(r), kind)
		}
	}
	return nil
}
