package grant

import (
	"slices"
	"strings"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

// Scope values with a meaning of their own (OIDC Core §3.1.2.1, §11).
const (
	scopeOpenID        = "openid"
	scopeOfflineAccess = "offline_access"
)

// keepAllowed is scope without the values not in allowed.
func keepAllowed(scope string, allowed []string) string {
	values, _ := oauth.ParseScope(scope)
	kept := values[:0]
	for _, v := range values {
		if slices.Contains(allowed, v) {
			kept = append(kept, v)
		}
	}
	return strings.Join(kept, " ")
}

// narrowScope checks a requested scope against the scope granted: every
// requested value must have been granted (RFC 6749 §6, §4.4.2). An empty
// request means everything granted. It returns the scope of the new
// tokens and the first value that was not granted, if any.
func narrowScope(requested, granted string) (scope, refused string, ok bool) {
	values, bad := oauth.ParseScope(requested)
	if bad != "" {
		return "", "", false
	}
	if len(values) == 0 {
		return granted, "", true
	}
	for _, v := range values {
		if !token.HasScope(granted, v) {
			return "", v, false
		}
	}
	return strings.Join(values, " "), "", true
}
