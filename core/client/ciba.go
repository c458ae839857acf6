package client

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// GrantTypeCIBA is CIBA Core 1.0 §4's grant type.
const GrantTypeCIBA = "urn:openid:params:grant-type:ciba"

// CIBA token delivery modes (CIBA Core §5).
const (
	DeliveryPoll = "poll"
	DeliveryPing = "ping"
	DeliveryPush = "push"
)

// DeliveryModes are the token delivery modes this server supports.
var DeliveryModes = []string{DeliveryPoll, DeliveryPing, DeliveryPush}

// CanonicalDeliveryMode is a token delivery mode as stored: lower case,
// whatever case it was given in (CIBA Core §4 names them in lower case;
// doorkeeper-ciba in upper case).
func CanonicalDeliveryMode(mode string) string { return strings.ToLower(mode) }

// RequestSigningAlgs are the algorithms accepted for signed
// authentication requests (CIBA Core §7.1.1); "none" is never one.
var RequestSigningAlgs = []string{"ES256", "RS256", "PS256", "EdDSA"}

// The CIBA metadata of CIBA Core §4 is parsed and checked here and joins
// the registration's tables: each value is checked as it is read (so that
// it is valid whatever grants the client has), and the grant's check
// requires what the grant needs.
func init() {
	fields["backchannel_token_delivery_mode"] = func(raw json.RawMessage, r *registration) *oauth.Error {
		if err := stringField("backchannel_token_delivery_mode", func(r *registration) *string { return &r.meta.BackchannelTokenDeliveryMode })(raw, r); err != nil {
			return err
		}
		// Stored canonical: doorkeeper-ciba and others write POLL, PING, PUSH.
		r.meta.BackchannelTokenDeliveryMode = CanonicalDeliveryMode(r.meta.BackchannelTokenDeliveryMode)
		if !slices.Contains(DeliveryModes, r.meta.BackchannelTokenDeliveryMode) {
			return oauth.ErrInvalidClientMetadata().WithDescription("backchannel_token_delivery_mode must be poll, ping or push, got %s",
				quote(r.meta.BackchannelTokenDeliveryMode))
		}
		return nil
	}
	fields["backchannel_client_notification_endpoint"] = func(raw json.RawMessage, r *registration) *oauth.Error {
		if err := stringField("backchannel_client_notification_endpoint", func(r *registration) *string { return &r.meta.BackchannelClientNotificationEndpoint })(raw, r); err != nil {
			return err
		}
		if reason := checkNotificationEndpoint(r.meta.BackchannelClientNotificationEndpoint); reason != "" {
			return oauth.ErrInvalidClientMetadata().WithDescription("backchannel_client_notification_endpoint %s", reason)
		}
		return nil
	}
	fields["backchannel_authentication_request_signing_alg"] = func(raw json.RawMessage, r *registration) *oauth.Error {
		if err := stringField("backchannel_authentication_request_signing_alg", func(r *registration) *string { return &r.meta.BackchannelAuthenticationRequestSigningAlg })(raw, r); err != nil {
			return err
		}
		if !slices.Contains(RequestSigningAlgs, r.meta.BackchannelAuthenticationRequestSigningAlg) {
			return oauth.ErrInvalidClientMetadata().WithDescription("backchannel_authentication_request_signing_alg must be one of %s, got %s",
				strings.Join(RequestSigningAlgs, ", "), quote(r.meta.BackchannelAuthenticationRequestSigningAlg))
		}
		return nil
	}
	fields["backchannel_user_code_parameter"] = func(raw json.RawMessage, r *registration) *oauth.Error {
		if err := json.Unmarshal(raw, &r.meta.BackchannelUserCodeParameter); err != nil {
			return oauth.ErrInvalidClientMetadata().WithDescription("backchannel_user_code_parameter must be a boolean").WithParent(err)
		}
		return nil
	}
	grantTypes[GrantTypeCIBA] = grantType{confidential: true, check: checkCIBA}
}

// checkCIBA is CIBA Core §4: a client of the CIBA grant names its token
// delivery mode; ping and push need a notification endpoint; a signing
// alg needs the client's keys, by value (jwks) or by reference (jwks_uri,
// which the server fetches, so https as for the notification endpoint).
func checkCIBA(m *store.ClientMetadata) *oauth.Error {
	bad := oauth.ErrInvalidClientMetadata
	switch m.BackchannelTokenDeliveryMode {
	case "":
		return bad().WithDescription("backchannel_token_delivery_mode is required with the %s grant type (CIBA Core §4)", GrantTypeCIBA)
	case DeliveryPing, DeliveryPush:
		if m.BackchannelClientNotificationEndpoint == "" {
			return bad().WithDescription("backchannel_client_notification_endpoint is required with the %s token delivery mode (CIBA Core §4)",
				m.BackchannelTokenDeliveryMode)
		}
	}
	if m.BackchannelAuthenticationRequestSigningAlg != "" {
		if m.JWKS == nil && m.JWKSURI == "" {
			return bad().WithDescription("backchannel_authentication_request_signing_alg requires the client's public keys in jwks or jwks_uri")
		}
		if m.JWKSURI != "" {
			if reason := checkNotificationEndpoint(m.JWKSURI); reason != "" {
				return bad().WithDescription("jwks_uri %s", reason)
			}
		}
	}
	return nil
}

// checkCalledURIs refuses plain http for the URIs the server itself calls
// (the CIBA notification endpoint, jwks_uri) unless the development
// setting outbound.allow_private is on: the outbound client would refuse
// them anyway, and a registration should fail where the client can see it.
func checkCalledURIs(m *store.ClientMetadata, p policy) *oauth.Error {
	if p.allowPrivate {
		return nil
	}
	for _, u := range []struct{ name, value string }{
		{"backchannel_client_notification_endpoint", m.BackchannelClientNotificationEndpoint},
		{"jwks_uri", m.JWKSURI},
	} {
		if u.value == "" {
			continue
		}
		if parsed, err := url.Parse(u.value); err != nil || parsed.Scheme != "https" {
			return oauth.ErrInvalidClientMetadata().WithDescription("%s must use https", u.name)
		}
	}
	return nil
}

// checkNotificationEndpoint is CIBA Core §4: an https URL, and no
// fragment; plain http is accepted only on a loopback host, for local
// development.
func checkNotificationEndpoint(raw string) string {
	u, reason := parseURI(raw)
	if reason != "" {
		return reason
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "must not have a fragment"
	}
	if u.Host == "" {
		return "must name a host"
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		if isLoopback(u.Hostname()) {
			return ""
		}
		return "must use https (http is accepted only on a loopback host)"
	}
	return "must be an https URL"
}
