package e2e_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

// bombSize is what each compressed body below inflates to: far past the
// body limit (64 KiB), while the bytes sent stay under it.
const bombSize = 48 << 20

// gzipped compresses what r yields.
func gzipped(tb testing.TB, r io.Reader) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(zw, r); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// repeated yields prefix, n bytes of 'a', then suffix, without holding them.
func repeated(prefix string, n int64, suffix string) io.Reader {
	return io.MultiReader(strings.NewReader(prefix), io.LimitReader(byteReader('a'), n), strings.NewReader(suffix))
}

type byteReader byte

func (b byteReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// TestCompressedBodiesRefused sends decompression bombs to every route that
// reads a body: a "gzip, gzip" form or JSON body (what Fiber's Ctx.Body
// inflated) and a gzip multipart form (what fasthttp's FormValue inflates,
// behind the CSRF check, the page forms and the provider routes). Each gets
// 415 invalid_request with Accept-Encoding: identity, the store is
// unchanged, and serving it allocates a small fraction of what the body
// would inflate to. Not parallel: the allocation count is the process's.
func TestCompressedBodiesRefused(t *testing.T) {
	l := startLive(t, nil)
	l.client(t, "machine", store.ClientMetadata{GrantTypes: []string{"client_credentials"}})
	form := gzipped(t, bytes.NewReader(gzipped(t, repeated("grant_type=client_credentials&pad=", bombSize, ""))))
	jsonBody := gzipped(t, bytes.NewReader(gzipped(t, repeated(`{"client_name":"`, bombSize, `"}`))))
	const boundary = "b0undary"
	multipart := gzipped(t, repeated("--"+boundary+"\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n",
		bombSize, "\r\n--"+boundary+"--\r\n"))
	for _, b := range [][]byte{form, jsonBody, multipart} {
		if len(b) >= l.cfg.Server.BodyLimit {
			t.Fatalf("a bomb of %d bytes does not fit the body limit", len(b))
		}
	}
	const formType, jsonType = "application/x-www-form-urlencoded", "application/json"
	multipartType := "multipart/form-data; boundary=" + boundary
	cases := []struct {
		method, path, contentType, encoding string
		body                                []byte
	}{
		{"POST", "/v1/token", formType, "gzip, gzip", form},
		{"POST", "/v1/token", jsonType, "gzip, gzip", jsonBody},
		{"POST", "/v1/revoke", formType, "gzip, gzip", form},
		{"POST", "/v1/introspect", formType, "gzip, gzip", form},
		{"POST", "/v1/userinfo", formType, "gzip, gzip", form},
		{"POST", "/v1/register", jsonType, "gzip, gzip", jsonBody},
		{"PUT", "/v1/register/machine", jsonType, "gzip, gzip", jsonBody},
		{"POST", "/v1/authorize", formType, "gzip, gzip", form},
		{"POST", "/v1/backchannel/authorize", formType, "gzip, gzip", form},
		{"POST", "/v1/backchannel/complete", formType, "gzip, gzip", form},
		{"POST", "/v1/sessions/none/approve", jsonType, "gzip, gzip", jsonBody},
		{"POST", "/guest/refresh", formType, "gzip, gzip", form},
		{"POST", "/admin/keys/rotate", jsonType, "gzip, gzip", jsonBody},
		{"POST", "/oauth2/authorize/none", multipartType, "gzip", multipart},
		{"POST", "/oauth2/backchannel/none", multipartType, "gzip", multipart},
		{"POST", "/guest/start", multipartType, "gzip", multipart},
		{"POST", "/guest/logout", multipartType, "GZIP", multipart},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path+" "+tc.encoding, func(t *testing.T) {
			before := l.snapshot(t)
			r := request{method: tc.method, path: tc.path, body: string(tc.body), header: http.Header{
				"Content-Type": {tc.contentType}, "Content-Encoding": {tc.encoding},
				"Authorization": {basicAuth("machine", liveSecret)},
			}}
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			a := l.do(t, r)
			runtime.ReadMemStats(&m1)
			if a.status != http.StatusUnsupportedMediaType || a.str("error") != "invalid_request" {
				t.Errorf("got %d %.300s, want 415 invalid_request", a.status, a.raw)
			}
			if got := a.header.Get("Accept-Encoding"); got != "identity" {
				t.Errorf("Accept-Encoding %q, want identity", got)
			}
			// The whole exchange (client and server) allocates a few
			// hundred KiB; inflating would take bombSize at least.
			if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > bombSize/8 {
				t.Errorf("serving a %d-byte body allocated %d MiB", len(tc.body), alloc>>20)
			}
			unchanged(t, before, l.snapshot(t))
		})
	}
}
