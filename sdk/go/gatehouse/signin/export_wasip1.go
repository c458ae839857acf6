//go:build wasip1

package signin

import "github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse"

//go:wasmexport gh_sign_in
func export(ptr, size uint32) uint64 { return gatehouse.Serve(Hook, ptr, size) }
