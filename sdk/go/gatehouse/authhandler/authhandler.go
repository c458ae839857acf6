// Package authhandler adds the gh_auth_handler export to a plugin module: the hook
// auth_handler (shape the profile before sign-in).
// Register the handler from init(), as a reactor module never runs main():
//
//	func init() { authhandler.Handle(handler) }
//
//	func handler(ctx context.Context, in authhandler.Input, cfg json.RawMessage) (authhandler.Result, error)
package authhandler

import "github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse"

// Hook is the hook this package exports.
const Hook = gatehouse.HookAuthHandler

// Input is the input of auth_handler.
type Input = gatehouse.AuthHandlerInput

// Result is the result of auth_handler.
type Result = gatehouse.AuthHandlerResult

// Func is a auth_handler handler; cfg is the plugin's config block, sent with
// every call (decode it with gatehouse.DecodeConfig).
type Func = gatehouse.Func[Input, Result]

// Handle registers f as the plugin's auth_handler handler.
func Handle(f Func) { gatehouse.HandleFunc(Hook, f) }
