package plugin

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/sys"
)

// randReader feeds WASI random_get: real randomness, as guest runtimes (Go's
// among them) seed hash maps and crypto from it.
var randReader = rand.Reader

// Plugin is one loaded version of one plugin: a compiled module and its pool
// of instances. It is safe for concurrent use.
type Plugin struct {
	name, version string
	config        []byte // compacted JSON object, sent in every envelope
	settings      Settings
	limits        Limits
	logger        *slog.Logger
	runtime       *Runtime
	http          *http.Client

	wr        wazero.Runtime
	compiled  wazero.CompiledModule
	modConfig wazero.ModuleConfig
	kind      kind
	serves    [len(hook.Names)]bool
	pool      *pool

	// instances maps a guest module back to its instance, for host
	// functions that must call the guest's gh_alloc.
	instances sync.Map // api.Module → *instance

	closeOnce sync.Once
	closeErr  error
}

// Name is the plugin's name (its file's base name without .wasm).
func (p *Plugin) Name() string { return p.name }

// Version is the hex SHA-256 of the module's bytes.
func (p *Plugin) Version() string { return p.version }

// Hooks lists the hooks the plugin serves: its gh_<hook> exports, or every
// hook for a WASI command module.
func (p *Plugin) Hooks() []string {
	var out []string
	for i, ok := range p.serves {
		if ok {
			out = append(out, hook.Names[i])
		}
	}
	return out
}

// Serves reports whether the plugin serves hook.
func (p *Plugin) Serves(hook string) bool {
	i := hookIndex(hook)
	return i >= 0 && p.serves[i]
}

// Call runs the hook name: input becomes the envelope's "input", the result is
// unmarshalled into out (which may be nil). The plugin's own refusal comes
// back as *Refusal; anything else that goes wrong is a *Failure, logged once,
// and the instance involved is discarded so the next call gets a fresh one.
func (p *Plugin) Call(ctx context.Context, name string, input any, out any) error {
	h := hookIndex(name)
	if h < 0 {
		return p.fail(name, ReasonUnknownHook, nil)
	}
	if !p.serves[h] {
		return p.fail(name, ReasonHookNotServed, nil)
	}
	in, err := json.Marshal(input)
	if err != nil {
		return p.fail(name, ReasonBadInput, err)
	}
	env := p.envelope(name, in)
	if len(env) > p.limits.MaxRequestBytes {
		return p.fail(name, ReasonRequestTooLarge, errors.New(strconv.Itoa(len(env))+" bytes > "+strconv.Itoa(p.limits.MaxRequestBytes)))
	}
	inst, reason, err := p.pool.acquire(ctx, p)
	if reason != "" {
		return p.fail(name, reason, err)
	}
	var resp []byte
	if p.kind == kindCommand {
		resp, reason, err = p.runCommand(ctx, env)
	} else {
		resp, reason, err = inst.call(ctx, h, env)
	}
	if reason != "" {
		p.pool.discard(ctx, inst)
		return p.fail(name, reason, err)
	}
	result, refusal, reason, err := decodeResponse(resp)
	if reason != "" {
		p.pool.discard(ctx, inst)
		return p.fail(name, reason, err)
	}
	p.pool.put(inst)
	if refusal == nil && (h == hookIndex(hook.SignIn) || h == hookIndex(hook.TokenClaims)) {
		if err := p.checkClaims(result); err != nil {
			return p.fail(name, ReasonClaimsTooLarge, err)
		}
	}
	if refusal != nil {
		refusal.Plugin, refusal.Hook = p.name, name
		p.logger.Debug("plugin refused", "hook", name, "code", refusal.Code, "message", refusal.Message)
		return refusal
	}
	if out != nil {
		if err := json.Unmarshal(result, out); err != nil {
			return p.fail(name, ReasonResultMismatch, err)
		}
	}
	return nil
}

// checkClaims caps the extra token claims of a sign_in or token_claims
// result: they ride in every token issued for the user, where no client
// expects a megabyte.
func (p *Plugin) checkClaims(result json.RawMessage) error {
	if len(result) <= p.limits.MaxClaimsBytes {
		return nil // the claims are only part of it
	}
	var r struct {
		Claims json.RawMessage `json:"claims"`
	}
	if json.Unmarshal(result, &r) != nil || len(r.Claims) <= p.limits.MaxClaimsBytes {
		return nil // a result of the wrong shape fails in the caller's Unmarshal
	}
	return fmt.Errorf("%w: %d bytes > %d", ErrClaimsTooLarge, len(r.Claims), p.limits.MaxClaimsBytes)
}

// envelope builds the request JSON of ABI v1 by hand, in a fixed key order
// with input last and no whitespace, so even a guest that cannot parse JSON
// (a WAT plugin) can find its input.
func (p *Plugin) envelope(hook string, input []byte) []byte {
	buf := make([]byte, 0, len(`{"abi":1,"hook":"","config":,"input":}`)+len(hook)+len(p.config)+len(input))
	buf = append(buf, `{"abi":1,"hook":"`...)
	buf = append(buf, hook...)
	buf = append(buf, `","config":`...)
	buf = append(buf, p.config...)
	buf = append(buf, `,"input":`...)
	buf = append(buf, input...)
	return append(buf, '}')
}

// decodeResponse splits {"result": ...} from {"error": {code, message}} and
// names anything else a malformed response.
func decodeResponse(resp []byte) (result json.RawMessage, refusal *Refusal, reason Reason, err error) {
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(resp, &r); err != nil {
		return nil, nil, ReasonNotJSON, err
	}
	switch {
	case r.Result != nil && r.Error != nil:
		return nil, nil, ReasonBoth, nil
	case r.Result == nil && r.Error == nil:
		return nil, nil, ReasonNeither, nil
	case r.Result != nil:
		return r.Result, nil, "", nil
	}
	var e struct{ Code, Message string }
	if err := json.Unmarshal(r.Error, &e); err != nil || e.Code == "" {
		return nil, nil, ReasonNoErrorCode, err
	}
	return nil, &Refusal{Code: e.Code, Message: e.Message}, "", nil
}

// fail logs a failed call once and returns it as a *Failure.
func (p *Plugin) fail(hook string, reason Reason, err error) error {
	f := &Failure{Plugin: p.name, Hook: hook, Reason: reason, Detail: detail(reason, err), Err: err}
	attrs := []any{"hook", hook, "reason", f.Cause()}
	if err != nil {
		attrs = append(attrs, "err", err.Error())
	}
	p.logger.Error("plugin call failed", attrs...)
	return f
}

// detail is what reason alone does not say, from the error behind it: the
// trap's message (wazero's first line), the exit code, why gh_free failed.
func detail(reason Reason, err error) string {
	var exit *sys.ExitError
	var free *freeError
	switch {
	case reason == ReasonTrap && err != nil:
		msg, _, _ := strings.Cut(err.Error(), "\n")
		msg = strings.TrimPrefix(msg, "wasm error: ")
		return strings.TrimSuffix(msg, " (recovered by wazero)")
	case reason == ReasonExit && errors.As(err, &exit):
		return strconv.FormatUint(uint64(exit.ExitCode()), 10)
	case reason == ReasonFree && errors.As(err, &free):
		return cause(free.reason, free.err)
	}
	return ""
}

// cause is reason with the detail err gives it, as Failure.Cause says it.
func cause(reason Reason, err error) string {
	return (&Failure{Reason: reason, Detail: detail(reason, err)}).Cause()
}

// freeError is a failed gh_free, with the reason it failed for.
type freeError struct {
	reason Reason
	err    error
}

func (e *freeError) Error() string { return e.err.Error() }
func (e *freeError) Unwrap() error { return e.err }

// Close waits for calls in flight (until ctx ends), then releases every
// instance and the plugin's wazero runtime. Later calls fail with
// ReasonClosed.
func (p *Plugin) Close(ctx context.Context) error {
	p.closeOnce.Do(func() {
		p.closeErr = p.pool.close(ctx)
		if err := p.wr.Close(context.WithoutCancel(ctx)); err != nil && p.closeErr == nil {
			p.closeErr = err
		}
		p.runtime.mu.Lock()
		delete(p.runtime.plugins, p)
		p.runtime.mu.Unlock()
	})
	return p.closeErr
}
