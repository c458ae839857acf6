module github.com/gatehouse-auth/gatehouse/sdk/go

// go:wasmexport, which every hook export uses, arrived in Go 1.24.
go 1.24
