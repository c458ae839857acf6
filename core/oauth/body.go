package oauth

import (
	"bytes"

	"github.com/gofiber/fiber/v2"
)

// CheckContentEncoding refuses a request whose body carries a content
// coding other than identity, with 415 and "Accept-Encoding: identity"
// (RFC 9110 §8.4.1, §12.5.3, §15.5.16).
//
// Refusing rather than inflating through a capped reader: no OAuth or
// OpenID client compresses its requests, Fiber's Ctx.Body and fasthttp's
// multipart reader inflate without bound (a 376-byte "gzip, gzip" body
// grew to 400 MiB, past body_limit, which counts only the bytes sent), and
// even a capped inflater spends CPU on bytes nobody needed. Every
// Content-Encoding header is checked, not only the first.
func CheckContentEncoding(c *fiber.Ctx) *Error {
	for _, v := range c.Request().Header.PeekAll(fiber.HeaderContentEncoding) {
		for _, coding := range bytes.Split(v, []byte(",")) {
			coding = bytes.TrimSpace(coding)
			if len(coding) == 0 || bytes.EqualFold(coding, []byte("identity")) {
				continue
			}
			c.Set(fiber.HeaderAcceptEncoding, "identity")
			return ErrInvalidRequest().WithStatus(fiber.StatusUnsupportedMediaType).
				WithDescription("Content-Encoding %q is not supported; send the body uncompressed", bytes.TrimSpace(v))
		}
	}
	return nil
}

// Body returns the request body exactly as sent, after refusing a content
// coding. Endpoints read bodies only through it (or ParseBody), never
// through Fiber's Ctx.Body, which inflates compressed bodies.
func Body(c *fiber.Ctx) ([]byte, *Error) {
	if err := CheckContentEncoding(c); err != nil {
		return nil, err
	}
	return c.Request().Body(), nil
}
