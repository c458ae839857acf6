package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// audience is the "aud" claim, read as a string or an array (RFC 7519
// §4.1.3). A single audience is minted as a plain string, the form OIDC
// Core §2 calls the common case and the one relying parties that compare
// "aud" to their client_id expect; several are minted as an array.
type audience []string

func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

func (a *audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("aud must be a string or an array of strings")
	}
	*a = list
	return nil
}

func (a audience) contains(s string) bool { return slices.Contains(a, s) }

// reserved are the claims the server sets itself: extra claims from the
// token_claims hook never replace them (registered JWT claims, RFC 9068,
// OIDC Core §2 and §5.1, and ours).
var reserved = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true,
	"client_id": true, "scope": true, "auth_time": true, "acr": true, "amr": true, "azp": true,
	"nonce": true, "at_hash": true, "c_hash": true, "s_hash": true, "sid": true, "cnf": true,
	"act": true, "may_act": true, "typ": true,
	// OIDC Core §5.4: released by scope from the user's profile only (a
	// sign_in plugin sets them there, see core/upstream).
	"name": true, "preferred_username": true, "picture": true, "email": true, "email_verified": true,
	"ent": true, "gid": true, "uip": true,
}

// marshalClaims encodes claims followed by the extra claims whose names are
// not reserved, in name order so that the output is deterministic.
func marshalClaims(claims any, extra map[string]any) ([]byte, error) {
	b, err := json.Marshal(claims)
	if err != nil {
		return nil, err
	}
	if len(extra) == 0 {
		return b, nil
	}
	names := make([]string, 0, len(extra))
	for name := range extra {
		if !reserved[name] && name != "" {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return b, nil
	}
	slices.Sort(names)
	b = b[:len(b)-1] // drop the closing brace
	for _, name := range names {
		k, _ := json.Marshal(name)
		v, err := json.Marshal(extra[name])
		if err != nil {
			return nil, fmt.Errorf("extra claim %q: %w", name, err)
		}
		b = append(b, ',')
		b = append(b, k...)
		b = append(b, ':')
		b = append(b, v...)
	}
	return append(b, '}'), nil
}

// extraClaims are the claims of a verified payload whose names are not
// reserved: what marshalClaims added, read back so that they can be
// carried on (a Backstage identity token's sign-in claims into the grant
// a consent approval makes). nil when there are none.
func extraClaims(payload []byte) map[string]any {
	var all map[string]any
	if json.Unmarshal(payload, &all) != nil {
		return nil
	}
	var extra map[string]any
	for name, v := range all {
		if reserved[name] || name == "" {
			continue
		}
		if extra == nil {
			extra = map[string]any{}
		}
		extra[name] = v
	}
	return extra
}

// unmarshalClaims decodes a verified payload, which must be one JSON object.
func unmarshalClaims(payload []byte, v any) error {
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 || payload[0] != '{' {
		return errors.New("claims are not a JSON object")
	}
	return json.Unmarshal(payload, v)
}

// HasScope reports whether the space-separated scope (RFC 6749 §3.3)
// includes want.
func HasScope(scope, want string) bool {
	for s := range strings.FieldsSeq(scope) {
		if s == want {
			return true
		}
	}
	return false
}

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }
