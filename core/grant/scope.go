package grant

import (
	"slices"
	"strings"

	"github.com/gatehouse-auth/gatehouse/core/token"
)

// Scope values with a meaning of their own (OIDC Core §3.1.2.1, §11).
const (
	scopeOpenID        = "openid"
	scopeOfflineAccess = "offline_access"
)

// parseScope splits a scope parameter into its values (RFC 6749 §3.3:
// space-delimited, each 1*( %x21 / %x23-5B / %x5D-7E )), dropping
// repeats. ok is false when a value has a character the RFC excludes.
func parseScope(s string) (values []string, ok bool) {
	for v := range strings.SplitSeq(s, " ") {
		if v == "" {
			continue
		}
		for i := 0; i < len(v); i++ {
			if b := v[i]; b < 0x21 || b == 0x22 || b == 0x5C || b > 0x7E {
				return nil, false
			}
		}
		if !slices.Contains(values, v) {
			values = append(values, v)
		}
	}
	return values, true
}

// narrowScope checks a requested scope against the scope granted: every
// requested value must have been granted (RFC 6749 §6, §4.4.2). An empty
// request means everything granted. It returns the scope of the new
// tokens and the first value that was not granted, if any.
func narrowScope(requested, granted string) (scope, refused string, ok bool) {
	values, valid := parseScope(requested)
	if !valid {
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
