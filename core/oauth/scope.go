package oauth

import (
	"slices"
	"strings"
)

// ParseScope splits a scope (RFC 6749 §3.3: scope-tokens separated by
// single spaces, each 1*( %x21 / %x23-5B / %x5D-7E )) into its distinct
// values, in order; runs of spaces separate nothing more. bad is the first
// value with a character the RFC excludes, which every endpoint refuses:
// a tab or a newline is such a character, not a separator.
func ParseScope(s string) (values []string, bad string) {
	for v := range strings.SplitSeq(s, " ") {
		if v == "" {
			continue
		}
		if !validScopeToken(v) {
			return nil, v
		}
		if !slices.Contains(values, v) {
			values = append(values, v)
		}
	}
	return values, ""
}

func validScopeToken(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < 0x21 || b == 0x22 || b == 0x5C || b > 0x7E {
			return false
		}
	}
	return true
}
