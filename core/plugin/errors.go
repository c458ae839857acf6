package plugin

import (
	"errors"
	"fmt"
)

// Reason is why a call failed: one of the fixed set below, which operators
// grep for and tests compare against. What a reason alone does not say
// (the trap's message, the exit code) is the Failure's Detail; the detail
// of the error is in its Err.
type Reason string

// Reasons a call fails (sdk/ABI.md §5).
const (
	ReasonNotBound         Reason = "no plugin is bound to this hook"
	ReasonNotLoaded        Reason = "plugin is not loaded"
	ReasonLoading          Reason = "plugin is loading"
	ReasonUnknownHook      Reason = "unknown hook"
	ReasonHookNotServed    Reason = "hook not served"
	ReasonBadInput         Reason = "input is not serialisable to JSON"
	ReasonRequestTooLarge  Reason = "request too large"
	ReasonNoInstance       Reason = "no free instance"
	ReasonInstantiate      Reason = "instantiation failed"
	ReasonClosed           Reason = "plugin closed"
	ReasonTimeout          Reason = "timeout"
	ReasonCanceled         Reason = "canceled"
	ReasonOutOfMemory      Reason = "out of memory"
	ReasonTrap             Reason = "trap"             // Detail: wazero's message
	ReasonExit             Reason = "exited with code" // Detail: the code
	ReasonBadAlloc         Reason = "gh_alloc returned an out-of-bounds buffer"
	ReasonResponseTooLarge Reason = "response too large"
	ReasonOutOfBounds      Reason = "malformed response: out of bounds"
	ReasonNotJSON          Reason = "malformed response: not JSON"
	ReasonNeither          Reason = "malformed response: neither result nor error"
	ReasonBoth             Reason = "malformed response: both result and error"
	ReasonNoErrorCode      Reason = "malformed response: error without code"
	ReasonResultMismatch   Reason = "malformed response: result does not match the hook's schema"
	ReasonFree             Reason = "gh_free failed" // Detail: why, as a Failure says it
	ReasonReentry          Reason = "re-entry refused"
	ReasonLogQuota         Reason = "log quota exceeded"
	ReasonKVQuota          Reason = "kv quota exceeded"
	ReasonClaimsTooLarge   Reason = "claims too large"
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
	Plugin, Hook string
	Reason       Reason
	// Detail completes ReasonTrap ("unreachable"), ReasonExit ("3") and
	// ReasonFree ("timeout"); it is empty for the other reasons.
	Detail string
	Err    error
}

func (f *Failure) Error() string {
	return fmt.Sprintf("plugin %s failed %s: %s", f.Plugin, f.Hook, f.Cause())
}

func (f *Failure) Unwrap() error { return f.Err }

// Cause is the reason with its detail, as the error and the log line say
// it: "timeout", "trap: unreachable", "exited with code 3".
func (f *Failure) Cause() string {
	switch {
	case f.Detail == "":
		return string(f.Reason)
	case f.Reason == ReasonExit:
		return string(f.Reason) + " " + f.Detail
	}
	return string(f.Reason) + ": " + f.Detail
}

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
