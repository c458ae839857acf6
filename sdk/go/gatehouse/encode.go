package gatehouse

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Hook results are encoded by hand for the same reason inputs are scanned:
// encoding/json's reflection is a large share of a call under the host's
// deadline. The output is what encoding/json produces, give or take the
// escaping of characters that need none (FuzzEncodeFast compares the
// decoded documents); a value the fast path cannot write (a string that is
// not valid UTF-8) is declined and encoding/json writes the whole result.

// appendResult appends the hook result v (one of the result types, or a
// pointer to one); false when v is of another type or the fast path
// declines it.
func appendResult(dst []byte, v any) ([]byte, bool) {
	switch r := v.(type) {
	case SignInResult:
		return appendSignIn(dst, &r)
	case *SignInResult:
		return appendSignIn(dst, r)
	case AuthHandlerResult:
		return appendAuthHandler(dst, &r)
	case *AuthHandlerResult:
		return appendAuthHandler(dst, r)
	case ResolveUserResult:
		return appendResolveUser(dst, &r)
	case *ResolveUserResult:
		return appendResolveUser(dst, r)
	case NotifyResult:
		return appendNotify(dst, &r)
	case *NotifyResult:
		return appendNotify(dst, r)
	case TokenClaimsResult:
		return appendTokenClaims(dst, &r)
	case *TokenClaimsResult:
		return appendTokenClaims(dst, r)
	}
	return dst, false
}

// appendString appends s as a JSON string; false when s is not valid UTF-8.
func appendString(dst []byte, s string) ([]byte, bool) {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return dst, false
			}
			i += size - 1
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			const hex = "0123456789abcdef"
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), true
}

// appendMember appends ,"key":"value" (no comma for the first member).
func appendMember(dst []byte, first bool, key, value string) ([]byte, bool) {
	if !first {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	return appendString(dst, value)
}

// appendAny appends v with encoding/json (claims and webhook bodies).
func appendAny(dst []byte, v any) ([]byte, bool) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, false
	}
	return append(dst, b...), true
}

func appendProfile(dst []byte, p *Profile) ([]byte, bool) {
	dst = append(dst, '{')
	ok, first := true, true
	for _, m := range [...]struct{ k, v string }{{"email", p.Email}, {"displayName", p.DisplayName}, {"picture", p.Picture}, {"username", p.Username}} {
		if m.v == "" || !ok {
			continue
		}
		dst, ok = appendMember(dst, first, m.k, m.v)
		first = false
	}
	if p.EmailVerified != nil {
		if !first {
			dst = append(dst, ',')
		}
		dst = strconv.AppendBool(append(dst, `"email_verified":`...), *p.EmailVerified)
	}
	return append(dst, '}'), ok
}

// appendStrings appends a JSON array of strings (null for nil).
func appendStrings(dst []byte, list []string) ([]byte, bool) {
	if list == nil {
		return append(dst, "null"...), true
	}
	dst = append(dst, '[')
	ok := true
	for i, e := range list {
		if i > 0 {
			dst = append(dst, ',')
		}
		var k bool
		dst, k = appendString(dst, e)
		ok = ok && k
	}
	return append(dst, ']'), ok
}

func appendSignIn(dst []byte, r *SignInResult) ([]byte, bool) {
	dst, ok := appendMember(append(dst, '{'), true, "sub", r.Sub)
	dst, k := appendStrings(append(dst, `,"ent":`...), r.Ent)
	ok = ok && k
	if len(r.Claims) > 0 {
		dst, k = appendAny(append(dst, `,"claims":`...), r.Claims)
		ok = ok && k
	}
	return append(dst, '}'), ok
}

func appendAuthHandler(dst []byte, r *AuthHandlerResult) ([]byte, bool) {
	dst, ok := appendProfile(append(dst, `{"profile":`...), &r.Profile)
	return append(dst, '}'), ok
}

func appendResolveUser(dst []byte, r *ResolveUserResult) ([]byte, bool) {
	dst, ok := appendMember(append(dst, '{'), true, "sub", r.Sub)
	dst, k := appendProfile(append(dst, `,"profile":`...), &r.Profile)
	ok = ok && k
	if len(r.Ent) > 0 {
		dst, k = appendStrings(append(dst, `,"ent":`...), r.Ent)
		ok = ok && k
	}
	if r.UserCodeVerified {
		dst = append(dst, `,"user_code_verified":true`...)
	}
	return append(dst, '}'), ok
}

func appendNotify(dst []byte, r *NotifyResult) ([]byte, bool) {
	dst = append(dst, `{"deliveries":`...)
	if r.Deliveries == nil {
		return append(dst, "null}"...), true
	}
	dst = append(dst, '[')
	ok := true
	for i, d := range r.Deliveries {
		if i > 0 {
			dst = append(dst, ',')
		}
		var k bool
		dst, k = appendMember(append(dst, '{'), true, "type", d.Type)
		ok = ok && k
		if d.URL != "" {
			dst, k = appendMember(dst, false, "url", d.URL)
			ok = ok && k
		}
		if d.Body != nil {
			dst, k = appendAny(append(dst, `,"body":`...), d.Body)
			ok = ok && k
		}
		for _, m := range [...]struct{ k, v string }{{"message", d.Message}, {"to", d.To}, {"subject", d.Subject}, {"language", d.Language}} {
			if m.v != "" {
				dst, k = appendMember(dst, false, m.k, m.v)
				ok = ok && k
			}
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}"...), ok
}

func appendTokenClaims(dst []byte, r *TokenClaimsResult) ([]byte, bool) {
	dst = append(dst, `{"claims":`...)
	if r.Claims == nil {
		return append(dst, "null}"...), true
	}
	dst, ok := appendAny(dst, r.Claims)
	return append(dst, '}'), ok
}
