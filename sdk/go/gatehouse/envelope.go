package gatehouse

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// parseRequest splits the request envelope into its members. The host
// writes the envelope itself (ABI v1 §4), so a structural scan that finds the
// four top-level members without decoding them is enough, and under the
// host's per-call deadline it costs a small fraction of encoding/json's
// scanner. Config and Input are left as raw JSON for the handler to decode
// (encoding/json then validates them). Anything the scan does not
// recognise (escaped keys, differently cased names, a malformed document)
// goes to encoding/json, which also gives the precise error; a well-formed
// envelope gets the same members either way (FuzzParseRequest).
func parseRequest(b []byte) (Request, error) {
	if req, ok := scanRequest(b); ok {
		return req, nil
	}
	var req Request
	err := json.Unmarshal(b, &req)
	return req, err
}

func scanRequest(b []byte) (req Request, ok bool) {
	ok = members(b, func(key, value []byte) bool {
		switch string(key) {
		case "abi":
			n, err := strconv.Atoi(string(value))
			if err != nil {
				return false
			}
			req.ABI = n
		case "hook":
			if value[0] != '"' {
				return false
			}
			s := value[1 : len(value)-1]
			for _, c := range s {
				if c == '\\' || c >= utf8.RuneSelf {
					return false
				}
			}
			req.Hook = string(s)
		case "config":
			req.Config = json.RawMessage(value)
		case "input":
			req.Input = json.RawMessage(value)
		default:
			// encoding/json matches member names case-insensitively.
			for _, name := range [...]string{"abi", "hook", "config", "input"} {
				if strings.EqualFold(string(key), name) {
					return false
				}
			}
		}
		return true
	})
	if !ok {
		return Request{}, false
	}
	return req, true
}

// members calls fn with each member of the JSON object b, in order, and
// reports whether b is an object the scan understands and fn accepted every
// member. Keys with escapes are not understood. Values are delimited, not
// validated: whoever decodes one validates it.
func members(b []byte, fn func(key, value []byte) bool) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipSpace(b, i+1) == len(b)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		end := skipString(b, i)
		if end < 0 {
			return false
		}
		key := b[i+1 : end-1]
		for _, c := range key {
			if c == '\\' {
				return false
			}
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		start := skipSpace(b, i+1)
		end = skipValue(b, start)
		if end < 0 || !fn(key, b[start:end]) {
			return false
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return skipSpace(b, i+1) == len(b)
		default:
			return false
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"',
// or -1 when it does not end.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '\\':
			i++
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		}
	}
	return -1
}

// skipValue returns the index after the value starting at b[i], or -1.
// Objects and arrays are skipped by depth; their contents are validated
// when the handler decodes them.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				if i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	start := i
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if i == start {
				return -1
			}
			return i
		}
		i++
	}
	return -1
}
