package oauth

import (
	"crypto/rand"
	"encoding/base64"
)

// RandomToken returns a URL-safe random string carrying n bytes of entropy,
// for codes, secrets, session ids and every other bearer value.
func RandomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
