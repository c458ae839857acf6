// Package gatehouse is the Go guest SDK for Gatehouse plugins (ABI version 1,
// sdk/ABI.md). A plugin is a WASI reactor built with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o NAME.wasm .
//
// A reactor never runs main(), so a plugin registers its handlers in init():
//
//	import "github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse/signin"
//
//	func init() { signin.Handle(signIn) }
//
//	func signIn(ctx context.Context, in signin.Input, cfg json.RawMessage) (signin.Result, error)
//
// Importing a hook package (signin, authhandler, resolveuser, notify,
// tokenclaims) adds that hook's export (gh_sign_in, ...) to the module, so a
// module exports exactly the hooks it serves. This package exports gh_alloc,
// gh_free and gh_abi_version and wraps the host functions (Log, HTTP, KVGet,
// KVPut); a host import only appears in the module when it is used, so a
// plugin asks for no capability it does not need.
//
// Handlers are plain Go functions: a native `go test` calls them directly,
// and Call runs one on a request document exactly as the Wasm export does.
package gatehouse

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// ABIVersion is the ABI this SDK implements; gh_abi_version returns it.
const ABIVersion = 1

// Hook names (the part after "gh_" in the export name).
const (
	HookSignIn      = hook.SignIn
	HookAuthHandler = hook.AuthHandler
	HookResolveUser = hook.ResolveUser
	HookNotify      = hook.Notify
	HookTokenClaims = hook.TokenClaims
)

// Refusal codes of ABI v1 (package hook says what each means).
const (
	CodeAccessDenied          = hook.CodeAccessDenied
	CodeUnknownUser           = hook.CodeUnknownUser
	CodeInvalidUserCode       = hook.CodeInvalidUserCode
	CodeMissingUserCode       = hook.CodeMissingUserCode
	CodeExpiredLoginHintToken = hook.CodeExpiredLoginHintToken
	// CodeInvalidRequest also answers an undecodable request or input,
	// another ABI version, the wrong hook.
	CodeInvalidRequest = hook.CodeInvalidRequest
	// CodeServerError also answers a handler error that is not an *Error
	// (a bad config, a dependency down), a panic, an unencodable result.
	CodeServerError = hook.CodeServerError
)

// Request is the envelope the host passes to every hook call (ABI v1).
type Request struct {
	ABI    int             `json:"abi"`
	Hook   string          `json:"hook"`
	Config json.RawMessage `json:"config"`
	Input  json.RawMessage `json:"input"`
}

// Error is a plugin's answer refusing a call: the response
// {"error": {"code": ..., "message": ...}}. The host passes code and message
// on verbatim.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Refuse returns an *Error with the given code and message.
func Refuse(code, message string) error { return &Error{Code: code, Message: message} }

// AccessDenied refuses a sign-in (or any decision) with code access_denied.
func AccessDenied(message string) error { return Refuse(CodeAccessDenied, message) }

// UnknownUser answers resolve_user with code unknown_user_id.
func UnknownUser(message string) error { return Refuse(CodeUnknownUser, message) }

// DecodeConfig unmarshals a plugin's config block into v. An absent or null
// config leaves v untouched, so v may carry defaults.
func DecodeConfig(cfg json.RawMessage, v any) error {
	if len(cfg) == 0 || string(cfg) == "null" {
		return nil
	}
	if err := json.Unmarshal(cfg, v); err != nil {
		return fmt.Errorf("plugin config: %w", err)
	}
	return nil
}

// DecodeConfigStrict is DecodeConfig refusing keys that v does not declare:
// a misspelt option in an identity decision should fail loudly rather than
// be ignored.
func DecodeConfigStrict(cfg json.RawMessage, v any) error {
	if len(cfg) == 0 || string(cfg) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(cfg))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("plugin config: %w", err)
	}
	if dec.More() {
		return errors.New("plugin config: trailing data after the config object")
	}
	return nil
}

// CachedConfig wraps parse, which turns a config block into a T (decoding
// and validating it), so that it runs only when the block differs from the
// previous call's. The host sends the same config with every call, and
// decoding it is a large share of a small call's cost in Wasm. The T handed
// out is shared between calls: handlers must not modify it. A parse error is
// remembered too, so a bad config keeps failing the same way.
//
//	var loadConfig = gatehouse.CachedConfig(parseConfig)
//	...
//	cfg, err := loadConfig(raw)
func CachedConfig[T any](parse func(json.RawMessage) (T, error)) func(json.RawMessage) (T, error) {
	var (
		mu     sync.Mutex
		cached bool
		raw    []byte
		val    T
		err    error
	)
	return func(cfg json.RawMessage) (T, error) {
		mu.Lock()
		defer mu.Unlock()
		if !cached || !bytes.Equal(raw, cfg) {
			val, err = parse(cfg)
			raw, cached = append(raw[:0], cfg...), true
		}
		return val, err
	}
}

// Handler serves one hook on the raw envelope. The result is marshalled with
// encoding/json as the response's "result"; an error becomes the response's
// "error" (an *Error keeps its code, any other error has code server_error).
// Most plugins use a hook package's typed Handle instead.
type Handler func(ctx context.Context, req Request) (any, error)

// Func is a typed hook handler: I is the hook's input, R its result, cfg the
// plugin's config block as the host sent it.
type Func[I, R any] func(ctx context.Context, in I, cfg json.RawMessage) (R, error)

var (
	mu       sync.RWMutex
	handlers = map[string]Handler{}
)

// Handle registers h for hook. Call it from init(): a reactor module never
// runs main. The hook's export must be in the module too, which importing
// the hook's package does (signin.Handle registers and exports).
func Handle(hook string, h Handler) {
	mu.Lock()
	defer mu.Unlock()
	handlers[hook] = h
}

// HandleFunc registers a typed handler for hook: the input is decoded into
// I before f runs (a malformed input answers invalid_request without
// calling f).
func HandleFunc[I, R any](hook string, f Func[I, R]) {
	Handle(hook, func(ctx context.Context, req Request) (any, error) {
		var in I
		if len(req.Input) > 0 && string(req.Input) != "null" {
			if decodeFast(&in, req.Input) {
				return f(ctx, in, req.Config)
			}
			var zero I
			in = zero // the fast decoder may have stored some fields
			if err := json.Unmarshal(req.Input, &in); err != nil {
				return nil, &Error{Code: CodeInvalidRequest, Message: req.Hook + " input: " + err.Error()}
			}
		}
		return f(ctx, in, req.Config)
	})
}

// Call runs the handler registered for hook on a request document and
// returns the response document, exactly as the Wasm export answers the
// host. It never panics.
func Call(hook string, request []byte) []byte {
	mu.RLock()
	h := handlers[hook]
	mu.RUnlock()
	if h == nil {
		return errorResponse(CodeServerError, "no handler registered for hook "+hook)
	}
	req, err := parseRequest(request)
	if err != nil {
		return errorResponse(CodeInvalidRequest, "malformed request: "+err.Error())
	}
	if req.ABI != 0 && req.ABI != ABIVersion {
		return errorResponse(CodeInvalidRequest, fmt.Sprintf("request is ABI version %d, this plugin speaks %d", req.ABI, ABIVersion))
	}
	if req.Hook == "" {
		req.Hook = hook
	} else if req.Hook != hook {
		return errorResponse(CodeInvalidRequest, fmt.Sprintf("request for hook %s reached the %s export", req.Hook, hook))
	}
	return run(h, req)
}

func run(h Handler, req Request) (resp []byte) {
	defer func() {
		if p := recover(); p != nil {
			resp = errorResponse(CodeServerError, fmt.Sprintf("%s handler panicked: %v", req.Hook, p))
		}
	}()
	result, err := h(context.Background(), req)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return errorResponse(e.Code, e.Message)
		}
		return errorResponse(CodeServerError, err.Error())
	}
	if result == nil {
		result = struct{}{}
	}
	if out, ok := appendResult(append(make([]byte, 0, 256), `{"result":`...), result); ok {
		return append(out, '}')
	}
	body, err := json.Marshal(result)
	if err != nil {
		return errorResponse(CodeServerError, "cannot encode result: "+err.Error())
	}
	if string(body) == "null" {
		body = []byte("{}")
	}
	out := make([]byte, 0, len(body)+len(`{"result":}`))
	out = append(out, `{"result":`...)
	out = append(out, body...)
	return append(out, '}')
}

func errorResponse(code, message string) []byte {
	if code == "" {
		code = CodeServerError
	}
	b, err := json.Marshal(struct {
		Error Error `json:"error"`
	}{Error{Code: code, Message: message}})
	if err != nil {
		// Marshalling two strings cannot fail; keep a valid answer anyway.
		return []byte(`{"error":{"code":"server_error","message":"cannot encode error"}}`)
	}
	return b
}
