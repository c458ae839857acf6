//go:build wasip1

package authhandler

import "github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse"

//go:wasmexport gh_auth_handler
func export(ptr, size uint32) uint64 { return gatehouse.Serve(Hook, ptr, size) }
