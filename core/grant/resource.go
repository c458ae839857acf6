package grant

import (
	"slices"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// resourcesFor decides the audience of the access token a token request
// asks for with RFC 8707 resource indicators (§2.2): the requested
// resources, well formed, each within bound when the grant has one (the
// resources the user's authorization named; nil for client_credentials,
// whose bound is the client's). Nothing requested means the bound itself.
// Whatever it decides must be allowed to the client (oauth.ResourcePolicy),
// checked again here so that a grant made before a resource server was
// dropped from the lists mints no more tokens for it.
func (m *Minter) resourcesFor(client *store.Client, requested, bound []string, bounded bool) ([]string, error) {
	resources, oerr := oauth.CheckResources(requested)
	if oerr != nil {
		return nil, oerr
	}
	if len(resources) == 0 {
		resources = bound
	} else if bounded {
		for _, r := range resources {
			if !slices.Contains(bound, r) {
				return nil, oauth.ErrInvalidTarget().WithDescription("resource '%s' was not part of the original grant (RFC 8707 section 2.2)", oauth.CleanDescription(r, 100))
			}
		}
	}
	if oerr := m.resources.CheckAllowed(client, resources); oerr != nil {
		return nil, oerr
	}
	return resources, nil
}

// Resources checks the resources a request outside the token endpoint
// names (CIBA's backchannel authentication) against the allow-list, as
// the token endpoint would for client_credentials.
func (m *Minter) Resources(client *store.Client, requested []string) ([]string, error) {
	return m.resourcesFor(client, requested, nil, false)
}

// Audience is resourcesFor for a flow added later whose grant authorized
// granted (CIBA): the Issue.Audience of a token request naming requested,
// nil when that is the grant's own.
func (m *Minter) Audience(client *store.Client, requested, granted []string) ([]string, error) {
	resources, err := m.resourcesFor(client, requested, granted, true)
	if err != nil {
		return nil, err
	}
	return narrowed(resources, granted), nil
}

// narrowed is the Issue.Audience of a request whose audience is
// resources: nil when that is the grant's own.
func narrowed(resources, granted []string) []string {
	if slices.Equal(resources, granted) {
		return nil
	}
	return resources
}
