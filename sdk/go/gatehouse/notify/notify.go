// Package notify adds the gh_notify export to a plugin module: the hook
// notify (deliveries for an event such as a CIBA request).
// Register the handler from init(), as a reactor module never runs main():
//
//	func init() { notify.Handle(handler) }
//
//	func handler(ctx context.Context, in notify.Input, cfg json.RawMessage) (notify.Result, error)
package notify

import "github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse"

// Hook is the hook this package exports.
const Hook = gatehouse.HookNotify

// Input is the input of notify.
type Input = gatehouse.NotifyInput

// Result is the result of notify.
type Result = gatehouse.NotifyResult

// Func is a notify handler; cfg is the plugin's config block, sent with
// every call (decode it with gatehouse.DecodeConfig).
type Func = gatehouse.Func[Input, Result]

// Handle registers f as the plugin's notify handler.
func Handle(f Func) { gatehouse.HandleFunc(Hook, f) }
