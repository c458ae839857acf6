// Package gatehouse holds what the binary embeds from the repository root.
package gatehouse

import _ "embed"

// DefaultConfig is config.yaml, the embedded default configuration.
//
//go:embed config.yaml
var DefaultConfig []byte

// The first-party plugins, built from the Rust sources beside them by
// `make plugins-embed`; `make test` rebuilds them and fails on any
// difference, so what is embedded is what the sources say.
var (
	//go:embed plugins/signin-default/signin-default.wasm
	signinDefault []byte
	//go:embed plugins/directory-static/directory-static.wasm
	directoryStatic []byte
	//go:embed plugins/notify-default/notify-default.wasm
	notifyDefault []byte
)

// Plugins returns the first-party plugins the binary carries, by plugin
// name. A file of the same name in plugins.dir overrides one.
func Plugins() map[string][]byte {
	return map[string][]byte{
		"signin-default":   signinDefault,
		"directory-static": directoryStatic,
		"notify-default":   notifyDefault,
	}
}
