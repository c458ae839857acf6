package plugin

import (
	"errors"
	"fmt"
)

// Reasons a call fails. They are the Reason field of *Failure: stable strings
// that operators grep for and tests compare against; the detail is in Err.
const (
	ReasonUnknownHook      = "unknown hook"
	ReasonHookNotServed    = "hook not served"
	ReasonBadInput         = "input is not serialisable to JSON"
	ReasonRequestTooLarge  = "request too large"
	ReasonNoInstance       = "no free instance"
	ReasonInstantiate      = "instantiation failed"
	ReasonClosed           = "plugin closed"
	ReasonTimeout          = "timeout"
	ReasonCanceled         = "canceled"
	ReasonOutOfMemory      = "out of memory"
	ReasonTrap             = "trap"
	ReasonExit             = "exited with code"
	ReasonBadAlloc         = "gh_alloc returned an out-of-bounds buffer"
	ReasonResponseTooLarge = "response too large"
	ReasonOutOfBounds      = "malformed response: out of bounds"
	ReasonNotJSON          = "malformed response: not JSON"
	ReasonNeither          = "malformed response: neither result nor error"
	ReasonBoth             = "malformed response: both result and error"
	ReasonNoErrorCode      = "malformed response: error without code"
	ReasonResultMismatch   = "malformed response: result does not match the hook's schema"
	ReasonFree             = "gh_free failed"
	ReasonReentry          = "re-entry refused"
	ReasonLogQuota         = "log quota exceeded"
	ReasonKVQuota          = "kv quota exceeded"
	ReasonLoading          = "plugin is loading"
	ReasonClaimsTooLarge   = "claims too large"
)

// Errors behind the quota and re-entry failures: a *Failure with one of
// these reasons wraps the matching error, for errors.Is.
var (
	// ErrReentry: a host function that calls back into the guest
	// (kv_get, http_request) was called from inside such a call-back,
	// for example from gh_alloc.
	ErrReentry = errors.New("host function called from inside gh_alloc: the guest is already running")
	// ErrLogQuota: the call logged more than the plugin's max_log_bytes.
	ErrLogQuota = errors.New("log quota exceeded")
	// ErrKVQuota: a kv_put would take the plugin's namespace past its
	// kv_max_keys or kv_max_bytes.
	ErrKVQuota = errors.New("kv quota exceeded")
	// ErrClaimsTooLarge: a sign_in or token_claims result carried more
	// extra claims than the plugin's max_claims_bytes.
	ErrClaimsTooLarge = errors.New("extra claims too large")
)

// Reasons a module is refused at load (the Reason field of *LoadError).
const (
	ReasonInvalidModule   = "invalid module"
	ReasonConfigNotObject = "config is not a JSON object"
	ReasonNoHooks         = "exports neither a gh_* hook nor _start"
	ReasonWrongABI        = "wrong ABI version"
	ReasonInitialize      = "_initialize failed"
	ReasonModuleLimit     = "over a module limit"
	ReasonCompileTimeout  = "compile timeout"
	ReasonDropsBoundHook  = "drops a bound hook"
)

// Refusal is a plugin's own answer {"error": {"code", "message"}}: a decision,
// not a fault. Code and Message are the plugin's, verbatim.
type Refusal struct {
	Plugin, Hook, Code, Message string
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("plugin %s refused %s: %s: %s", r.Plugin, r.Hook, r.Code, r.Message)
}

// Failure is a call that did not produce a usable answer (trap, timeout, out
// of memory, malformed or oversized response, ...). The caller must fail
// closed; the instance that failed has been discarded.
type Failure struct {
	Plugin, Hook, Reason string
	Err                  error
}

func (f *Failure) Error() string {
	return fmt.Sprintf("plugin %s failed %s: %s", f.Plugin, f.Hook, f.Reason)
}

func (f *Failure) Unwrap() error { return f.Err }

// LoadError is why Runtime.Load refused a module. The previous version of the
// plugin, if any, should keep serving.
type LoadError struct {
	Plugin, Reason string
	Err            error
}

func (e *LoadError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("plugin %s refused at load: %s: %v", e.Plugin, e.Reason, e.Err)
	}
	return fmt.Sprintf("plugin %s refused at load: %s", e.Plugin, e.Reason)
}

func (e *LoadError) Unwrap() error { return e.Err }
