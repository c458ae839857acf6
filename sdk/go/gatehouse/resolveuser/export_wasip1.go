//go:build wasip1

package resolveuser

import "github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse"

//go:wasmexport gh_resolve_user
func export(ptr, size uint32) uint64 { return gatehouse.Serve(Hook, ptr, size) }
