package oauth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/url"
	"strconv"

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
	mediaType, _, _ := mime.ParseMediaType(string(c.Request().Header.ContentType()))
	body := c.Body()
	switch mediaType {
	case "application/json":
		return parseJSON(body)
	case "application/x-www-form-urlencoded", "":
		values, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, ErrInvalidRequest().WithDescription("malformed form body").WithParent(err)
		}
		return single(values)
	default:
		return nil, ErrInvalidRequest().WithStatus(fiber.StatusUnsupportedMediaType).
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

func single(values url.Values) (Params, error) {
	p := make(Params, len(values))
	for name, vs := range values {
		if len(vs) > 1 {
			return nil, ErrInvalidRequest().WithDescription("parameter %q is repeated", name)
		}
		p[name] = vs[0]
	}
	return p, nil
}

func parseJSON(body []byte) (Params, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return Params{}, nil
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, ErrInvalidRequest().WithDescription("malformed JSON body: expected an object").WithParent(err)
	}
	if dec.More() {
		return nil, ErrInvalidRequest().WithDescription("malformed JSON body: trailing data")
	}
	p := make(Params, len(raw))
	for name, v := range raw {
		s, err := scalar(v)
		if err != nil {
			return nil, ErrInvalidRequest().WithDescription("parameter %q must be a string", name).WithParent(err)
		}
		p[name] = s
	}
	return p, nil
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
