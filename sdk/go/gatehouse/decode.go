package gatehouse

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Hook inputs are decoded by a structural scan too: under the host's
// per-call deadline encoding/json costs about 100 µs for a small sign_in
// input, most of a call. Each input type's decodeFast fills the fields it
// knows from a well-formed object and declines (returns false) on anything
// else (a value of another type, a name that differs only in case), and
// HandleFunc then decodes with encoding/json, which gives the precise error.
// On well-formed input both give the same value (FuzzDecodeFast).

// decodeFast fills in (a pointer to one of the input types) from b; false
// when in is of another type or the fast path declines b.
func decodeFast(in any, b []byte) bool {
	switch in := in.(type) {
	case *SignInInput:
		return decodeSignIn(in, b)
	case *ResolveUserInput:
		return decodeResolveUser(in, b)
	case *NotifyInput:
		return decodeNotify(in, b)
	case *TokenClaimsInput:
		return decodeTokenClaims(in, b)
	}
	return false
}

// field binds a member name to the function storing its value.
type field struct {
	name string
	set  func(value []byte) bool
}

// decodeObject stores the members of the object b that fields name,
// skipping the others. A null object leaves everything as it is, as
// encoding/json does.
func decodeObject(b []byte, fields ...field) bool {
	if isNull(b) {
		return true
	}
	return members(b, func(key, value []byte) bool {
		for _, f := range fields {
			if string(key) == f.name {
				return f.set(value)
			}
		}
		// encoding/json matches names case-insensitively: leave that to it.
		for _, f := range fields {
			if strings.EqualFold(string(key), f.name) {
				return false
			}
		}
		return true
	})
}

func isNull(b []byte) bool { return string(b) == "null" }

// stringField stores a JSON string. One with escapes or invalid UTF-8 goes
// through encoding/json (only that value).
func stringField(dst *string) func([]byte) bool {
	return func(v []byte) bool {
		if isNull(v) {
			return true
		}
		if len(v) < 2 || v[0] != '"' {
			return false
		}
		s := v[1 : len(v)-1]
		for _, c := range s {
			if c == '\\' || c >= utf8.RuneSelf {
				return json.Unmarshal(v, dst) == nil
			}
		}
		*dst = string(s)
		return true
	}
}

// rawField keeps a value as raw JSON (a copy, as encoding/json makes).
func rawField(dst *json.RawMessage) func([]byte) bool {
	return func(v []byte) bool {
		*dst = append((*dst)[:0], v...)
		return true
	}
}

// jsonField decodes a small value with encoding/json.
func jsonField(dst any) func([]byte) bool {
	return func(v []byte) bool { return json.Unmarshal(v, dst) == nil }
}

func decodeProfile(p *Profile) func([]byte) bool {
	return func(b []byte) bool {
		return decodeObject(b,
			field{"email", stringField(&p.Email)},
			field{"displayName", stringField(&p.DisplayName)},
			field{"picture", stringField(&p.Picture)},
			field{"username", stringField(&p.Username)},
			field{"email_verified", jsonField(&p.EmailVerified)})
	}
}

func decodeSignIn(in *SignInInput, b []byte) bool {
	return decodeObject(b,
		field{"provider", stringField(&in.Provider)},
		field{"env", stringField(&in.Env)},
		field{"profile", decodeProfile(&in.Profile)},
		field{"claims", rawField(&in.Claims)})
}

func decodeResolveUser(in *ResolveUserInput, b []byte) bool {
	return decodeObject(b,
		field{"kind", stringField(&in.Kind)},
		field{"value", stringField(&in.Value)},
		field{"client_id", stringField(&in.ClientID)},
		field{"scope", stringField(&in.Scope)},
		field{"user_code", stringField(&in.UserCode)},
		field{"purpose", stringField(&in.Purpose)})
}

func decodeNotify(in *NotifyInput, b []byte) bool {
	return decodeObject(b,
		field{"event", stringField(&in.Event)},
		field{"user", func(b []byte) bool {
			return decodeObject(b, field{"sub", stringField(&in.User.Sub)}, field{"profile", decodeProfile(&in.User.Profile)})
		}},
		field{"client", func(b []byte) bool {
			return decodeObject(b, field{"id", stringField(&in.Client.ID)}, field{"name", stringField(&in.Client.Name)})
		}},
		field{"binding_message", stringField(&in.BindingMessage)},
		field{"scope", stringField(&in.Scope)},
		field{"approval_url", stringField(&in.ApprovalURL)},
		field{"expires_at", jsonField(&in.ExpiresAt)})
}

func decodeTokenClaims(in *TokenClaimsInput, b []byte) bool {
	return decodeObject(b,
		field{"client_id", stringField(&in.ClientID)},
		field{"sub", stringField(&in.Sub)},
		field{"scope", stringField(&in.Scope)},
		field{"grant_type", stringField(&in.GrantType)})
}
