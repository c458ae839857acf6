package oauth_test

import (
	"encoding/json"
	"mime"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
)

var app = fiber.New()

// withCtx runs fn on a Fiber context for a request built from the parts,
// the way the server would see it.
func withCtx(method, contentType, query string, body []byte, fn func(*fiber.Ctx)) {
	var fctx fasthttp.RequestCtx
	fctx.Request.Header.SetMethod(method)
	fctx.Request.SetRequestURI("/v1/token")
	fctx.Request.URI().SetQueryString(query)
	if contentType != "" {
		fctx.Request.Header.SetContentType(contentType)
	}
	fctx.Request.SetBody(body)
	c := app.AcquireCtx(&fctx)
	defer app.ReleaseCtx(c)
	fn(c)
}

// refused checks that a parse error is a client error, never a 500.
func refused(t *testing.T, err error) {
	t.Helper()
	oe := oauth.AsError(err)
	if oe.Code != "invalid_request" || (oe.Status != 400 && oe.Status != 415) {
		t.Fatalf("error %v answered %d %s, want 400/415 invalid_request", err, oe.Status, oe.Code)
	}
}

func checkUTF8(t *testing.T, p oauth.Params) {
	t.Helper()
	for name, v := range p {
		if !utf8.ValidString(name) || !utf8.ValidString(v) {
			t.Fatalf("accepted a parameter that is not UTF-8: %q=%q", name, v)
		}
	}
}

var formSeeds = []string{
	"grant_type=client_credentials&scope=catalog.read",
	"grant_type=authorization_code&code=abc&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&code_verifier=x",
	"grant_type=a&grant_type=b",
	"a=%zz",
	"a=%ff%fe",
	"%c0=x",
	"a;b=c",
	"=&=&&",
	"a+b=c+d%20e",
	"",
}

// FuzzParseBodyForm: a form body either parses to exactly what
// url.ParseQuery reads, one UTF-8 value per name, or is refused with a
// 400; it never panics.
func FuzzParseBodyForm(f *testing.F) {
	for _, s := range formSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		withCtx(fiber.MethodPost, fiber.MIMEApplicationForm, "", []byte(body), func(c *fiber.Ctx) {
			p, err := oauth.ParseBody(c)
			if err != nil {
				refused(t, err)
				return
			}
			checkUTF8(t, p)
			values, err := url.ParseQuery(body)
			if err != nil {
				t.Fatalf("accepted %q, which url.ParseQuery refuses: %v", body, err)
			}
			if len(values) != len(p) {
				t.Fatalf("%q: %d parameters, url.ParseQuery sees %d", body, len(p), len(values))
			}
			for name, vs := range values {
				if len(vs) != 1 || vs[0] != p[name] {
					t.Fatalf("%q: %s=%q, url.ParseQuery reads %q", body, name, p[name], vs)
				}
			}
		})
	})
}

// FuzzParseBodyJSON: a JSON body either is one object of scalar members,
// none repeated, all UTF-8, or is refused with a 400; it never panics.
func FuzzParseBodyJSON(f *testing.F) {
	for _, s := range []string{
		`{"grant_type":"client_credentials","scope":"a b"}`,
		`{"n":1.5e3,"b":true,"z":null}`,
		`{"a":"1","a":"2"}`,
		`{"a":{"b":1}}`,
		`["a"]`,
		`{"a":"b"} {}`,
		`{"a":"\ud800"}`,
		"{\"a\":\"\xff\"}",
		`{"a":` + "[[[[[[[[[[" + `}`,
		`  `,
		`"str"`,
	} {
		f.Add(s, "application/json")
	}
	f.Add(`{"a":"b"}`, "application/json; charset=utf-8")
	f.Add(`{"a":"b"}`, "text/plain")
	f.Add(`a=b`, "")
	f.Add(`a=b`, "application/json;;")
	f.Fuzz(func(t *testing.T, body, contentType string) {
		withCtx(fiber.MethodPost, contentType, "", []byte(body), func(c *fiber.Ctx) {
			p, err := oauth.ParseBody(c)
			if err != nil {
				refused(t, err)
				return
			}
			checkUTF8(t, p)
			if mt, _, _ := mime.ParseMediaType(contentType); mt != "application/json" {
				// Read as a form (no or an unparseable content type).
				if values, err := url.ParseQuery(body); err != nil || len(values) != len(p) {
					t.Fatalf("%q (%q): accepted %v as a form; url.ParseQuery: %v, %v", body, contentType, p, values, err)
				}
				return
			}
			var obj map[string]any
			if len(strings.TrimSpace(body)) == 0 {
				if len(p) != 0 {
					t.Fatalf("empty body gave %v", p)
				}
				return
			}
			if err := json.Unmarshal([]byte(body), &obj); err != nil {
				t.Fatalf("accepted %q, which is not a JSON object: %v", body, err)
			}
			if len(obj) != len(p) {
				t.Fatalf("%q: %d parameters, the JSON object has %d members", body, len(p), len(obj))
			}
			for name, v := range obj {
				switch v := v.(type) {
				case map[string]any, []any:
					t.Fatalf("%q: accepted a non-scalar member %s", body, name)
				case string:
					if p[name] != v {
						t.Fatalf("%q: %s=%q, JSON says %q", body, name, p[name], v)
					}
				}
			}
		})
	})
}

// FuzzParseQuery: a query string either parses to one UTF-8 value per
// name or is refused with a 400.
func FuzzParseQuery(f *testing.F) {
	for _, s := range formSeeds {
		f.Add(s)
	}
	f.Add("response_type=code&client_id=x&redirect_uri=https%3A%2F%2Fa.example%2Fcb&state=%E2%9C%93")
	f.Fuzz(func(t *testing.T, query string) {
		withCtx(fiber.MethodGet, "", query, nil, func(c *fiber.Ctx) {
			p, err := oauth.Parse(c)
			if err != nil {
				refused(t, err)
				return
			}
			checkUTF8(t, p)
			values, err := url.ParseQuery(string(c.Request().URI().QueryString()))
			if err != nil || len(values) != len(p) {
				t.Fatalf("%q: accepted %v; url.ParseQuery: %v, %v", query, p, values, err)
			}
		})
	})
}
