package identity

import (
	"net/url"
	"strings"

	"github.com/gatehouse-auth/gatehouse/core/config"
)

// maxReturnTo bounds a returnTo value: our own page paths are short.
const maxReturnTo = 1024

// LocalReturnTo checks where a sign-in or sign-out may send the browser
// back to: only a path on this server under its base path, so that the
// login endpoints are no open redirector (RFC 9700 §4.11). It refuses
// absolute and scheme-relative URLs ("//evil", "/\evil", which browsers
// read as another host), control characters and anything outside the base
// path. ok is false when raw is not acceptable.
func LocalReturnTo(cfg *config.Config, raw string) (path string, ok bool) {
	if raw == "" || len(raw) > maxReturnTo || !strings.HasPrefix(raw, "/") {
		return "", false
	}
	if strings.HasPrefix(raw, "//") || strings.ContainsAny(raw, "\\") {
		return "", false
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] < 0x20 || raw[i] == 0x7f {
			return "", false
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "", false
	}
	// Dot segments would let a path climb out of the base path.
	for seg := range strings.SplitSeq(u.Path, "/") {
		if seg == "." || seg == ".." {
			return "", false
		}
	}
	if base := cfg.Server.BasePath; base != "" && u.Path != base && !strings.HasPrefix(u.Path, base+"/") {
		return "", false
	}
	return raw, true
}
