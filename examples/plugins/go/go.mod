module github.com/gatehouse-auth/gatehouse/examples/plugins/go

go 1.24

require github.com/gatehouse-auth/gatehouse/sdk/go v0.0.0

// Outside this repository, drop the replace and require a released version.
replace github.com/gatehouse-auth/gatehouse/sdk/go => ../../../sdk/go
