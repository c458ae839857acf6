// Package resolveuser adds the gh_resolve_user export to a plugin module: the hook
// resolve_user (login_hint / id_token_hint to a user).
// Register the handler from init(), as a reactor module never runs main():
//
//	func init() { resolveuser.Handle(handler) }
//
//	func handler(ctx context.Context, in resolveuser.Input, cfg json.RawMessage) (resolveuser.Result, error)
package resolveuser

import "github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse"

// Hook is the hook this package exports.
const Hook = gatehouse.HookResolveUser

// Input is the input of resolve_user.
type Input = gatehouse.ResolveUserInput

// Result is the result of resolve_user.
type Result = gatehouse.ResolveUserResult

// Func is a resolve_user handler; cfg is the plugin's config block, sent with
// every call (decode it with gatehouse.DecodeConfig).
type Func = gatehouse.Func[Input, Result]

// Handle registers f as the plugin's resolve_user handler.
func Handle(f Func) { gatehouse.HandleFunc(Hook, f) }
