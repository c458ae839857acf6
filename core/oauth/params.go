package oauth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/url"
	"strconv"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
)

// Params are a request's parameters: a single value per name, as RFC 6749
// §3.1 requires ("parameters MUST NOT be included more than once").
type Params map[string]string

// Get returns the value of name, or "".
func (p Params) Get(name string) string { return p[name] }

// ParseQuery reads the parameters of a GET request's query string.
func ParseQuery(c *fiber.Ctx) (Params, error) {
	values, err := url.ParseQuery(string(c.Request().URI().QueryString()))
	if err != nil {
		return nil, ErrInvalidRequest().WithDescription("malformed query string").WithParent(err)
	}
	return single(values)
}

// ParseBody reads the parameters of a POST body sent either as
// application/x-www-form-urlencoded (the OAuth wire format) or as a JSON
// object (what Backstage's clients send). Values in JSON must be strings,
// numbers or booleans.
func ParseBody(c *fiber.Ctx) (Params, error) {
	p, _, err := parseBody(c, "")
	return p, err
}

// ParseBodyResources is ParseBody for a request that may carry RFC 8707
// resource indicators: resource may repeat (§2; in JSON, a string or an
// array of strings), and its values are returned apart from Params, which
// holds none.
func ParseBodyResources(c *fiber.Ctx) (Params, []string, error) {
	return parseBody(c, "resource")
}

// parseBody reads a body whose parameter named repeat (if not "") may
// appear more than once; its values are returned apart.
func parseBody(c *fiber.Ctx, repeat string) (Params, []string, error) {
	body, oerr := Body(c)
	if oerr != nil {
		return nil, nil, oerr
	}
	mediaType, _, _ := mime.ParseMediaType(string(c.Request().Header.ContentType()))
	switch mediaType {
	case "application/json":
		return parseJSON(body, repeat)
	case "application/x-www-form-urlencoded", "":
		values, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, nil, ErrInvalidRequest().WithDescription("malformed form body").WithParent(err)
		}
		var many []string
		if repeat != "" {
			many = values[repeat]
			delete(values, repeat)
			for _, v := range many {
				if !utf8.ValidString(v) {
					return nil, nil, errNotUTF8()
				}
			}
		}
		p, err := single(values)
		return p, many, err
	default:
		return nil, nil, ErrInvalidRequest().WithStatus(fiber.StatusUnsupportedMediaType).
			WithDescription("content type %q is not supported; send application/x-www-form-urlencoded or application/json", mediaType)
	}
}

// Parse reads query parameters for GET and body parameters otherwise.
func Parse(c *fiber.Ctx) (Params, error) {
	if c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead {
		return ParseQuery(c)
	}
	return ParseBody(c)
}

// single keeps one value per name and refuses names or values that are not
// UTF-8 (RFC 6749 Appendix B: parameters are UTF-8 before percent-encoding),
// so that no malformed text reaches a comparison, a log line or the store.
func single(values url.Values) (Params, error) {
	p := make(Params, len(values))
	for name, vs := range values {
		if !utf8.ValidString(name) {
			return nil, errNotUTF8()
		}
		if len(vs) > 1 {
			return nil, ErrInvalidRequest().WithDescription("parameter %q is repeated", name)
		}
		if !utf8.ValidString(vs[0]) {
			return nil, errNotUTF8()
		}
		p[name] = vs[0]
	}
	return p, nil
}

func errNotUTF8() *Error {
	return ErrInvalidRequest().WithDescription("parameters must be UTF-8 text (RFC 6749 Appendix B)")
}

func parseJSON(body []byte, repeat string) (Params, []string, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return Params{}, nil, nil
	}
	// RFC 8259 §8.1: JSON is UTF-8. The decoder would quietly replace
	// invalid bytes, so check first.
	if !utf8.Valid(body) {
		return nil, nil, ErrInvalidRequest().WithDescription("malformed JSON body: not UTF-8 (RFC 8259 §8.1)")
	}
	// Read member by member: decoding into a map would let a repeated
	// member silently replace the first, which the form path refuses.
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, errNotObject(err)
	}
	p := Params{}
	var many []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, errNotObject(err)
		}
		name, _ := tok.(string) // object keys are always strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, errNotObject(err)
		}
		if name == repeat && repeat != "" {
			vs, err := stringOrList(raw)
			if err != nil {
				return nil, nil, ErrInvalidRequest().WithDescription("parameter %q must be a string or an array of strings", name).WithParent(err)
			}
			many = append(many, vs...)
			continue
		}
		if _, dup := p[name]; dup {
			return nil, nil, ErrInvalidRequest().WithDescription("parameter %q is repeated", name)
		}
		s, err := scalar(raw)
		if err != nil {
			return nil, nil, ErrInvalidRequest().WithDescription("parameter %q must be a string", name).WithParent(err)
		}
		p[name] = s
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, nil, errNotObject(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, ErrInvalidRequest().WithDescription("malformed JSON body: trailing data")
	}
	return p, many, nil
}

// stringOrList reads a JSON string or array of strings.
func stringOrList(raw json.RawMessage) ([]string, error) {
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, err
	}
	return list, nil
}

func errNotObject(err error) *Error {
	e := ErrInvalidRequest().WithDescription("malformed JSON body: expected an object")
	if err != nil {
		e = e.WithParent(err)
	}
	return e
}

func scalar(raw json.RawMessage) (string, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case bool:
		return strconv.FormatBool(v), nil
	case nil:
		return "", nil
	default:
		return "", fmt.Errorf("value of type %T", v)
	}
}
