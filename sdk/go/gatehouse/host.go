package gatehouse

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNoHost is returned by HTTP outside Wasm (a native `go test`), where no
// host can apply the plugin's URL allow-list.
var ErrNoHost = errors.New("gatehouse: http_request is only available inside the Gatehouse host")

// Level is a log level of the host's log function.
type Level int32

// Log levels, as the ABI numbers them.
const (
	LevelDebug Level = 0
	LevelInfo  Level = 1
	LevelWarn  Level = 2
	LevelError Level = 3
)

// Log writes msg to the host's log under the plugin's name. The log import is
// always granted.
func Log(level Level, msg string) { hostLog(level, msg) }

// Logf formats like fmt.Sprintf and logs the result.
func Logf(level Level, format string, args ...any) { hostLog(level, fmt.Sprintf(format, args...)) }

// HTTPRequest is what HTTP sends through the host's http_request.
type HTTPRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
}

// HTTPResponse is the host's answer to an HTTP request.
type HTTPResponse struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// HTTP sends req through the host. Only URLs matching the URL patterns of
// the plugin's plugins.settings.<name>.http_allow can be reached, and a
// module that uses HTTP is refused at load unless that list is non-empty. A refusal by the host (URL not
// allowed, timeout, size cap) is returned as an error.
func HTTP(req HTTPRequest) (HTTPResponse, error) {
	in, err := json.Marshal(req)
	if err != nil {
		return HTTPResponse{}, fmt.Errorf("gatehouse: encode http request: %w", err)
	}
	out, err := hostHTTP(in)
	if err != nil {
		return HTTPResponse{}, err
	}
	var resp struct {
		HTTPResponse
		Error string `json:"error"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return HTTPResponse{}, fmt.Errorf("gatehouse: decode http response: %w", err)
	}
	if resp.Error != "" {
		return HTTPResponse{}, fmt.Errorf("gatehouse: http %s %s: %s", req.Method, req.URL, resp.Error)
	}
	return resp.HTTPResponse, nil
}

// KVGet reads key from the plugin's own key-value namespace; ok is false when
// the key is missing. A module that uses KVGet needs `kv: true`.
func KVGet(key string) (value []byte, ok bool) { return hostKVGet(key) }

// KVPut writes key in the plugin's own key-value namespace.
func KVPut(key string, value []byte) error {
	if rc := hostKVPut(key, value); rc != 0 {
		return fmt.Errorf("gatehouse: kv_put %q failed (code %d)", key, rc)
	}
	return nil
}
