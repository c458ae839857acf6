// Package hook is the one description of the hooks of plugin ABI v1
// (sdk/ABI.md §6): their names, the refusal codes their callers
// understand, and the JSON of each hook's input and result. The Gatehouse
// server (core/plugin, which calls hooks, and the packages that ask for
// them) and the Go SDK (package gatehouse, which serves them) both use
// these types, so the two sides cannot drift apart.
//
// The package lives in the SDK's module (github.com/gatehouse-auth/gatehouse/sdk/go)
// rather than in the server's: a plugin author requires the SDK module
// alone, with the standard library as its only dependency and Go 1.24 as
// its version, and the server module requires the SDK module (a replace
// points it at this directory). The other way round, the SDK would pull the
// server's Go version and dependencies into every plugin.
//
// Field names and omitempty are the wire format: an input is written the
// way the host writes it, a result the way the SDK writes it. A change here
// is an ABI change (sdk/ABI.md §9).
package hook

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Names of the hooks of ABI v1 (a hook's export is gh_<name>).
const (
	SignIn      = "sign_in"
	AuthHandler = "auth_handler"
	ResolveUser = "resolve_user"
	Notify      = "notify"
	TokenClaims = "token_claims"
)

// Names lists every hook of ABI v1, in a stable order.
var Names = [...]string{SignIn, AuthHandler, ResolveUser, Notify, TokenClaims}

// Refusal codes of ABI v1: the code of {"error": {"code", "message"}}.
// A caller treats a code it does not know like CodeAccessDenied.
const (
	// CodeAccessDenied refuses a sign-in or any other decision.
	CodeAccessDenied = "access_denied"
	// CodeUnknownUser answers resolve_user for a hint that names nobody
	// (CIBA Core 1.0 §13, unknown_user_id).
	CodeUnknownUser = "unknown_user_id"
	// CodeInvalidUserCode and CodeMissingUserCode answer resolve_user for
	// a user_code that is not the user's, or absent where the directory
	// requires one (CIBA Core 1.0 §13).
	CodeInvalidUserCode = "invalid_user_code"
	CodeMissingUserCode = "missing_user_code"
	// CodeExpiredLoginHintToken answers resolve_user for a
	// login_hint_token that has expired (CIBA Core 1.0 §13).
	CodeExpiredLoginHintToken = "expired_login_hint_token"
	// CodeInvalidRequest answers input the plugin cannot work with.
	CodeInvalidRequest = "invalid_request"
	// CodeServerError reports that the plugin could not decide; the
	// caller fails closed.
	CodeServerError = "server_error"
)

// Values of ResolveUserInput.Kind and Purpose.
const (
	KindLoginHint      = "login_hint"
	KindIDTokenHint    = "id_token_hint"
	KindLoginHintToken = "login_hint_token"

	// PurposeCIBA: a backchannel authentication request, which the user
	// will be asked to authorize.
	PurposeCIBA = "ciba"
	// PurposeProfile: the host only wants the profile of a user it has
	// authenticated otherwise; nobody is asked anything.
	PurposeProfile = "profile"
)

// EventAuthenticationRequested is the notify event of a new CIBA request.
const EventAuthenticationRequested = "ciba.authentication_requested"

// Delivery types of a notify result.
const (
	DeliveryWebhook = "webhook"
	DeliveryLog     = "log"
	DeliveryEmail   = "email"
)

// Profile is a person's profile as every hook exchanges it. Username (the
// OIDC preferred_username) and EmailVerified (nil: unknown) were added in
// v1 without a version change.
type Profile struct {
	Email         string `json:"email,omitempty"`
	DisplayName   string `json:"displayName,omitempty"`
	Picture       string `json:"picture,omitempty"`
	Username      string `json:"username,omitempty"`
	EmailVerified *bool  `json:"email_verified,omitempty"`
}

// SignInInput is the input of sign_in (and auth_handler): an upstream
// provider has authenticated someone.
type SignInInput struct {
	Provider string  `json:"provider"`
	Env      string  `json:"env"`
	Profile  Profile `json:"profile"`
	// Claims are the upstream claims exactly as the provider returned them
	// (the host always sends an object). They stay raw JSON (numbers keep
	// their precision) and are decoded only by a handler that reads them:
	// json.Unmarshal(in.Claims, &yourStruct).
	Claims json.RawMessage `json:"claims,omitempty"`
}

// SignInResult is the result of sign_in: the Backstage identity, and
// extra claims for the user's tokens.
type SignInResult struct {
	Sub    string         `json:"sub"`
	Ent    []string       `json:"ent"`
	Claims map[string]any `json:"claims,omitempty"`
}

// AuthHandlerInput is the input of auth_handler (the same as sign_in's).
type AuthHandlerInput = SignInInput

// AuthHandlerResult is the result of auth_handler: the profile that
// replaces the upstream's for the rest of the sign-in.
type AuthHandlerResult struct {
	Profile Profile `json:"profile"`
}

// ResolveUserInput is the input of resolve_user. Kind is KindLoginHint,
// KindIDTokenHint (Value is then the already verified token's sub) or
// KindLoginHintToken. UserCode is the CIBA user_code the client sent (CIBA
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
	// Purpose is PurposeCIBA or PurposeProfile; "" from hosts before it.
	Purpose string `json:"purpose,omitempty"`
}

// ResolveUserResult is the result of resolve_user. UserCodeVerified
// reports that the plugin compared the input's UserCode with the user's
// own and they are equal; the host refuses a request whose user_code no
// plugin reported verified (invalid_user_code), so it stays false when the
// user has no code or the plugin does not check codes. Ent, optional, are
// the user's ownership references.
type ResolveUserResult struct {
	Sub              string   `json:"sub"`
	Profile          Profile  `json:"profile"`
	Ent              []string `json:"ent,omitempty"`
	UserCodeVerified bool     `json:"user_code_verified,omitempty"`
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

// NotifyInput is the input of notify: an event needs a person's attention.
type NotifyInput struct {
	Event          string    `json:"event"`
	User           User      `json:"user"`
	Client         Client    `json:"client"`
	BindingMessage string    `json:"binding_message,omitempty"`
	Scope          string    `json:"scope,omitempty"`
	ApprovalURL    string    `json:"approval_url,omitempty"`
	ExpiresAt      Timestamp `json:"expires_at"`
}

// NotifyResult is the result of notify: what the host delivers.
type NotifyResult struct {
	Deliveries []Delivery `json:"deliveries"`
}

// Delivery is one message for the host to send: a DeliveryWebhook (URL
// and Body), a DeliveryLog line (Message) or a DeliveryEmail (To,
// optionally Subject and Language) that the host renders from its approval
// e-mail templates and sends over SMTP.
//
// Body is any value a plugin encodes; decoded, it is the json.RawMessage
// the plugin wrote, so that the host posts exactly those bytes.
type Delivery struct {
	Type    string `json:"type"`
	URL     string `json:"url,omitempty"`
	Body    any    `json:"body,omitempty"`
	Message string `json:"message,omitempty"`
	To      string `json:"to,omitempty"`
	Subject string `json:"subject,omitempty"`
	// Language is an e-mail's (a BCP 47 tag, matched like
	// Accept-Language); empty: the host's ui.default_language.
	Language string `json:"language,omitempty"`
}

// UnmarshalJSON implements json.Unmarshaler, keeping Body raw.
func (d *Delivery) UnmarshalJSON(b []byte) error {
	type fields Delivery
	var v struct {
		fields
		Body json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*d = Delivery(v.fields)
	if v.Body != nil {
		d.Body = v.Body
	}
	return nil
}

// TokenClaimsInput is the input of token_claims: a token is about to be
// signed.
type TokenClaimsInput struct {
	ClientID  string `json:"client_id"`
	Sub       string `json:"sub"`
	Scope     string `json:"scope"`
	GrantType string `json:"grant_type"`
}

// TokenClaimsResult is the result of token_claims: extra access-token
// claims.
type TokenClaimsResult struct {
	Claims map[string]any `json:"claims"`
}

// Timestamp is an instant that reads either Unix seconds (a JSON number)
// or an RFC 3339 string, and writes back the form it read: Unix seconds
// when built in Go, unless made by RFC3339 (the host's form).
type Timestamp struct {
	time.Time
	rfc3339 bool
}

// RFC3339 is t, written as an RFC 3339 string in UTC.
func RFC3339(t time.Time) Timestamp { return Timestamp{Time: t, rfc3339: true} }

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
