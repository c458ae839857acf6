//go:build wasip1

package tokenclaims

import "github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse"

//go:wasmexport gh_token_claims
func export(ptr, size uint32) uint64 { return gatehouse.Serve(Hook, ptr, size) }
