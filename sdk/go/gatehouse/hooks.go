package gatehouse

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Profile is a person's profile as the hooks exchange it.
type Profile struct {
	Email       string `json:"email,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	Picture     string `json:"picture,omitempty"`
}

// SignInInput is the input of sign_in: an upstream provider has
// authenticated someone.
type SignInInput struct {
	Provider string  `json:"provider"`
	Env      string  `json:"env"`
	Profile  Profile `json:"profile"`
	// Claims are the upstream claims exactly as the provider returned them.
	// They stay raw JSON (numbers keep their precision) and are decoded only
	// by a handler that reads them: json.Unmarshal(in.Claims, &yourStruct).
	Claims json.RawMessage `json:"claims,omitempty"`
}

// SignInResult is the result of sign_in: the Backstage identity.
type SignInResult struct {
	Sub    string         `json:"sub"`
	Ent    []string       `json:"ent"`
	Claims map[string]any `json:"claims,omitempty"`
}

// AuthHandlerInput is the input of auth_handler (same shape as sign_in's).
type AuthHandlerInput = SignInInput

// AuthHandlerResult is the result of auth_handler.
type AuthHandlerResult struct {
	Profile Profile `json:"profile"`
}

// ResolveUserInput is the input of resolve_user. Kind is login_hint,
// id_token_hint (Value is then the already verified token's sub) or
// login_hint_token. UserCode is the CIBA user_code the client sent (CIBA
// Core §7.1), "" when none: a directory that knows the user's code
// refuses a wrong one with CodeInvalidUserCode, a missing one with
// CodeMissingUserCode, and reports the right one with
// ResolveUserResult.UserCodeVerified.
type ResolveUserInput struct {
	Kind     string `json:"kind"`
	Value    string `json:"value"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	UserCode string `json:"user_code,omitempty"`
	// Purpose is "ciba" (a backchannel authentication request: the user
	// will be asked to authorize it) or "profile" (the host only wants the
	// profile of a user it has authenticated); "" from hosts before it.
	Purpose string `json:"purpose,omitempty"`
}

// ResolveUserResult is the result of resolve_user. UserCodeVerified
// reports that the handler compared the input's UserCode with the user's
// own and they are equal; the host refuses a request whose user_code no
// plugin reported verified (invalid_user_code), so leave it false when
// the user has no code or the handler does not check codes.
type ResolveUserResult struct {
	Sub              string  `json:"sub"`
	Profile          Profile `json:"profile"`
	UserCodeVerified bool    `json:"user_code_verified,omitempty"`
}

// User is a resolved user as events carry it.
type User struct {
	Sub     string  `json:"sub"`
	Profile Profile `json:"profile"`
}

// Client names an OAuth client in events.
type Client struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// NotifyInput is the input of notify.
type NotifyInput struct {
	Event          string    `json:"event"`
	User           User      `json:"user"`
	Client         Client    `json:"client"`
	BindingMessage string    `json:"binding_message,omitempty"`
	Scope          string    `json:"scope,omitempty"`
	ApprovalURL    string    `json:"approval_url,omitempty"`
	ExpiresAt      Timestamp `json:"expires_at"`
}

// NotifyResult is the result of notify: what the core should deliver.
type NotifyResult struct {
	Deliveries []Delivery `json:"deliveries"`
}

// Delivery is one message for the core to send: a "webhook" (URL and Body),
// a "log" line (Message) or an "email" (To, optionally Subject) that the
// core renders from its approval e-mail templates and sends over SMTP.
type Delivery struct {
	Type    string `json:"type"`
	URL     string `json:"url,omitempty"`
	Body    any    `json:"body,omitempty"`
	Message string `json:"message,omitempty"`
	To      string `json:"to,omitempty"`
	Subject string `json:"subject,omitempty"`
}

// TokenClaimsInput is the input of token_claims.
type TokenClaimsInput struct {
	ClientID  string `json:"client_id"`
	Sub       string `json:"sub"`
	Scope     string `json:"scope"`
	GrantType string `json:"grant_type"`
}

// TokenClaimsResult is the result of token_claims.
type TokenClaimsResult struct {
	Claims map[string]any `json:"claims"`
}

// Timestamp is an instant that reads either Unix seconds (a JSON number) or
// an RFC 3339 string, and writes back the form it read (Unix seconds when
// built in Go).
type Timestamp struct {
	time.Time
	rfc3339 bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = Timestamp{}
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return fmt.Errorf("timestamp: %w", err)
		}
		*t = Timestamp{Time: v, rfc3339: true}
		return nil
	}
	sec, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp: want Unix seconds or an RFC 3339 string, got %s", b)
	}
	*t = Timestamp{Time: time.Unix(sec, 0).UTC()}
	return nil
}

// MarshalJSON implements json.Marshaler.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	if t.rfc3339 {
		return json.Marshal(t.UTC().Format(time.RFC3339))
	}
	return strconv.AppendInt(nil, t.Unix(), 10), nil
}
