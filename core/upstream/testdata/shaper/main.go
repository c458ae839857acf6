// Command shaper is a test auth_handler plugin: it refuses the account
// suspended@..., and otherwise rewrites the display name to
// "<name> (corp)" and the email to lower case, so that a test can see the
// shaped profile signed in.
//
// Built by core/upstream's tests: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared.
package main

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse"
	"github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse/authhandler"
)

func init() { authhandler.Handle(shape) }

func shape(_ context.Context, in authhandler.Input, _ json.RawMessage) (authhandler.Result, error) {
	if strings.HasPrefix(strings.ToLower(in.Profile.Email), "suspended@") {
		return authhandler.Result{}, gatehouse.AccessDenied("this account is suspended")
	}
	p := in.Profile
	p.DisplayName += " (corp)"
	p.Email = strings.ToLower(p.Email)
	return authhandler.Result{Profile: p}, nil
}

func main() {}
