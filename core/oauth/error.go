// Package oauth is the wire layer shared by every endpoint: RFC 6749 error
// responses, request parameter parsing, client authentication and no-store
// JSON responses. Endpoints build protocol errors only through this package.
package oauth

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

// Error is an OAuth 2.0 error response (RFC 6749 §5.2 and the registries
// that extend it). The parent error is for logs only and never reaches the
// client.
type Error struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	URI         string `json:"error_uri,omitempty"`
	Status      int    `json:"-"`
	// Challenge, when set, is sent as WWW-Authenticate (RFC 6750 §3, RFC 6749 §5.2).
	Challenge string `json:"-"`
	// RetryAfter, when positive, is sent as Retry-After in seconds (RFC 9110 §10.2.3).
	RetryAfter int `json:"-"`
	parent     error
}

func (e *Error) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// Unwrap exposes the hidden parent to errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.parent }

// LogValue is what logs show of e: the wire error followed by its hidden
// cause, which Error leaves out because Error is what clients may see.
func (e *Error) LogValue() slog.Value {
	if e.parent == nil {
		return slog.StringValue(e.Error())
	}
	return slog.StringValue(e.Error() + ": " + e.parent.Error())
}

// WithDescription returns a copy of e with a human-readable description.
func (e *Error) WithDescription(format string, args ...any) *Error {
	c := *e
	if len(args) > 0 {
		c.Description = fmt.Sprintf(format, args...)
	} else {
		c.Description = format
	}
	return &c
}

// WithParent returns a copy of e carrying err for the logs.
func (e *Error) WithParent(err error) *Error {
	c := *e
	c.parent = err
	return &c
}

// WithStatus returns a copy of e answered with another HTTP status.
func (e *Error) WithStatus(status int) *Error {
	c := *e
	c.Status = status
	return &c
}

// WithChallenge returns a copy of e that sends a WWW-Authenticate header.
func (e *Error) WithChallenge(challenge string) *Error {
	c := *e
	c.Challenge = challenge
	return &c
}

func newError(code string, status int, description string) *Error {
	return &Error{Code: code, Status: status, Description: description}
}

// RFC 6749 §4.1.2.1 and §5.2.
func ErrInvalidRequest() *Error {
	return newError("invalid_request", http.StatusBadRequest, "the request is missing a parameter or is malformed")
}

// ErrInvalidClient is 401 with a Basic challenge: RFC 6749 §5.2 asks for
// one when the client used the Authorization header, and RFC 9110 §15.5.2
// for every 401.
func ErrInvalidClient() *Error {
	e := newError("invalid_client", http.StatusUnauthorized, "client authentication failed")
	e.Challenge = basicChallenge
	return e
}

// basicChallenge is the WWW-Authenticate of client authentication failures.
const basicChallenge = `Basic realm="gatehouse"`

func ErrInvalidGrant() *Error {
	return newError("invalid_grant", http.StatusBadRequest, "the grant is invalid, expired or revoked")
}
func ErrUnauthorizedClient() *Error {
	return newError("unauthorized_client", http.StatusBadRequest, "the client is not allowed to use this grant or response type")
}
func ErrUnsupportedGrantType() *Error {
	return newError("unsupported_grant_type", http.StatusBadRequest, "the grant type is not supported")
}
func ErrUnsupportedResponseType() *Error {
	return newError("unsupported_response_type", http.StatusBadRequest, "the response type is not supported")
}
func ErrInvalidScope() *Error {
	return newError("invalid_scope", http.StatusBadRequest, "the requested scope is invalid or exceeds what was granted")
}
func ErrAccessDenied() *Error {
	return newError("access_denied", http.StatusForbidden, "the resource owner or server denied the request")
}
func ErrServerError() *Error {
	return newError("server_error", http.StatusInternalServerError, "the server could not complete the request")
}
func ErrTemporarilyUnavailable() *Error {
	return newError("temporarily_unavailable", http.StatusServiceUnavailable, "the server is temporarily unavailable")
}

// StorageRetryAfter is the Retry-After, in seconds, of a request refused
// because the store cannot serve it now (store.ErrUnavailable).
const StorageRetryAfter = 30

// errStorageUnavailable answers a failure of the store that is not the
// request's fault and may pass (a full disk): 503 with Retry-After, never
// 500, carrying err for the logs.
func errStorageUnavailable(err error) *Error {
	e := ErrTemporarilyUnavailable().WithParent(err)
	e.RetryAfter = StorageRetryAfter
	if errors.Is(err, store.ErrFull) {
		e.Description = "the server's storage is full; writes are refused until space is freed"
	} else {
		e.Description = "the server's storage is unavailable"
	}
	return e
}

// RFC 8707 §2.
func ErrInvalidTarget() *Error {
	return newError("invalid_target", http.StatusBadRequest, "the requested resource is invalid")
}

// RFC 7591 §3.2.2.
func ErrInvalidRedirectURI() *Error {
	return newError("invalid_redirect_uri", http.StatusBadRequest, "a redirect URI is invalid")
}
func ErrInvalidClientMetadata() *Error {
	return newError("invalid_client_metadata", http.StatusBadRequest, "a client metadata value is invalid")
}
func ErrInvalidSoftwareStatement() *Error {
	return newError("invalid_software_statement", http.StatusBadRequest, "the software statement is invalid")
}

// RFC 6750 §3.1.
func ErrInvalidToken() *Error {
	return newError("invalid_token", http.StatusUnauthorized, "the access token is invalid, expired or revoked")
}
func ErrInsufficientScope() *Error {
	return newError("insufficient_scope", http.StatusForbidden, "the access token lacks the required scope")
}

// RFC 7009 §2.2.1.
func ErrUnsupportedTokenType() *Error {
	return newError("unsupported_token_type", http.StatusBadRequest, "the token type is not supported")
}

// OpenID Connect Core §3.1.2.6.
func ErrLoginRequired() *Error {
	return newError("login_required", http.StatusBadRequest, "the user must sign in")
}
func ErrConsentRequired() *Error {
	return newError("consent_required", http.StatusBadRequest, "the user must consent")
}
func ErrInteractionRequired() *Error {
	return newError("interaction_required", http.StatusBadRequest, "user interaction is required")
}

// CIBA Core §11 and §13, RFC 8628 §3.5.
func ErrAuthorizationPending() *Error {
	return newError("authorization_pending", http.StatusBadRequest, "the user has not yet answered")
}
func ErrSlowDown() *Error {
	return newError("slow_down", http.StatusBadRequest, "polling too fast; the interval has grown by 5 seconds")
}
func ErrExpiredToken() *Error {
	return newError("expired_token", http.StatusBadRequest, "the request has expired")
}
func ErrUnknownUserID() *Error {
	return newError("unknown_user_id", http.StatusBadRequest, "the user could not be identified")
}
func ErrExpiredLoginHintToken() *Error {
	return newError("expired_login_hint_token", http.StatusBadRequest, "the login hint token has expired")
}
func ErrMissingUserCode() *Error {
	return newError("missing_user_code", http.StatusBadRequest, "a user code is required")
}
func ErrInvalidUserCode() *Error {
	return newError("invalid_user_code", http.StatusBadRequest, "the user code is invalid")
}
func ErrInvalidBindingMessage() *Error {
	return newError("invalid_binding_message", http.StatusBadRequest, "the binding message is invalid")
}
func ErrTransactionFailed() *Error {
	return newError("transaction_failed", http.StatusBadRequest, "the transaction failed")
}

// Not in an RFC registry, but what every client understands for these.
func ErrNotFound() *Error {
	return newError("not_found", http.StatusNotFound, "no such resource")
}
func ErrTooManyRequests() *Error {
	return newError("too_many_requests", http.StatusTooManyRequests, "too many requests; retry later")
}
func ErrRequestTooLarge() *Error {
	return newError("invalid_request", http.StatusRequestEntityTooLarge, "the request body is too large")
}
