// Package signin adds the gh_sign_in export to a plugin module: the hook
// sign_in (an upstream provider has authenticated someone).
// Register the handler from init(), as a reactor module never runs main():
//
//	func init() { signin.Handle(handler) }
//
//	func handler(ctx context.Context, in signin.Input, cfg json.RawMessage) (signin.Result, error)
package signin

import "github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse"

// Hook is the hook this package exports.
const Hook = gatehouse.HookSignIn

// Input is the input of sign_in.
type Input = gatehouse.SignInInput

// Result is the result of sign_in.
type Result = gatehouse.SignInResult

// Func is a sign_in handler; cfg is the plugin's config block, sent with
// every call (decode it with gatehouse.DecodeConfig).
type Func = gatehouse.Func[Input, Result]

// Handle registers f as the plugin's sign_in handler.
func Handle(f Func) { gatehouse.HandleFunc(Hook, f) }
