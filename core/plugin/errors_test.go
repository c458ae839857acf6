package plugin

import (
	"errors"
	"testing"

	"github.com/tetratelabs/wazero/sys"

	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// TestFailureCause: a failure names one of the fixed reasons; the trap's
// message, the exit code and gh_free's own failure are its detail, and
// Error and the log line say both as they always have.
func TestFailureCause(t *testing.T) {
	t.Parallel()
	trap := errors.New("wasm error: unreachable\nwasm stack trace:\n\tgh_sign_in()")
	tests := []struct {
		reason Reason
		err    error
		detail string
		cause  string
	}{
		{ReasonTimeout, sys.NewExitError(sys.ExitCodeDeadlineExceeded), "", "timeout"},
		{ReasonTrap, trap, "unreachable", "trap: unreachable"},
		{ReasonTrap, errors.New("kv_get: disk on fire (recovered by wazero)"), "kv_get: disk on fire", "trap: kv_get: disk on fire"},
		{ReasonExit, sys.NewExitError(3), "3", "exited with code 3"},
		{ReasonFree, &freeError{reason: ReasonTimeout, err: sys.NewExitError(sys.ExitCodeDeadlineExceeded)}, "timeout", "gh_free failed: timeout"},
		{ReasonFree, &freeError{reason: ReasonTrap, err: trap}, "trap: unreachable", "gh_free failed: trap: unreachable"},
		{ReasonNotJSON, errors.New("invalid character"), "", "malformed response: not JSON"},
	}
	for _, tt := range tests {
		f := &Failure{Plugin: "p", Hook: hook.SignIn, Reason: tt.reason, Detail: detail(tt.reason, tt.err), Err: tt.err}
		if f.Detail != tt.detail || f.Cause() != tt.cause {
			t.Errorf("%s: detail %q, cause %q; want %q, %q", tt.reason, f.Detail, f.Cause(), tt.detail, tt.cause)
		}
		if want := "plugin p failed sign_in: " + tt.cause; f.Error() != want {
			t.Errorf("Error() = %q, want %q", f.Error(), want)
		}
		if !errors.Is(f, tt.err) {
			t.Errorf("%v does not wrap %v", f, tt.err)
		}
	}
}
