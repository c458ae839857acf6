package gatehouse

import "github.com/gatehouse-auth/gatehouse/sdk/go/hook"

// The hook input and result types are package hook's, which the host
// uses too; these names keep the SDK's.
type (
	Profile           = hook.Profile
	SignInInput       = hook.SignInInput
	SignInResult      = hook.SignInResult
	AuthHandlerInput  = hook.AuthHandlerInput
	AuthHandlerResult = hook.AuthHandlerResult
	ResolveUserInput  = hook.ResolveUserInput
	ResolveUserResult = hook.ResolveUserResult
	User              = hook.User
	Client            = hook.Client
	NotifyInput       = hook.NotifyInput
	NotifyResult      = hook.NotifyResult
	Delivery          = hook.Delivery
	TokenClaimsInput  = hook.TokenClaimsInput
	TokenClaimsResult = hook.TokenClaimsResult
	Timestamp         = hook.Timestamp
)
