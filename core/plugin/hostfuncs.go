package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-auth/gatehouse/core/outbound"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/urlpattern"
	"github.com/tetratelabs/wazero/api"
)

// hostModule is the import module name of the host functions (ABI v1).
const hostModule = "gatehouse"

// Bounds of host-function arguments (sdk/ABI.md "Limits").
const (
	maxLogBytes     = 4096
	maxKVKeyBytes   = 256
	maxKVValueBytes = 256 << 10
	maxRedirects    = 5
)

// kv_put results (sdk/ABI.md).
const (
	kvOK           = 0
	kvInvalidKey   = 1
	kvValueTooBig  = 2
	kvStoreFailure = 3
)

// instantiateHostModule defines module "gatehouse" in the plugin's own
// runtime. Every function is defined; whether a plugin may import one was
// decided at load from its settings.
func (p *Plugin) instantiateHostModule(ctx context.Context) error {
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	b := p.wr.NewHostModuleBuilder(hostModule)
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(p.hostLog), []api.ValueType{i32, i32, i32}, nil).
		WithParameterNames("level", "ptr", "len").Export("log")
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(p.hostHTTP), []api.ValueType{i32, i32}, []api.ValueType{i64}).
		WithParameterNames("ptr", "len").Export("http_request")
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(p.hostKVGet), []api.ValueType{i32, i32}, []api.ValueType{i64}).
		WithParameterNames("kptr", "klen").Export("kv_get")
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(p.hostKVPut), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}).
		WithParameterNames("kptr", "klen", "vptr", "vlen").Export("kv_put")
	_, err := b.Instantiate(ctx)
	return err
}

// guestBytes copies len bytes at ptr out of guest memory. A bad pointer is
// the guest's bug: it traps the call (wazero turns the panic into an error).
func guestBytes(mod api.Module, fn string, ptr, n uint32) []byte {
	b, ok := mod.Memory().Read(ptr, n)
	if !ok {
		panic(fmt.Errorf("%s: buffer %#x+%d out of bounds", fn, ptr, n))
	}
	return append([]byte(nil), b...)
}

// guestWrite copies data into a buffer the guest allocates with gh_alloc and
// returns it packed as ptr<<32 | len.
func (p *Plugin) guestWrite(ctx context.Context, mod api.Module, fn string, data []byte) uint64 {
	var alloc api.Function
	inst := p.instanceOf(mod)
	if inst != nil {
		alloc = inst.alloc
	} else {
		alloc = mod.ExportedFunction("gh_alloc")
	}
	if alloc == nil {
		panic(fmt.Errorf("%s: returning data needs the gh_alloc export", fn))
	}
	st := []uint64{uint64(len(data))}
	if inst != nil {
		inst.inAlloc = true
	}
	err := alloc.CallWithStack(ctx, st)
	if inst != nil {
		inst.inAlloc = false
	}
	if err != nil {
		panic(err)
	}
	ptr := uint32(st[0])
	if !mod.Memory().Write(ptr, data) {
		panic(fmt.Errorf("%s: gh_alloc(%d) returned %#x, out of bounds", fn, len(data), ptr))
	}
	return uint64(ptr)<<32 | uint64(len(data))
}

// instanceOf returns the pooled instance of a guest module (nil for a
// WASI command's one-off instance).
func (p *Plugin) instanceOf(mod api.Module) *instance {
	if v, ok := p.instances.Load(mod); ok {
		return v.(*instance)
	}
	return nil
}

// enter refuses a host function that calls back into the guest while the
// host is already inside such a call-back (gh_alloc calling kv_get would
// make the host call gh_alloc again, without end): wazero calls are not
// re-entrant, and the instance's state is the guest's half-done one.
func (p *Plugin) enter(mod api.Module, fn string) {
	if inst := p.instanceOf(mod); inst != nil && inst.inAlloc {
		p.logger.Warn("plugin re-entry refused", "function", fn)
		panic(fmt.Errorf("%s: %w", fn, ErrReentry))
	}
}

// hostLog is log(level, ptr, len): 0 debug, 1 info, 2 warn, 3 error.
// Past the call's log budget it traps the call (ErrLogQuota).
func (p *Plugin) hostLog(ctx context.Context, mod api.Module, stack []uint64) {
	level, ptr, n := int32(stack[0]), uint32(stack[1]), uint32(stack[2])
	msg := guestBytes(mod, "log", ptr, min(n, maxLogBytes))
	if inst := p.instanceOf(mod); inst != nil && !inst.logs.take(len(msg)) {
		panic(inst.logs.exceeded())
	}
	lvl := slog.LevelDebug
	switch {
	case level == 1:
		lvl = slog.LevelInfo
	case level == 2:
		lvl = slog.LevelWarn
	case level >= 3:
		lvl = slog.LevelError
	}
	p.logger.Log(ctx, lvl, string(msg), "stream", "log")
}

// httpRequest and httpResponse are http_request's JSON (sdk/ABI.md).
type httpRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

type httpResponse struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// In-band errors of http_request: fixed strings; the detail goes to the log.
const (
	httpErrInvalid    = "invalid request"
	httpErrNotAllowed = "url not allowed"
	httpErrTimeout    = "timeout"
	httpErrTooLarge   = "response too large"
	httpErrFailed     = "request failed"
)

var errURLNotAllowed = errors.New(httpErrNotAllowed)

// hostHTTP is http_request(ptr, len) -> i64.
func (p *Plugin) hostHTTP(ctx context.Context, mod api.Module, stack []uint64) {
	p.enter(mod, "http_request")
	ptr, n := uint32(stack[0]), uint32(stack[1])
	var resp []byte
	if int64(n) > int64(p.limits.MaxRequestBytes) {
		resp = httpError(httpErrInvalid)
	} else {
		resp = p.doHTTP(ctx, guestBytes(mod, "http_request", ptr, n))
	}
	stack[0] = p.guestWrite(ctx, mod, "http_request", resp)
}

func httpError(msg string) []byte {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return b
}

// doHTTP performs one http_request: allow-listed URL (and every redirect),
// the plugin's HTTP timeout, the response-size cap.
func (p *Plugin) doHTTP(ctx context.Context, raw []byte) []byte {
	var in httpRequest
	if err := json.Unmarshal(raw, &in); err != nil {
		p.logger.Warn("http_request refused", "why", "invalid request", "err", err.Error())
		return httpError(httpErrInvalid)
	}
	if in.Method == "" {
		in.Method = http.MethodGet
	}
	if !p.allowed(in.URL) {
		p.logger.Warn("http_request refused", "why", httpErrNotAllowed, "url", in.URL)
		return httpError(httpErrNotAllowed)
	}
	ctx, cancel := context.WithTimeout(ctx, p.settings.HTTPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, in.Method, in.URL, strings.NewReader(in.Body))
	if err != nil {
		p.logger.Warn("http_request refused", "why", "invalid request", "err", err.Error())
		return httpError(httpErrInvalid)
	}
	for k, v := range in.Headers {
		req.Header.Set(k, v)
	}
	res, err := p.http.Do(req)
	if err != nil {
		return p.httpFailure(ctx, in.URL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, int64(p.settings.MaxHTTPResponseBytes)+1))
	if err != nil {
		return p.httpFailure(ctx, in.URL, err)
	}
	if len(body) > p.settings.MaxHTTPResponseBytes {
		p.logger.Warn("http_request failed", "why", httpErrTooLarge, "url", in.URL, "max", p.settings.MaxHTTPResponseBytes)
		return httpError(httpErrTooLarge)
	}
	out := httpResponse{Status: res.StatusCode, Headers: make(map[string]string, len(res.Header)), Body: string(body)}
	for k, v := range res.Header {
		out.Headers[k] = strings.Join(v, ", ")
	}
	b, err := json.Marshal(out)
	if err != nil {
		return httpError(httpErrFailed)
	}
	return b
}

func (p *Plugin) httpFailure(ctx context.Context, u string, err error) []byte {
	msg := httpErrFailed
	switch {
	case errors.Is(err, errURLNotAllowed):
		msg = httpErrNotAllowed
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		msg = httpErrTimeout
	default:
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			msg = httpErrTimeout
		}
	}
	p.logger.Warn("http_request failed", "why", msg, "url", u, "err", err.Error())
	return httpError(msg)
}

// allowed matches a URL against the plugin's allow-list with the server's
// URL matcher (core/urlpattern: scheme, host labels, port and path
// segments; never the query or fragment). Only absolute http(s) URLs with
// a host are considered; user info, dot segments and encoded slashes are
// refused whatever the list says. The patterns are parsed per request: a
// few microseconds beside a network round trip, and a pattern the
// configuration check would refuse matches nothing.
func (p *Plugin) allowed(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false
	}
	allow, _ := urlpattern.ParseList(p.settings.HTTPAllow)
	return allow.Match(raw)
}

// newHTTPClient builds the client of http_request on the server's
// outbound client (which refuses private addresses after resolution):
// every redirect target is checked against the allow-list again before it
// is fetched; the timeout comes from the request's context.
func newHTTPClient(p *Plugin) *http.Client {
	return p.settings.Outbound.HTTP(outbound.Policy{
		Timeout:          p.settings.HTTPTimeout,
		MaxResponseBytes: int64(p.settings.MaxHTTPResponseBytes) + 1, // over it: httpErrTooLarge below
		MaxRedirects:     maxRedirects,
		CheckRedirect: func(req *http.Request) error {
			if !p.allowed(req.URL.String()) {
				return fmt.Errorf("redirect to %s: %w", req.URL.Redacted(), errURLNotAllowed)
			}
			return nil
		},
	})
}

// kvKey reads a guest key and namespaces it to the plugin.
func (p *Plugin) kvKey(mod api.Module, fn string, ptr, n uint32) (string, bool) {
	if n == 0 || n > maxKVKeyBytes {
		return "", false
	}
	return store.PluginKVKey(p.name, string(guestBytes(mod, fn, ptr, n))), true
}

// hostKVGet is kv_get(kptr, klen) -> i64: the value packed, or 0 when
// missing. A store failure traps the call: the plugin must not mistake an
// outage for a missing key.
func (p *Plugin) hostKVGet(ctx context.Context, mod api.Module, stack []uint64) {
	p.enter(mod, "kv_get")
	key, ok := p.kvKey(mod, "kv_get", uint32(stack[0]), uint32(stack[1]))
	if !ok {
		panic(fmt.Errorf("kv_get: key must be 1..%d bytes", maxKVKeyBytes))
	}
	v, err := p.settings.KV.Get(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		stack[0] = 0
	case err != nil:
		panic(fmt.Errorf("kv_get: %w", err))
	default:
		stack[0] = p.guestWrite(ctx, mod, "kv_get", v)
	}
}

// hostKVPut is kv_put(kptr, klen, vptr, vlen) -> i32.
func (p *Plugin) hostKVPut(ctx context.Context, mod api.Module, stack []uint64) {
	key, ok := p.kvKey(mod, "kv_put", uint32(stack[0]), uint32(stack[1]))
	if !ok {
		stack[0] = kvInvalidKey
		return
	}
	if n := uint32(stack[3]); n > maxKVValueBytes {
		stack[0] = kvValueTooBig
		return
	}
	v := guestBytes(mod, "kv_put", uint32(stack[2]), uint32(stack[3]))
	if err := p.kvPut(ctx, key, v); err != nil {
		if errors.Is(err, ErrKVQuota) {
			p.logger.Warn("kv_put refused", "key", key, "err", err.Error())
			panic(err)
		}
		p.logger.Error("kv_put failed", "key", key, "err", err.Error())
		stack[0] = kvStoreFailure
		return
	}
	stack[0] = kvOK
}
