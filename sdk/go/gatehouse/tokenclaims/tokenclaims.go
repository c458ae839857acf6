// Package tokenclaims adds the gh_token_claims export to a plugin module: the hook
// token_claims (extra claims before a token is signed).
// Register the handler from init(), as a reactor module never runs main():
//
//	func init() { tokenclaims.Handle(handler) }
//
//	func handler(ctx context.Context, in tokenclaims.Input, cfg json.RawMessage) (tokenclaims.Result, error)
package tokenclaims

import "github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse"

// Hook is the hook this package exports.
const Hook = gatehouse.HookTokenClaims

// Input is the input of token_claims.
type Input = gatehouse.TokenClaimsInput

// Result is the result of token_claims.
type Result = gatehouse.TokenClaimsResult

// Func is a token_claims handler; cfg is the plugin's config block, sent with
// every call (decode it with gatehouse.DecodeConfig).
type Func = gatehouse.Func[Input, Result]

// Handle registers f as the plugin's token_claims handler.
func Handle(f Func) { gatehouse.HandleFunc(Hook, f) }
