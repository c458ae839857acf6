package oauth

import (
	"errors"
	"log/slog"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

// NoStore marks a response as never cacheable (RFC 6749 §5.1).
func NoStore(c *fiber.Ctx) {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderPragma, "no-cache")
}

// JSON writes v as a no-store JSON response.
func JSON(c *fiber.Ctx, status int, v any) error {
	NoStore(c)
	return c.Status(status).JSON(v)
}

// WriteError answers err as an RFC 6749 error body. An error that is not an
// *Error is logged and answered as server_error, revealing nothing.
func WriteError(c *fiber.Ctx, err error) error {
	oe := AsError(err)
	if oe.Status >= 500 {
		slog.ErrorContext(c.UserContext(), "request failed", "path", c.Path(), "error", logValue(err),
			"request_id", c.Locals("request_id"))
	} else if parent := errors.Unwrap(oe); parent != nil {
		slog.DebugContext(c.UserContext(), "request refused", "path", c.Path(), "error", oe.Code, "cause", parent)
	}
	challenge := oe.Challenge
	if challenge == "" && oe.Status == fiber.StatusUnauthorized {
		// RFC 9110 §15.5.2: a 401 always carries a challenge.
		challenge = `Bearer realm="gatehouse", error="` + oe.Code + `"`
	}
	if challenge != "" {
		c.Set(fiber.HeaderWWWAuthenticate, challenge)
	}
	if oe.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(oe.RetryAfter))
	}
	return JSON(c, oe.Status, oe)
}

// logValue shows err with its whole chain: an *Error anywhere in it would
// otherwise print without the cause it hides from clients.
func logValue(err error) any {
	var oe *Error
	if errors.As(err, &oe) && oe != err {
		return err.Error() + " (" + oe.LogValue().String() + ")"
	}
	return err
}

// AsError returns err as an *Error: itself if it is one, a mapped error for
// Fiber's own errors, or server_error wrapping it. A server error caused by
// store.ErrUnavailable (a full disk) becomes temporarily_unavailable, 503
// with Retry-After, wherever it was raised.
func AsError(err error) *Error {
	var oe *Error
	if errors.As(err, &oe) {
		if oe.Status >= 500 && oe.RetryAfter == 0 && errors.Is(oe, store.ErrUnavailable) {
			return errStorageUnavailable(err)
		}
		return oe
	}
	if errors.Is(err, store.ErrUnavailable) {
		return errStorageUnavailable(err)
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		switch fe.Code {
		case fiber.StatusRequestEntityTooLarge:
			return ErrRequestTooLarge()
		case fiber.StatusNotFound:
			return ErrNotFound().WithDescription("no such endpoint")
		case fiber.StatusMethodNotAllowed:
			return ErrInvalidRequest().WithStatus(fe.Code).WithDescription("method not allowed; the Allow header lists the methods this endpoint answers")
		case fiber.StatusTooManyRequests:
			return ErrTooManyRequests()
		}
		if fe.Code < 500 {
			return ErrInvalidRequest().WithStatus(fe.Code).WithDescription("%s", fe.Message)
		}
	}
	return ErrServerError().WithParent(err)
}
