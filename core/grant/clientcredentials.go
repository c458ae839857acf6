package grant

import (
	"context"
	"log/slog"
	"slices"
	"strings"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// ClientCredentials is RFC 6749 §4.4: a confidential client asks for an
// access token for itself. It is the hot path of machine-to-machine
// traffic, so it writes nothing to the store and signs once: no grant, no
// refresh token (§4.4.3), no ID token (there is no user).
type ClientCredentials struct {
	mint *Minter
	// scopes are the scope values the server offers: a registered value
	// outside them (stored before the policy, or since dropped from
	// registration.custom_scopes) is not granted.
	scopes config.Scopes
}

var _ Flow = (*ClientCredentials)(nil)

// NewClientCredentials returns the client_credentials flow.
func NewClientCredentials(mint *Minter) *ClientCredentials {
	return &ClientCredentials{mint: mint, scopes: mint.cfg.RegistrableScopes()}
}

func (*ClientCredentials) GrantType() string { return TypeClientCredentials }

// Handle mints an access token whose subject is the client.
func (f *ClientCredentials) Handle(ctx context.Context, req *Request) (*Response, error) {
	// Parse.
	requested := req.Params.Get("scope")

	// Validate. §4.4: confidential clients only; a public client has
	// nothing to prove who it is.
	if req.Client.Public() || req.AuthMethod == oauth.AuthNone {
		return nil, oauth.ErrUnauthorizedClient().WithDescription("client_credentials requires a confidential client")
	}
	// openid and offline_access are about a user: a client acting for
	// itself gets no ID token and no refresh token (§4.4.3), so naming
	// either is an invalid scope for this grant (§5.2), and the default
	// scope leaves them out.
	values, _ := oauth.ParseScope(requested)
	if i := slices.IndexFunc(values, forUser); i >= 0 {
		return nil, invalidScope(values[i], "is for a user; client_credentials does not grant it")
	}
	// §4.4.2, §3.3: every requested value must be in the client's
	// registered scope, and offered by the server; none requested means
	// all of that but openid and offline_access.
	var registered string
	if req.Client.Scope != "" {
		registered = strings.Join(slices.DeleteFunc(f.scopes.Allowed(req.Client.Scope), forUser), " ")
	}
	scope, refused, ok := narrowScope(requested, registered)
	if !ok {
		return nil, invalidScope(refused, "is not registered for this client or not offered by this server")
	}
	// RFC 8707 §2: the token is for the resources named, else the issuer.
	resources, err := f.mint.resourcesFor(&req.Client, req.Resources, nil, false)
	if err != nil {
		return nil, err
	}

	// Act.
	resp, err := f.mint.Mint(ctx, Issue{
		GrantType: TypeClientCredentials,
		Grant:     store.Grant{ClientID: req.Client.ID, Subject: req.Client.ID, Resource: resources},
		Scope:     scope,

		Confirmation: req.Confirmation,
	})
	if err != nil {
		return nil, err
	}

	// Respond. Debug, not info: the access log already has the request,
	// and this path must stay cheap.
	slog.LogAttrs(ctx, slog.LevelDebug, "client credentials token issued", slog.String("client_id", req.Client.ID))
	return resp, nil
}

// forUser says a scope value only has a meaning when a user authorized it.
func forUser(v string) bool { return v == scopeOpenID || v == scopeOfflineAccess }
